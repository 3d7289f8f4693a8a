"""The fault kinds real storage shows, each observed as a client sees it on the wire."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from rawhttp import raw_get

from gaama_async.server import Fault

pytestmark = pytest.mark.anyio

PAYLOAD = bytes(range(256)) * 64  # 16 KiB
NAME = "model.bin"
OCTET = {"Accept": "application/octet-stream"}

# Where the bytes come from: a signed storage URL (github.com) or the API itself (GHES).
Source = tuple[str, str, dict[str, str]]  # route, URL, headers a client sends there


@pytest.fixture
async def plain() -> Any:
    async with aiohttp.ClientSession() as client:
        yield client


async def _asset(gh: Any) -> dict[str, Any]:
    release = await gh.create_release("v1")
    uploaded: dict[str, Any] = await gh.upload(release, NAME, PAYLOAD)
    return uploaded


@pytest.fixture(params=["storage", "direct"])
async def source(request: Any, make_server: Any, make_gh: Any) -> tuple[Any, Source]:
    """The server and where a client fetches ``model.bin`` from, for both download kinds."""
    if request.param == "storage":
        gh = make_gh(await make_server())
        url = await gh.download_url(await _asset(gh))
        return gh, ("storage", url, {})
    gh = make_gh(await make_server(direct_downloads=True))
    asset = await _asset(gh)
    headers = {**OCTET, "Authorization": gh.session.headers["Authorization"]}
    return gh, ("api.download_asset", asset["url"], headers)


@pytest.fixture
async def stored(gh: Any) -> tuple[Any, str]:
    """The server and a signed storage URL of ``model.bin``."""
    return gh, await gh.download_url(await _asset(gh))


async def test_reset_sends_an_rst_after_the_bytes(source: tuple[Any, Source]) -> None:
    gh, (route, url, headers) = source
    gh.server.faults.add(Fault("reset", route=route, asset=NAME, after_bytes=1000))
    answer = await raw_get(url, headers)
    assert answer.status == 200
    assert answer.headers["Content-Length"] == str(len(PAYLOAD))
    assert answer.body == PAYLOAD[:1000]
    assert isinstance(answer.error, ConnectionResetError)
    assert gh.server.counters.hits("reset", NAME) == 1


async def test_short_closes_cleanly_before_content_length(source: tuple[Any, Source]) -> None:
    gh, (route, url, headers) = source
    gh.server.faults.add(Fault("short", route=route, asset=NAME, after_bytes=1000))
    answer = await raw_get(url, headers)
    assert answer.headers["Content-Length"] == str(len(PAYLOAD))
    assert answer.body == PAYLOAD[:1000]
    assert answer.error is None  # a FIN, not a reset
    assert gh.server.counters.hits("short", NAME) == 1


async def test_a_cut_before_the_first_byte_still_sends_the_headers(
    source: tuple[Any, Source],
) -> None:
    gh, (route, url, headers) = source
    gh.server.faults.add(Fault("short", route=route, asset=NAME, after_bytes=0))
    answer = await raw_get(url, headers)
    assert answer.status == 200 and answer.body == b""
    assert gh.server.counters.hits("short", NAME) == 1


async def test_ignore_range_answers_200_with_everything(
    source: tuple[Any, Source], plain: aiohttp.ClientSession
) -> None:
    gh, (route, url, headers) = source
    gh.server.faults.add(Fault("ignore_range", route=route, asset=NAME))
    ranged = {**headers, "Range": "bytes=100-199"}
    async with plain.get(url, headers=ranged) as response:
        assert response.status == 200 and "Content-Range" not in response.headers
        assert await response.read() == PAYLOAD
    async with plain.get(url, headers=ranged) as response:  # spent: ranges work again
        assert response.status == 206 and await response.read() == PAYLOAD[100:200]
    assert gh.server.counters.hits("ignore_range", NAME) == 1


async def test_change_gives_a_new_etag_and_ignores_the_old_if_range(
    source: tuple[Any, Source], plain: aiohttp.ClientSession
) -> None:
    gh, (route, url, headers) = source
    async with plain.head(url, headers=headers) as response:
        old = response.headers["ETag"]
    gh.server.faults.add(Fault("change", route=route, asset=NAME))
    resume = {**headers, "Range": "bytes=100-", "If-Range": old}
    async with plain.get(url, headers=resume) as response:
        assert response.status == 200  # the blob changed: the whole body
        new = response.headers["ETag"]
        assert await response.read() == PAYLOAD  # same bytes: the digest stays true
    assert new != old and new.startswith('"0x8D')
    async with plain.get(url, headers=resume) as response:  # still changed after the hit
        assert response.status == 200 and response.headers["ETag"] == new
    async with plain.get(url, headers={**resume, "If-Range": new}) as response:
        assert response.status == 206 and await response.read() == PAYLOAD[100:]
    assert gh.server.counters.hits("change", NAME) == 1


async def test_missing_is_blob_not_found(
    stored: tuple[Any, str], plain: aiohttp.ClientSession
) -> None:
    gh, url = stored
    gh.server.faults.add(Fault("missing", route="storage", asset=NAME))
    async with plain.get(url) as response:
        assert response.status == 404
        assert response.headers["Content-Type"].startswith("application/xml")
        assert "<Code>BlobNotFound</Code>" in await response.text()
        assert response.headers["x-ms-error-code"] == "BlobNotFound"
    async with plain.get(url) as response:
        assert await response.read() == PAYLOAD
    assert gh.server.counters.hits("missing", NAME) == 1


async def test_redirect_hops_to_a_second_signed_url(
    stored: tuple[Any, str], plain: aiohttp.ClientSession
) -> None:
    gh, url = stored
    gh.server.faults.add(Fault("redirect", route="storage", asset=NAME))
    async with plain.get(url, allow_redirects=False) as response:
        assert response.status == 302
        hop = response.headers["Location"]
    assert hop.startswith(gh.server.storage_url + "/") and hop.split("?")[0] != url.split("?")[0]
    async with plain.get(hop, headers={"Authorization": "Bearer x"}) as response:
        assert response.status == 400  # it is storage: a token is refused there too
    async with plain.get(hop.replace("sig=", "sig=0")) as response:
        assert response.status == 403  # and signed
    gh.server.faults.add(Fault("redirect", route="storage", asset=NAME))
    async with plain.get(url) as response:
        assert response.status == 200 and await response.read() == PAYLOAD
        assert [r.status for r in response.history] == [302]
    assert gh.server.counters.hits("redirect", NAME) == 2


async def test_redirect_forever_is_a_loop(
    stored: tuple[Any, str], plain: aiohttp.ClientSession
) -> None:
    gh, url = stored
    gh.server.faults.add(Fault("redirect", route="storage", times=None))
    with pytest.raises(aiohttp.TooManyRedirects):
        async with plain.get(url, max_redirects=3):
            pass
    assert gh.server.counters.hits("redirect", NAME) == 3  # aiohttp gives up at the third


async def _is_portal_page(response: aiohttp.ClientResponse) -> None:
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<html>" in await response.text()
    assert "X-GitHub-Request-Id" not in response.headers


async def test_html_replaces_the_bytes(
    source: tuple[Any, Source], plain: aiohttp.ClientSession
) -> None:
    gh, (route, url, headers) = source
    gh.server.faults.add(Fault("html", route=route, asset=NAME))
    async with plain.get(url, headers=headers) as response:
        await _is_portal_page(response)
    assert gh.server.counters.hits("html", NAME) == 1


async def test_html_replaces_api_json_and_web_redirects(
    gh: Any, plain: aiohttp.ClientSession
) -> None:
    asset = await _asset(gh)
    gh.server.faults.add(Fault("html", route="api.list_releases"))
    gh.server.faults.add(Fault("html", route="web.download"))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        await _is_portal_page(response)
        assert "X-RateLimit-Remaining" not in response.headers
    async with plain.get(asset["browser_download_url"]) as response:
        await _is_portal_page(response)
    assert gh.server.counters.fault_hits == {("html", None): 1, ("html", NAME): 1}


async def test_redirect_hop_in_enterprise_mode_stays_below_the_storage_mount(
    make_server: Any, make_gh: Any, plain: aiohttp.ClientSession
) -> None:
    gh = make_gh(await make_server(enterprise=True))
    asset = await _asset(gh)
    gh.server.faults.add(Fault("redirect", route="storage", asset=NAME))
    async with plain.get(asset["browser_download_url"]) as response:
        assert response.status == 200 and await response.read() == PAYLOAD
        hop = str(response.url)
    assert hop.startswith(f"{gh.server.storage_url}/edge/")
    assert gh.server.counters.hits("redirect", NAME) == 1
