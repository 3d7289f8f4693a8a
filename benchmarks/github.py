"""The few GitHub API calls the non-gaama peers need, made by the harness with urllib.

curl and aria2c cannot handle GitHub's download flow on their own: the API answers a 302 to
a signed storage URL that refuses ``Authorization``, and curl keeps the header across ports
of one host. So the harness resolves each asset's storage URL itself (``Accept:
application/octet-stream``, redirect not followed), which is what a script wrapping those
tools does too; its time is added to theirs, except for aria2c's many small files, whose
URLs are given for free (timed apart and reported, see ``clients.download_aria2c_many``).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

# Resolve many assets with as many parallel requests as aria2c -j16 downloads with.
RESOLVE_THREADS = 16


@dataclass(frozen=True)
class Resolved:
    """One asset's name, size and signed storage URL."""

    name: str
    size: int
    url: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Api:
    """Authenticated JSON calls to one repository on the local server (over HTTPS trusting
    ``ca_file`` when given)."""

    def __init__(self, api_url: str, token: str, repo: str, ca_file: str = "") -> None:
        self.base = f"{api_url}/repos/{repo}"
        self.token = token
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._opener = urllib.request.build_opener(
            _NoRedirect, urllib.request.HTTPSHandler(context=self._context)
        )

    def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None, accept: str = ""
    ) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        request.add_header("Accept", accept or "application/vnd.github+json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        return request

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; the decoded JSON answer (``None`` for 204)."""
        request = self._request(method, self.base + path, body)
        with urllib.request.urlopen(request, timeout=60, context=self._context) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def release(self, tag: str) -> dict[str, Any]:
        """The published release ``tag``, assets inline."""
        result: dict[str, Any] = self.call("GET", f"/releases/tags/{tag}")
        return result

    def storage_url(self, asset_api_url: str) -> str:
        """The signed storage URL the API redirects an asset download to."""
        request = self._request("GET", asset_api_url, accept="application/octet-stream")
        try:
            with self._opener.open(request, timeout=60) as response:
                raise RuntimeError(f"expected a 302, got {response.status}")
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                raise
            return str(exc.headers["Location"])

    def resolve(self, tag: str) -> list[Resolved]:
        """Every asset of release ``tag`` with its signed storage URL."""
        assets = self.release(tag)["assets"]
        with ThreadPoolExecutor(RESOLVE_THREADS) as pool:
            urls = list(pool.map(lambda a: self.storage_url(a["url"]), assets))
        return [Resolved(a["name"], a["size"], u) for a, u in zip(assets, urls, strict=True)]

    def create_draft(self, tag: str) -> dict[str, Any]:
        """A fresh draft release, as gaama_async's publish starts with."""
        result: dict[str, Any] = self.call("POST", "/releases", {"tag_name": tag, "draft": True})
        return result

    def delete_release(self, release_id: int) -> None:
        """Delete a release and its assets (frees the server's disk between upload runs)."""
        self.call("DELETE", f"/releases/{release_id}")

    def delete_by_tag(self, tag: str) -> None:
        """Delete the published release ``tag`` if there is one."""
        try:
            self.delete_release(self.release(tag)["id"])
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
