"""Answers that never came from GitHub: what a captive portal or a broken proxy sends.

The ``html`` fault answers ``200 OK`` with a small HTML page where the client expected JSON
or bytes: the classic hotel-Wi-Fi login page, or a corporate proxy's error page that reuses
200. A client that trusts the status code stores the page as the asset.
"""

from __future__ import annotations

from aiohttp import web

PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Network Login</title></head>"
    "<body><h1>Sign in to continue</h1>"
    "<p>You must log in to this network before you can access the Internet.</p>"
    "</body></html>\n"
)


def portal_page() -> web.Response:
    """The captive portal's page, as the proxy sends it (no GitHub or storage headers)."""
    return web.Response(
        status=200,
        body=PAGE.encode(),
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )
