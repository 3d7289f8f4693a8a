"""`gaama serve --enterprise` driven by PyGithub, configured as for a GitHub Enterprise host.

PyGithub is synchronous and sends every request to its ``base_url`` host and port (it keeps
only the path of URLs the server hands out), so it works against the one-origin GHES layout
and not against the four-origin github.com layout.

PyGithub runs in a child process (this file, run as a script) while the server runs in the
test's event loop. Not a thread: importing PyGithub and its crypto stack would grow the
pytest process, and Linux carries a parent's peak RSS into its children, which would skew
``test_memory``'s measurement of child processes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

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


async def _run_pygithub(*args: str) -> Any:
    """Run this file as a script with ``args``; return the JSON it prints."""
    result = await anyio.run_process([sys.executable, __file__, *args], check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return json.loads(result.stdout)


def _pygithub(api_url: str) -> Any:
    import github

    # No client-side pacing or retries: the defaults (0.25 s per request, 1 s per write,
    # ten retries) would only slow the test down.
    return github.Github(
        base_url=api_url,
        auth=github.Auth.Token(TOKEN),
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )


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
    assert routes["upload"] >= 2 and routes["api.download_asset"] >= 1
    assert routes["storage"] == 0  # bytes came straight from the API, no redirect


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
    if mode == "round-trip":
        print(json.dumps(_release_round_trip(*rest)))
    else:
        print(json.dumps(_rate_limiting(*rest)))
