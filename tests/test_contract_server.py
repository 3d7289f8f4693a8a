"""Contract: the local server answers recorded github.com exchanges with the same shapes.

Each releases/assets exchange recorded by octokit/fixtures (2022) is replayed against the
local server after putting it into the equivalent state. We compare statuses, JSON key sets
and JSON types recursively, and the headers that matter to a client. Keys GitHub added after
2022 (and that the spec documents) are allowed as extras; they are listed below.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio

# A copy of the recordings lives with the tests (fixtures/github-recorded/README.md).
FIXTURES = Path(__file__).parent / "fixtures" / "github-recorded"
SCENARIOS = ("release-assets", "release-assets-conflict")
TOKEN = "0000000000000000000000000000000000000001"

# Keys the spec documents as added after the 2022 recordings.
LATER_KEYS = {
    "release": {"immutable", "updated_at"},  # spec 3: both added 2025
    "asset": {"digest"},  # spec 4: shipped 2025-06-03
    "user": {"user_view_type"},  # spec 3.2: 2025+
    "error": {"status"},  # spec 2.1: 2024 onward
}


def _kind(value: dict[str, Any]) -> str:
    if "assets_url" in value:
        return "release"
    if "browser_download_url" in value:
        return "asset"
    if "login" in value:
        return "user"
    return "error" if "message" in value else "other"


def assert_same_shape(recorded: Any, ours: Any, where: str = "$") -> None:
    """Same JSON types recursively; same keys, give or take the documented later additions."""
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        extra = set(ours) - set(recorded) - LATER_KEYS.get(_kind(recorded), set())
        assert not extra, f"{where}: keys GitHub did not send: {sorted(extra)}"
        missing = set(recorded) - set(ours)
        assert not missing, f"{where}: missing keys {sorted(missing)}"
        for key, value in recorded.items():
            assert_same_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(ours, list) and len(ours) == len(recorded), where
        for index, (left, right) in enumerate(zip(recorded, ours, strict=True)):
            assert_same_shape(left, right, f"{where}[{index}]")
    else:
        assert type(ours) is type(recorded), f"{where}: {ours!r} vs recorded {recorded!r}"


def _exchanges(scenario: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        (FIXTURES / f"{scenario}.normalized.json").read_text("utf-8")
    )
    # Only the releases/assets exchanges; repository setup is not part of the contract.
    return [e for e in data if "/releases" in e["path"]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ReleaseServer]:
    # One repository per recorded scenario, made on first use.
    config = ServerConfig(root=tmp_path, tokens={TOKEN: "octokit-fixture-user-a"}, auto_create=True)
    async with ReleaseServer(config) as running:
        yield running


class Replayer:
    """Sets up a scenario's state and replays its exchanges, mapping recorded ids to ours."""

    def __init__(self, server: ReleaseServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.ids: dict[str, int] = {}

    async def setup(self, scenario: str) -> None:
        repo = f"{self.server.api_url}/repos/octokit-fixture-org/{scenario}"
        body = {
            "tag_name": "v1.0.0",
            "name": "Version 1.0.0",
            "body": "Initial release",
            "target_commitish": "0000000000000000000000000000000000000001",
        }
        async with self.session.post(f"{repo}/releases", json=body) as response:
            release = await response.json()
        self.ids["release"] = release["id"]
        self.upload_url = release["upload_url"].split("{")[0]

    async def seed_conflicting_asset(self) -> None:
        """The conflict scenario's asset, added after its first exchange (as recorded)."""
        async with self.session.post(
            self.upload_url,
            params={"name": "test-upload.txt", "label": "test"},
            data=b"Hello, world!\n",
            headers={"Content-Type": "text/plain"},
        ) as response:
            assert response.status == 201
            self.ids["asset"] = (await response.json())["id"]

    def url(self, exchange: dict[str, Any]) -> str:
        path: str = exchange["path"]
        if "asset" in self.ids:
            path = path.replace("/releases/assets/1000", f"/releases/assets/{self.ids['asset']}")
        path = path.replace("/releases/1000", f"/releases/{self.ids['release']}")
        host = "uploads" if "uploads." in exchange["scope"] else "api"
        base = self.server.uploads_url if host == "uploads" else self.server.api_url
        return base + path

    async def replay(self, exchange: dict[str, Any]) -> None:
        headers = {"Accept": exchange["reqheaders"]["accept"], "User-Agent": "contract"}
        if "content-type" in exchange["reqheaders"]:
            headers["Content-Type"] = exchange["reqheaders"]["content-type"]
        body = exchange["body"]
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
        async with self.session.request(
            exchange["method"].upper(), self.url(exchange), data=data or None, headers=headers
        ) as response:
            raw = await response.read()
            where = f"{exchange['method']} {exchange['path']}"
            assert response.status == exchange["status"], f"{where}: {raw[:300]!r}"
            self.check_headers(exchange["headers"], response.headers, where)
            if exchange["response"] != "":
                ours = json.loads(raw)
                assert_same_shape(exchange["response"], ours)
                if response.status == 201 and "id" in ours:
                    self.ids["asset"] = ours["id"]
            else:
                assert raw == b""

    @staticmethod
    def check_headers(recorded: dict[str, Any], ours: Any, where: str) -> None:
        if "content-type" in recorded:
            assert ours.get("Content-Type") == recorded["content-type"], where
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                     "x-ratelimit-used", "x-ratelimit-resource", "location", "etag",
                     "last-modified", "x-github-request-id", "x-github-media-type"):  # fmt: skip
            assert (name in ours) == (name in recorded), f"{where}: header {name}"
        if "cache-control" in recorded:
            assert ours.get("Cache-Control") == recorded["cache-control"], where
        assert "WWW-Authenticate" not in ours


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_recorded_scenario(server: ReleaseServer, scenario: str) -> None:
    headers = {"Authorization": f"token {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        replayer = Replayer(server, session)
        await replayer.setup(scenario)
        exchanges = _exchanges(scenario)
        assert exchanges
        for index, exchange in enumerate(exchanges):
            if scenario == "release-assets-conflict" and index == 1:
                await replayer.seed_conflicting_asset()
            await replayer.replay(exchange)


async def test_validation_error_shape_matches_recorded_422(server: ReleaseServer) -> None:
    """errors.normalized.json records a labels 422; our release 422 must have its shape."""
    (recorded,) = json.loads((FIXTURES / "errors.normalized.json").read_text("utf-8"))
    headers = {"Authorization": f"token {TOKEN}", "User-Agent": "contract"}
    url = f"{server.api_url}/repos/octokit-fixture-org/errors/releases"
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(2):
            async with session.post(url, json={"tag_name": "v1"}) as response:
                status, ours, content_type = (
                    response.status,
                    await response.json(),
                    response.headers["Content-Type"],
                )
    assert status == recorded["status"] == 422
    assert content_type == recorded["headers"]["content-type"]
    assert_same_shape(recorded["response"], ours)
