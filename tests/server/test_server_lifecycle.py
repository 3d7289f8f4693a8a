"""Counters, persistence across restarts, the public surface and the ``serve`` CLI pieces."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

import gaama_async.server as server_package
from gaama_async.server import ReleaseServer, ServerConfig
from gaama_async.server.cli import add_serve_arguments, config_from_args, serve_until_stopped

pytestmark = pytest.mark.anyio


def test_all_is_sorted_and_complete() -> None:
    assert server_package.__all__ == sorted(server_package.__all__)
    for name in ("Counters", "Fault", "ReleaseServer", "ServerConfig"):
        assert name in server_package.__all__


async def test_counters(gh: Any) -> None:
    counters = gh.server.counters
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"12345")
    url = await gh.download_url(asset)
    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        await response.read()
    async with gh.session.get(f"{gh.repo_url}/releases/tags/nope") as response:
        assert response.status == 404
    assert counters.requests["api.create_release"] == 1
    assert counters.requests["upload"] == 1
    assert counters.requests["api.download_asset"] == 1
    assert counters.requests["storage"] == 1
    assert counters.statuses[201] == 2 and counters.statuses[404] == 1
    assert counters.bytes_received >= 5 and counters.bytes_sent >= 5
    assert counters.connections_open == 0 and counters.connections_peak >= 1
    assert counters.storage_requests_with_authorization == 0
    record = counters.log[-1]
    assert (record.route, record.method, record.status) == ("api.get_release_by_tag", "GET", 404)
    assert record.had_authorization and record.path.endswith("/releases/tags/nope")
    json.dumps(counters.snapshot())
    counters.reset()
    assert counters.snapshot()["requests"] == {} and counters.log == []


async def test_state_survives_restart(tmp_path: Path) -> None:
    config = ServerConfig(root=tmp_path, tokens={"t": "octocat"}, repos=("o/r",))
    headers = {"Authorization": "token t", "User-Agent": "t"}
    async with ReleaseServer(config) as first, aiohttp.ClientSession(headers=headers) as s:
        async with s.post(
            f"{first.api_url}/repos/o/r/releases", json={"tag_name": "v1"}
        ) as response:
            release = await response.json()
        async with s.post(
            release["upload_url"].split("{")[0] + "?name=a.bin",
            data=b"persisted",
            headers={"Content-Type": "application/octet-stream"},
        ) as response:
            asset = await response.json()
    async with ReleaseServer(config) as second, aiohttp.ClientSession(headers=headers) as s:
        async with s.get(f"{second.api_url}/repos/o/r/releases/tags/v1") as response:
            again = await response.json()
        assert again["id"] == release["id"]
        assert again["assets"][0]["id"] == asset["id"]
        async with s.get(
            f"{second.api_url}/repos/o/r/releases/assets/{asset['id']}",
            headers={"Accept": "application/octet-stream"},
        ) as response:
            assert await response.read() == b"persisted"
        async with s.post(
            f"{second.api_url}/repos/o/r/releases", json={"tag_name": "v2"}
        ) as response:
            assert (await response.json())["id"] > release["id"]


def test_cli_config(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    ns = parser.parse_args(
        [
            *("--root", str(tmp_path), "--port", "9000", "--token", "a", "--token", "b"),
            *("--private", "--url-ttl", "5", "--direct-downloads", "--rate-limit", "10"),
            *("--latency", "0.1", "--bandwidth", "1000", "--max-asset-size", "99"),
        ]
    )
    config = config_from_args(ns)
    # One port on 127.0.0.1-4 (the origins' own ports stay 0: "the API's")...
    assert (config.api_port, config.uploads_port, config.storage_port, config.web_port) == (
        9000,
        0,
        0,
        0,
    )
    # ...and four ports on any other host.
    other = config_from_args(
        parser.parse_args(["--root", "r", "--host", "0.0.0.0", "--port", "9000"])
    )
    assert (other.uploads_port, other.storage_port, other.web_port) == (9001, 9002, 9003)
    assert set(config.tokens) == {"a", "b"} and config.private and config.direct_downloads
    assert config.signed_url_ttl == 5 and config.rate_limit == 10 and config.bandwidth == 1000
    assert config.max_asset_size == 99 and config.latency == 0.1
    default = config_from_args(parser.parse_args(["--root", str(tmp_path)]))
    assert len(default.tokens) == 1 and default.api_port == 0


async def test_serve_until_stopped_prints_urls_and_token(tmp_path: Path) -> None:
    lines: list[str] = []
    config = ServerConfig(root=tmp_path, tokens={"secret-tok": "gaama"})
    with anyio.move_on_after(0.3):
        await serve_until_stopped(config, print_fn=lines.append)
    text = "\n".join(lines)
    assert "export GAAMA_API_URL=http://127.0.0.1:" in text
    assert "GITHUB_TOKEN=secret-tok" in text
