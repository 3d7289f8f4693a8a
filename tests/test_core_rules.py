"""The core's rules, each against the real local server: one retry layer that never nests,
one public type for faults that outlast it, a total rate-limit wait, honest manifests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import REPO, TOKEN, private_repository

from gaama_async import (
    DownloadError,
    GaAMA,
    Manifest,
    ManifestEntry,
    RateLimitError,
    RetryPolicy,
    TransferError,
)
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio
THREE_TRIES = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)


def _client(server: ReleaseServer, **options: object) -> GaAMA:
    settings: dict[str, object] = {"retry": THREE_TRIES, "write_interval": 0, **options}
    return GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, **settings)  # type: ignore[arg-type]


async def _publish_one(server: ReleaseServer, tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"w" * 5000)
    async with _client(server) as client:
        await client.publish("v1", [tmp_path / "model.bin"])


async def test_resolving_a_storage_url_inside_a_download_never_retries_on_its_own(
    server: ReleaseServer, tmp_path: Path
) -> None:
    """The old nesting: fetch_small retried resolve, which retried open: 3 x 3 requests."""
    await _publish_one(server, tmp_path)
    private_repository(server)
    server.counters.reset()
    server.faults.add(
        Fault("status", route="api.download_asset", asset=MANIFEST_NAME, times=None, status=502)
    )
    async with _client(server) as client:
        with pytest.raises(TransferError, match="3 tries"):
            await client.download("v1", tmp_path / "out")
    # The manifest's link was asked 3 times, not 3 x 3 (the file's link, resolved ahead
    # while the manifest is read, is asked once besides).
    assert server.counters.hits("status", MANIFEST_NAME) == 3


@pytest.mark.parametrize(
    ("route", "call"),
    [("api.get_release_by_tag", "download"), ("storage", "download"), ("upload", "publish")],
)
async def test_faults_outlasting_the_retries_surface_as_transfer_error(
    server: ReleaseServer, tmp_path: Path, route: str, call: str
) -> None:
    if call == "download":
        await _publish_one(server, tmp_path)
    server.faults.add(Fault("status", route=route, times=None, status=503))
    (tmp_path / "new.bin").write_bytes(b"n" * 100)
    async with _client(server) as client:
        with pytest.raises(TransferError) as caught:
            if call == "download":
                await client.download("v1", tmp_path / "out")
            else:
                await client.publish("v2", [tmp_path / "new.bin"])
    assert caught.value.__cause__ is not caught.value
    assert server.counters.faults_injected["status"] >= 3


async def test_max_rate_limit_wait_is_the_clients_total_not_per_request(
    server: ReleaseServer, tmp_path: Path
) -> None:
    """Three one-second limits on three different requests: 3 s > 2.5 s in total."""
    await _publish_one(server, tmp_path)
    for _ in range(3):
        server.faults.add(Fault("secondary_limit", route="api.*", retry_after=1.0))
    started = time.monotonic()
    async with _client(server, max_rate_limit_wait=2.5) as client:
        with pytest.raises(RateLimitError, match="max_rate_limit_wait"):
            await client.download("v1", tmp_path / "out")
    assert 2.0 <= time.monotonic() - started < 2.9
    assert server.counters.faults_injected["secondary_limit"] == 3


async def _republish_manifest(server: ReleaseServer, tmp_path: Path, manifest: bytes) -> None:
    """Replace the release's manifest with ``manifest`` (as a lying mirror might)."""
    async with _client(server) as client:
        release = await client.get_release("v1")
        old = release.asset(MANIFEST_NAME)
        assert old is not None
        await client._http.json("DELETE", old.url, what="deleting the manifest")
        path = tmp_path / MANIFEST_NAME
        path.write_bytes(manifest)
        client._http.trust(release.upload_base)
        await client._http.json(
            "POST",
            release.upload_base,
            what="planting a manifest",
            params={"name": MANIFEST_NAME},
            body=lambda: path.read_bytes(),
            headers={"Content-Type": "application/json"},
        )


async def test_a_manifest_listing_one_file_twice_is_refused(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_one(server, tmp_path)
    entry = ManifestEntry("model.bin", "model.bin", 5000, "0" * 64)
    twice = json.loads(Manifest((entry,)).to_bytes())
    twice["files"] *= 2
    await _republish_manifest(server, tmp_path, json.dumps(twice).encode())
    async with _client(server) as client:
        with pytest.raises(DownloadError, match="twice"):
            await client.download("v1", tmp_path / "out")
    assert not (tmp_path / "out" / "model.bin").exists()


async def test_manifest_and_github_digest_disagreeing_refuses_that_file(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_one(server, tmp_path)
    (tmp_path / "other.bin").write_bytes(b"o" * 10)
    async with _client(server) as client:
        await client.publish("v1", [tmp_path / "other.bin"])
    lying = Manifest((ManifestEntry("model.bin", "model.bin", 5000, "0" * 64),))
    await _republish_manifest(server, tmp_path, lying.to_bytes())
    async with _client(server) as client:
        with pytest.raises(DownloadError, match="disagree"):
            await client.download("v1", tmp_path / "out")
    assert not (tmp_path / "out" / "model.bin").exists()
    assert (tmp_path / "out" / "other.bin").read_bytes() == b"o" * 10
    assert server.counters.requests.get("storage", 0) >= 1


async def test_a_server_clock_an_hour_ahead_still_means_a_wait_of_seconds(
    server: ReleaseServer, tmp_path: Path
) -> None:
    """x-ratelimit-reset is on GitHub's clock: measured against ours it would be an hour."""
    await _publish_one(server, tmp_path)
    server.config.clock_offset = 3600.0
    fault = server.faults.add(
        Fault("primary_limit", route="api.get_release_by_tag", retry_after=1.0)
    )
    started = time.monotonic()
    async with _client(server, max_rate_limit_wait=30) as client:
        await client.download("v1", tmp_path / "out")
    assert fault.hits == 1
    assert time.monotonic() - started < 10
    assert (tmp_path / "out" / "model.bin").stat().st_size == 5000


async def test_an_html_page_instead_of_json_is_retried(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_one(server, tmp_path)
    server.counters.reset()
    fault = server.faults.add(Fault("html", route="api.get_release_by_tag"))
    async with _client(server) as client:
        await client.download("v1", tmp_path / "out")
    assert fault.hits == 1
    assert server.counters.requests["api.get_release_by_tag"] == 2
    assert (tmp_path / "out" / "model.bin").stat().st_size == 5000


async def test_a_renamed_repository_is_followed_with_the_token(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_one(server, tmp_path)
    server.rename_repo("acme", "models", "weights")
    server.counters.reset()
    async with _client(server) as client:
        await client.download("v1", tmp_path / "out")
        (tmp_path / "more.bin").write_bytes(b"m" * 10)
        await client.publish("v1", [tmp_path / "more.bin"])
    assert server.counters.statuses[301] >= 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "model.bin"
    ]
    async with GaAMA(repo="acme/weights", token=TOKEN, api_url=server.api_url) as renamed:
        names = {a.name for a in await renamed.list_assets("v1")}
    assert {"model.bin", "more.bin"} <= names
