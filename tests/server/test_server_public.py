"""Every URL an answer names is the one the client can reach: from the request, a proxy's
forwarding headers or ``public_url``, never from the bind address alone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from conftest import AUTH, ServerFactory

from gaama_async.server import ReleaseServer
from gaama_async.server.public import Origins, RequestFacts, request_origins

pytestmark = pytest.mark.anyio

BOUND = Origins(
    "http://127.0.0.1:9", "http://127.0.0.2:9", "http://127.0.0.3:9", "http://127.0.0.4:9"
)


def _decide(
    origin: Any, host: str | None, *, enterprise: bool = False, public: str | None = None, **kw: Any
) -> Origins:
    facts = RequestFacts(origin=origin, scheme="http", host=host, **kw)
    return request_origins(BOUND, facts, enterprise=enterprise, public_url=public)


def test_a_request_to_the_bound_address_names_the_bound_origins() -> None:
    assert _decide("api", "127.0.0.1:9") == BOUND
    assert _decide("api", None) == BOUND


def test_an_api_dot_name_implies_githubs_sibling_names() -> None:
    assert _decide("api", "api.gaama.test:9") == Origins(
        "http://api.gaama.test:9",
        "http://uploads.gaama.test:9",
        "http://objects.gaama.test:9",
        "http://gaama.test:9",
    )
    assert _decide("storage", "objects.gaama.test:9").web == "http://gaama.test:9"


def test_another_name_changes_only_the_origin_it_reached() -> None:
    decided = _decide("api", "localhost:9")
    assert decided.api == "http://localhost:9" and decided.uploads == BOUND.uploads


def test_forwarding_headers_win_over_host_and_public_url_over_both() -> None:
    behind = _decide(
        "api", "127.0.0.1:9", enterprise=True, forwarded_proto="https", forwarded_host="ghes.local"
    )
    assert behind.uploads == "https://ghes.local/api/uploads"
    first_hop = _decide("api", "x", enterprise=True, forwarded_host="a.example, b.example")
    assert first_hop.web == "http://a.example"
    public = _decide("api", "api.gaama.test:9", public="https://gaama.example")
    assert public.api == "https://api.gaama.example"
    assert public.storage == "https://objects.gaama.example"
    assert _decide("api", "x", enterprise=True, public="https://g.example").api == (
        "https://g.example/api/v3"
    )


async def test_the_default_layout_gives_each_origin_its_own_loopback_host_on_one_port(
    server: ReleaseServer,
) -> None:
    urls = [server.api_url, server.uploads_url, server.storage_url, server.web_url]
    parts = [urlsplit(url) for url in urls]
    assert [p.hostname for p in parts] == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert len({p.port for p in parts}) == 1


async def _created_release(session: aiohttp.ClientSession, url: str, **kw: Any) -> Any:
    async with session.post(
        f"{url}/repos/octo/models/releases", json={"tag_name": "v1"}, **kw
    ) as r:
        assert r.status == 201, await r.text()
        return await r.json(), r.headers


async def test_behind_a_tls_front_every_url_names_the_front(make_server: ServerFactory) -> None:
    server = await make_server(enterprise=True)
    front = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ghes.local"}
    async with aiohttp.ClientSession(headers={**AUTH, **front}) as session:
        release, headers = await _created_release(session, server.api_url)
        for n in range(3):
            await _created_release_named(session, server.api_url, f"v{n + 2}")
        async with session.get(
            f"{server.api_url}/repos/octo/models/releases", params={"per_page": "1"}
        ) as listing:
            link = listing.headers["Link"]
    assert release["upload_url"].startswith("https://ghes.local/api/uploads/repos/octo/models/")
    assert release["url"].startswith("https://ghes.local/api/v3/repos/octo/models/releases/")
    assert release["html_url"] == "https://ghes.local/octo/models/releases/tag/v1"
    assert headers["Location"] == release["url"]
    assert link.startswith("<https://ghes.local/api/v3/repositories/") and 'rel="next"' in link


async def _created_release_named(session: aiohttp.ClientSession, url: str, tag: str) -> None:
    async with session.post(f"{url}/repos/octo/models/releases", json={"tag_name": tag}) as r:
        assert r.status == 201


async def test_a_client_using_githubs_names_is_sent_to_the_sibling_names(
    server: ReleaseServer, session: aiohttp.ClientSession
) -> None:
    port = urlsplit(server.api_url).port
    release, _ = await _created_release(
        session, server.api_url, headers={"Host": f"api.gaama.test:{port}"}
    )
    assert release["upload_url"].startswith(f"http://uploads.gaama.test:{port}/repos/octo/")
    assert release["html_url"].startswith(f"http://gaama.test:{port}/octo/models/")


async def test_the_storage_redirect_names_the_public_storage_host(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await make_server(public_url="https://gaama.example")
    release, _ = await _created_release(session, server.api_url)
    upload = (
        release["upload_url"]
        .split("{")[0]
        .replace("https://uploads.gaama.example", server.uploads_url)
    )
    async with session.post(
        upload,
        params={"name": "w.bin"},
        data=b"abc",
        headers={"Content-Type": "application/octet-stream"},
    ) as r:
        asset = await r.json()
    assert asset["url"].startswith("https://api.gaama.example/repos/octo/models/releases/assets/")
    own = asset["url"].replace("https://api.gaama.example", server.api_url)
    async with session.get(
        own, headers={"Accept": "application/octet-stream"}, allow_redirects=False
    ) as r:
        assert r.status == 302
        assert r.headers["Location"].startswith("https://objects.gaama.example/")


def test_only_the_default_host_spreads_over_loopback_addresses(tmp_path: Any) -> None:
    from gaama_async.server import ServerConfig
    from gaama_async.server.listen import origin_hosts, origin_ports

    spread = ServerConfig(root=tmp_path, api_port=8080)
    assert origin_hosts(spread)[3] == "127.0.0.4" and origin_ports(spread, 8080) == (8080,) * 4
    one_address = ServerConfig(root=tmp_path, host="0.0.0.0", api_port=8080, uploads_port=8081)
    assert set(origin_hosts(one_address)) == {"0.0.0.0"}
    assert origin_ports(one_address, 8080) == (8080, 8081, 0, 0)
    enterprise = ServerConfig(root=tmp_path, enterprise=True)
    assert set(origin_hosts(enterprise)) == {"127.0.0.1"}
