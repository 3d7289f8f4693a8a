"""Renamed repositories: the redirects their old names get, and the paths they lead to.

GitHub keeps a renamed (or transferred) repository reachable under its old name: the API
answers ``301 Moved Permanently`` for GET and HEAD and ``307`` for other methods, with
``Location: {api}/repositories/{id}/...`` and a small JSON body, e.g. (observed 2016)::

    {"message": "Moved Permanently",
     "url": "https://api.github.com/repositories/29991068/issues",
     "documentation_url": "https://developer.github.com/v3/#http-redirects"}

So every ``/repos/{owner}/{repo}/...`` route must also answer under ``/repositories/{id}/...``.
The old names themselves are kept by ``renames``.
"""

from __future__ import annotations

import re

from aiohttp import web

from .service import HttpError, Services, request_origins

REPO_PATH = "/repos/{owner}/{repo}"
BY_ID_PATH = "/repositories/{repo_id:\\d+}"
# Guess: today's documentation_url for redirects; GitHub's docs moved since the 2016 body.
REDIRECT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api"
    "#follow-redirects"
)
_REPO_SEGMENT = re.compile(r"/repos/[^/]+/[^/]+")


def by_id_routes(routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """``routes`` plus a ``/repositories/{id}`` twin of each repository route lacking one."""
    taken = {(route.method, route.path) for route in routes}
    twins = []
    for route in routes:
        if not route.path.startswith(REPO_PATH):
            continue
        path = BY_ID_PATH + route.path[len(REPO_PATH) :]
        if (route.method, path) not in taken:
            taken.add((route.method, path))
            twins.append(web.RouteDef(route.method, path, route.handler, route.kwargs))
    return routes + twins


def redirect_status(method: str) -> int:
    """301 for reads, 307 for writes, so clients repeat the method and body (GitHub's rule)."""
    return 301 if method in ("GET", "HEAD") else 307


def moved_location(api: str, repo_id: int, raw_path: str, raw_query: str) -> str:
    """Where a request for a renamed repository's ``raw_path`` now lives."""
    found = _REPO_SEGMENT.search(raw_path)
    rest = raw_path[found.end() :] if found else ""
    query = f"?{raw_query}" if raw_query else ""
    return f"{api}/repositories/{repo_id}{rest}{query}"


def moved_error(request: web.Request, svc: Services, repo_id: int) -> HttpError:
    """GitHub's redirect of a request that names a repository by an old name."""
    url = request.rel_url
    location = moved_location(
        request_origins(request).api, repo_id, url.raw_path, url.raw_query_string
    )
    # Guess: no "status" field; the observed redirect bodies predate GitHub adding it.
    body = {"message": "Moved Permanently", "url": location, "documentation_url": REDIRECT_DOCS}
    return HttpError(redirect_status(request.method), body, headers={"Location": location})
