"""PyGithub, a real GitHub client, driven through the release workflow on both layouts.

`gaama serve --enterprise` is configured as a GitHub Enterprise host (over HTTP and over
TLS); the default layout as github.com is: PyGithub insists that every URL it is handed is
on its ``base_url`` host or a sibling name (``uploads.X`` for ``api.X``), so the default
layout is reached by github.com-style names — ``api.gaama.test``, ``uploads.gaama.test``,
``objects.gaama.test``, ``gaama.test`` — which the child resolves to the server's four
loopback addresses as the hosts file a user would edit does (``GAAMA_TEST_HOSTS``).

PyGithub runs in a child process (this file, run as a script) while the server runs in the
test's event loop. Not a thread: importing PyGithub and its crypto stack would grow the
pytest process, and Linux carries a parent's peak RSS into its children, which would skew
``test_memory``'s measurement of child processes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from helpers import FAST_RETRY, REPO, TOKEN, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(find_spec("github") is None, reason="PyGithub is not installed"),
]


@pytest.fixture
async def enterprise(tmp_path: Path) -> AsyncIterator[ReleaseServer]:
    config = ServerConfig(
        root=tmp_path / "ghes", tokens={TOKEN: "octocat"}, enterprise=True, repos=(REPO,)
    )
    async with ReleaseServer(config) as running:
        yield running


async def _run_pygithub(*args: str, env: dict[str, str] | None = None) -> Any:
    """Run this file as a script with ``args``; return the JSON it prints."""
    full_env = {**os.environ, **(env or {})}
    result = await anyio.run_process([sys.executable, __file__, *args], check=False, env=full_env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return json.loads(result.stdout)


def _pygithub(api_url: str, **options: Any) -> Any:
    import github

    # No client-side pacing or retries: the defaults (0.25 s per request, 1 s per write,
    # ten retries) would only slow the test down.
    return github.Github(
        base_url=api_url,
        auth=github.Auth.Token(TOKEN),
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
        **options,
    )


def _listing(api_url: str) -> list[str]:
    """Three releases listed one per page: PyGithub follows each ``Link: rel="next"``."""
    gh = _pygithub(api_url, per_page=1)
    try:
        repo = gh.get_repo(REPO)
        for tag in ("v1", "v2", "v3"):
            repo.create_git_release(tag, tag, "")
        return [release.tag_name for release in repo.get_releases()]
    finally:
        gh.close()


def _use_hosts_file_stand_in() -> None:
    """Resolve ``GAAMA_TEST_HOSTS`` ("name=address,...") before the system resolver, as a
    hosts-file entry would; every other name resolves as usual."""
    entries = dict(item.split("=", 1) for item in os.environ["GAAMA_TEST_HOSTS"].split(","))
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return resolve(entries.get(name, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def _release_round_trip(api_url: str, source: str, target: str) -> dict[str, Any]:
    """Everything a PyGithub user does with releases; returns what the test checks."""
    import github

    gh = _pygithub(api_url)
    try:
        repo = gh.get_repo(REPO)
        created = repo.create_git_release("v1.0", "First model", "trained on Tuesday")
        uploaded = created.upload_asset(source, label="Model weights")
        by_tag = repo.get_release("v1.0")
        listed = list(by_tag.get_assets())
        listed[0].download_asset(target)
        seen = {
            "repo": (repo.full_name, repo.default_branch, repo.html_url),
            "upload_url": created.upload_url,
            "html_url": by_tag.html_url,
            "uploaded": (uploaded.name, uploaded.label, uploaded.size),
            "listed": [(a.name, a.label, a.browser_download_url) for a in listed],
            "release_id": (created.id, by_tag.id),
        }
        listed[0].delete_asset()
        seen["after_asset_delete"] = by_tag.get_assets().totalCount
        by_tag.delete_release()
        try:
            repo.get_release("v1.0")
        except github.UnknownObjectException:
            seen["release_gone"] = True
        return seen
    finally:
        gh.close()


async def test_pygithub_creates_uploads_lists_downloads_and_deletes(
    enterprise: ReleaseServer, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    digest = write_random(source, 300_000, seed=5)
    target = tmp_path / "downloaded.bin"
    api = enterprise.api_url
    host = api.removesuffix("/api/v3")

    seen = await _run_pygithub("round-trip", api, str(source), str(target))

    assert api.endswith("/api/v3")
    assert seen["repo"] == [REPO, "main", f"{host}/{REPO}"]
    release_id = seen["release_id"][0]
    assert seen["release_id"] == [release_id, release_id]
    assert seen["upload_url"] == (
        f"{host}/api/uploads/repos/{REPO}/releases/{release_id}/assets{{?name,label}}"
    )
    assert seen["html_url"] == f"{host}/{REPO}/releases/tag/v1.0"
    assert seen["uploaded"] == ["model.bin", "Model weights", 300_000]
    assert seen["listed"] == [
        ["model.bin", "Model weights", f"{host}/{REPO}/releases/download/v1.0/model.bin"]
    ]
    assert sha256_file(target) == digest
    assert seen["after_asset_delete"] == 0
    assert seen["release_gone"] is True
    statuses = enterprise.counters.statuses
    assert statuses[201] == 2 and statuses[204] == 2 and 302 not in statuses


async def test_pygithub_round_trips_on_the_github_com_layout_by_name(
    tmp_path: Path,
) -> None:
    config = ServerConfig(root=tmp_path / "gh", tokens={TOKEN: "octocat"}, repos=(REPO,))
    async with ReleaseServer(config) as server:
        port = urlsplit(server.api_url).port
        names = ["api.gaama.test", "uploads.gaama.test", "objects.gaama.test", "gaama.test"]
        urls = [server.api_url, server.uploads_url, server.storage_url, server.web_url]
        hosts = ",".join(f"{n}={urlsplit(u).hostname}" for n, u in zip(names, urls, strict=True))
        source, target = tmp_path / "model.bin", tmp_path / "downloaded.bin"
        digest = write_random(source, 300_000, seed=6)
        api = f"http://api.gaama.test:{port}"
        env = {"GAAMA_TEST_HOSTS": hosts}
        seen = await _run_pygithub("round-trip", api, str(source), str(target), env=env)
        listed = await _run_pygithub("listing", api, env=env)
        storage_hits = server.counters.requests["storage"]
    release_id = seen["release_id"][0]
    assert seen["upload_url"] == (
        f"http://uploads.gaama.test:{port}/repos/{REPO}/releases/{release_id}/assets{{?name,label}}"
    )
    web = f"http://gaama.test:{port}"
    assert seen["listed"][0][2] == f"{web}/{REPO}/releases/download/v1.0/model.bin"
    assert sha256_file(target) == digest and storage_hits == 1  # via objects.gaama.test
    assert seen["release_gone"] is True
    assert listed == ["v3", "v2", "v1"]


async def test_pygithub_verifies_the_local_ca_on_the_enterprise_layout(tmp_path: Path) -> None:
    config = ServerConfig(
        root=tmp_path / "ghes", tokens={TOKEN: "octocat"}, enterprise=True, repos=(REPO,)
    )
    config.tls = True
    async with ReleaseServer(config) as server:
        assert server.ca_file is not None and server.api_url.startswith("https://")
        source, target = tmp_path / "model.bin", tmp_path / "downloaded.bin"
        digest = write_random(source, 100_000, seed=7)
        env = {"REQUESTS_CA_BUNDLE": str(server.ca_file)}
        seen = await _run_pygithub("round-trip", server.api_url, str(source), str(target), env=env)
        listed = await _run_pygithub("listing", server.api_url, env=env)
    assert seen["upload_url"].startswith(server.uploads_url)
    assert sha256_file(target) == digest and listed == ["v3", "v2", "v1"]


async def test_our_client_round_trips_on_the_enterprise_layout(
    enterprise: ReleaseServer, tmp_path: Path
) -> None:
    source = tmp_path / "weights.bin"
    digest = write_random(source, 700_000, seed=6)
    (tmp_path / "empty.txt").write_bytes(b"")
    async with GaAMA(repo=REPO, token=TOKEN, api_url=enterprise.api_url, retry=FAST_RETRY) as gh:
        release = await gh.publish("v2", [source, tmp_path / "empty.txt"])
        paths = await gh.download("v2", tmp_path / "out")

    assert release.html_url.startswith(enterprise.web_url + "/acme/models/releases/tag/")
    assert {p.name for p in paths} == {"weights.bin", "empty.txt"}
    assert sha256_file(tmp_path / "out" / "weights.bin") == digest
    routes = enterprise.counters.requests
    # A public repository: the web host's link to storage, not the API's direct bytes
    # (tests/test_client_safety.py has those, for a private one).
    assert routes["upload"] >= 2 and routes["web.download"] >= 1
    assert routes.get("api.download_asset", 0) == 0


def _rate_limiting(api_url: str) -> tuple[int, int]:
    gh = _pygithub(api_url)
    try:
        gh.get_repo(REPO)
        rate: tuple[int, int] = gh.rate_limiting
        return rate
    finally:
        gh.close()


async def test_pygithub_sees_the_primary_limit_when_configured(tmp_path: Path) -> None:
    config = ServerConfig(
        root=tmp_path / "ghes",
        tokens={TOKEN: "octocat"},
        enterprise=True,
        rate_limits=True,
        repos=(REPO,),
    )
    async with ReleaseServer(config) as server:
        assert await _run_pygithub("rate", server.api_url) == [4999, 5000]


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if "GAAMA_TEST_HOSTS" in os.environ:
        _use_hosts_file_stand_in()
    if mode == "round-trip":
        print(json.dumps(_release_round_trip(*rest)))
    elif mode == "listing":
        print(json.dumps(_listing(*rest)))
    else:
        print(json.dumps(_rate_limiting(*rest)))
