"""Faults aimed at one asset, and the counters that say which asset a fault hit."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gaama_async.server import Fault
from gaama_async.server.faults import parse_fault

pytestmark = pytest.mark.anyio

MANIFEST = b'{"parts": []}'
MODEL = b"m" * 2000
OCTET = {"Accept": "application/octet-stream"}


@pytest.fixture
async def assets(gh: Any) -> dict[str, dict[str, Any]]:
    """A published release holding a manifest and a model, by name."""
    release = await gh.create_release("v1")
    manifest = await gh.upload(release, "gaama-manifest.json", MANIFEST)
    model = await gh.upload(release, "model.bin", MODEL)
    return {"gaama-manifest.json": manifest, "model.bin": model}


@pytest.fixture
async def plain() -> Any:
    async with aiohttp.ClientSession() as client:
        yield client


async def _fetch(url: str, plain: aiohttp.ClientSession) -> bytes | None:
    """The body, or None when the connection broke mid-body."""
    try:
        async with plain.get(url) as response:
            return await response.read()
    except aiohttp.ClientPayloadError:
        return None


async def test_storage_fault_skips_the_manifest_and_hits_the_asset(
    gh: Any, assets: Any, plain: aiohttp.ClientSession
) -> None:
    fault = gh.server.faults.add(Fault("cut", route="storage", asset="model.bin", after_bytes=10))
    manifest_url = await gh.download_url(assets["gaama-manifest.json"])
    model_url = await gh.download_url(assets["model.bin"])
    assert await _fetch(manifest_url, plain) == MANIFEST
    assert await _fetch(model_url, plain) is None
    assert await _fetch(model_url, plain) == MODEL  # times=1: spent
    counters = gh.server.counters
    assert counters.fault_hits == {("cut", "model.bin"): 1}
    assert counters.hits("cut", "model.bin") == 1 and fault.hits == 1
    assert counters.faults_injected["cut"] == 1


async def test_asset_patterns_are_globs(gh: Any, assets: Any, plain: aiohttp.ClientSession) -> None:
    gh.server.faults.add(Fault("status", route="storage", asset="*.json", status=503, times=None))
    async with plain.get(await gh.download_url(assets["model.bin"])) as response:
        assert response.status == 200
    async with plain.get(await gh.download_url(assets["gaama-manifest.json"])) as response:
        assert response.status == 503
    assert gh.server.counters.fault_hits == {("status", "gaama-manifest.json"): 1}


async def test_api_asset_routes_are_about_the_asset_in_the_path(gh: Any, assets: Any) -> None:
    manifest, model = assets["gaama-manifest.json"], assets["model.bin"]
    faults = gh.server.faults
    for route in ("api.get_asset", "api.download_asset", "api.update_asset", "api.delete_asset"):
        faults.add(Fault("status", route=route, asset="model.bin", status=500, times=None))
    requests = [
        ("GET", {}, None),
        ("GET", OCTET, None),
        ("PATCH", {}, {"label": "x"}),
        ("DELETE", {}, None),
    ]
    for method, headers, body in requests:
        for asset, expected in ((manifest, (200, 204, 302)), (model, (500,))):
            async with gh.session.request(
                method, asset["url"], headers=headers, json=body, allow_redirects=False
            ) as response:
                assert response.status in expected, (method, asset["name"])
    hits = {("status", "model.bin"): 4}
    assert gh.server.counters.fault_hits == hits


async def test_upload_is_about_the_name_it_will_be_stored_under(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    gh.server.faults.add(Fault("status", route="upload", asset="model.bin", status=502))
    await gh.upload(release, "gaama-manifest.json", MANIFEST)
    await gh.upload(release, "model bin", MODEL, expect=502)  # GitHub stores it as model.bin
    assert gh.server.counters.fault_hits == {("status", "model.bin"): 1}


async def test_web_download_is_about_the_named_asset(
    gh: Any, assets: Any, plain: aiohttp.ClientSession
) -> None:
    gh.server.faults.add(Fault("status", route="web.download", asset="model.bin", status=503))
    async with plain.get(assets["gaama-manifest.json"]["browser_download_url"]) as response:
        assert await response.read() == MANIFEST
    async with plain.get(assets["model.bin"]["browser_download_url"]) as response:
        assert response.status == 503
    assert gh.server.counters.fault_hits == {("status", "model.bin"): 1}


async def test_a_scoped_fault_never_hits_requests_about_no_asset(gh: Any, assets: Any) -> None:
    fault = gh.server.faults.add(Fault("status", asset="*", times=None))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert response.status == 200
    assert fault.hits == 0 and not gh.server.counters.fault_hits


async def test_unscoped_faults_count_under_the_asset_they_hit_or_none(gh: Any) -> None:
    gh.server.faults.add(Fault("status", route="api.list_releases", status=500))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 500
    counters = gh.server.counters
    assert counters.fault_hits == {("status", None): 1}
    assert counters.snapshot()["fault_hits"] == {"status:": 1}


def test_parse_fault_reads_the_asset_pattern() -> None:
    fault = parse_fault("cut@storage,asset=model-*.bin,after_bytes=64")
    assert (fault.action, fault.route, fault.asset, fault.after_bytes) == (
        "cut",
        "storage",
        "model-*.bin",
        64,
    )
    assert parse_fault("cut,asset=none").asset == "none"  # a name, not "no value"
    assert parse_fault("cut").asset is None
