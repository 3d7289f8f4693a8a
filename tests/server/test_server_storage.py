"""Storage origin (signed URLs, ranges, auth refusal) and web origin (browser downloads)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import anyio
import pytest

pytestmark = pytest.mark.anyio

PAYLOAD = bytes(range(256)) * 40  # 10 KiB


@pytest.fixture
async def signed(gh: Any) -> tuple[dict[str, Any], str]:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "model.wasm", PAYLOAD, content_type="application/wasm")
    return asset, await gh.download_url(asset)


@pytest.fixture
async def plain() -> Any:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_storage_headers(signed: Any, plain: aiohttp.ClientSession) -> None:
    _, url = signed
    async with plain.get(url) as response:
        assert response.status == 200
        assert await response.read() == PAYLOAD
        headers = response.headers
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == "attachment; filename=model.wasm"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Length"] == str(len(PAYLOAD))
    assert headers["ETag"].startswith('"0x8D') and "Last-Modified" in headers
    assert not [h for h in headers if h.lower().startswith("x-ratelimit")]


async def test_storage_etag_is_stable_across_signed_urls(gh: Any, signed: Any) -> None:
    asset, url = signed
    second = await gh.download_url(asset)
    async with aiohttp.ClientSession() as plain:
        async with plain.head(url) as first_response:
            first_etag = first_response.headers["ETag"]
        async with plain.head(second) as second_response:
            assert second_response.headers["ETag"] == first_etag


async def test_ranges(signed: Any, plain: aiohttp.ClientSession) -> None:
    _, url = signed
    size = len(PAYLOAD)
    cases = {
        "bytes=10-19": (206, PAYLOAD[10:20], f"bytes 10-19/{size}"),
        "bytes=10000-": (206, PAYLOAD[10000:], f"bytes 10000-{size - 1}/{size}"),
        "bytes=-5": (206, PAYLOAD[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
        f"bytes=0-{size + 50}": (206, PAYLOAD, f"bytes 0-{size - 1}/{size}"),
    }
    for header, (status, body, content_range) in cases.items():
        async with plain.get(url, headers={"Range": header}) as response:
            assert response.status == status, header
            assert await response.read() == body
            assert response.headers["Content-Range"] == content_range
    async with plain.get(url, headers={"Range": f"bytes={size}-"}) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{size}"


async def test_if_range(signed: Any, plain: aiohttp.ClientSession) -> None:
    _, url = signed
    async with plain.head(url) as response:
        etag = response.headers["ETag"]
    async with plain.get(url, headers={"Range": "bytes=0-0", "If-Range": etag}) as response:
        assert response.status == 206 and await response.read() == PAYLOAD[:1]
    async with plain.get(url, headers={"Range": "bytes=0-0", "If-Range": '"other"'}) as response:
        assert response.status == 200 and await response.read() == PAYLOAD


async def test_storage_rejects_authorization(gh: Any, signed: Any) -> None:
    _, url = signed
    async with gh.session.get(url) as response:
        assert response.status == 400
        text = await response.text()
    assert "<Code>InvalidArgument</Code>" in text and "Only one auth mechanism" in text
    assert gh.server.counters.storage_requests_with_authorization == 1


async def test_tampered_signature_is_403(signed: Any, plain: aiohttp.ClientSession) -> None:
    _, url = signed
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["se"] = str(float(query["se"]) + 1000)
    forged = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    async with plain.get(forged) as response:
        assert response.status == 403
        assert "AuthenticationFailed" in await response.text()


async def test_signed_url_expires(gh: Any, plain: aiohttp.ClientSession) -> None:
    gh.server.config.signed_url_ttl = 0.2
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"abc")
    url = await gh.download_url(asset)
    async with plain.get(url) as response:
        assert response.status == 200
    await anyio.sleep(0.3)
    async with plain.get(url) as response:
        assert response.status == 403
        assert "Signature not valid" in await response.text()


async def test_bandwidth_cap_paces_the_body(gh: Any, plain: aiohttp.ClientSession) -> None:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"z" * 100_000)
    url = await gh.download_url(asset)
    gh.server.config.bandwidth = 400_000.0
    started = time.monotonic()
    async with plain.get(url) as response:
        assert len(await response.read()) == 100_000
    assert time.monotonic() - started >= 0.2


async def test_latency_is_added(gh: Any) -> None:
    gh.server.config.latency = 0.15
    started = time.monotonic()
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.15


async def test_large_sparse_asset_ranges_past_2_gib(
    gh: Any, tmp_path: Path, plain: aiohttp.ClientSession
) -> None:
    size = 2**31 + 4096
    source = tmp_path / "huge.bin"
    with source.open("wb") as out:
        out.truncate(size)
        out.seek(size - 4)
        out.write(b"TAIL")
    release = await gh.create_release("v1")
    asset_id = gh.server.seed_asset("octo", "models", release["id"], "huge.bin", source)
    async with gh.session.get(f"{gh.repo_url}/releases/assets/{asset_id}") as response:
        asset = await response.json()
    assert asset["size"] == size and asset["digest"] is None and asset["label"] is None
    url = await gh.download_url(asset)
    async with plain.head(url) as response:
        assert response.headers["Content-Length"] == str(size)
    async with plain.get(url, headers={"Range": f"bytes={2**31 - 2}-"}) as response:
        assert response.status == 206
        body = await response.read()
    assert len(body) == 4096 + 2 and body.endswith(b"TAIL")
    assert hashlib.sha256(body).hexdigest()


async def test_browser_download_url_public_and_private(
    gh: Any, make_server: Any, make_gh: Any, plain: aiohttp.ClientSession
) -> None:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"web bytes")
    async with plain.get(asset["browser_download_url"], allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith(gh.server.storage_url)
    async with plain.get(asset["browser_download_url"]) as response:
        assert await response.read() == b"web bytes"
    draft = await gh.create_release("v2", draft=True)
    hidden = await gh.upload(draft, "d.bin", b"d")
    async with plain.get(hidden["browser_download_url"]) as response:
        assert response.status == 404
    await gh.server.stop()
    private = make_gh(await make_server(private=True))
    async with private.session.get(
        asset["url"].replace(gh.server.api_url, private.server.api_url)
    ) as response:
        assert response.status == 200  # same root: the state survived the restart
    async with private.session.get(
        asset["browser_download_url"].replace(gh.server.web_url, private.server.web_url)
    ) as response:
        assert response.status == 404
    url = await private.download_url(
        {"url": asset["url"].replace(gh.server.api_url, private.server.api_url)}
    )
    async with plain.get(url) as response:
        assert await response.read() == b"web bytes"
