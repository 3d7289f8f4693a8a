"""The API root and GET /user, which tools (``gh auth login``) use to validate a token."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import ANON, AUTH, ServerFactory

from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


async def test_root_is_githubs_map_of_url_templates_with_the_usual_headers(
    server: ReleaseServer, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{server.api_url}/") as response:
        assert response.status == 200
        root = await response.json()
        headers = response.headers
    api = server.api_url
    assert root["current_user_url"] == f"{api}/user"
    assert root["repository_url"] == f"{api}/repos/{{owner}}/{{repo}}"
    assert root["rate_limit_url"] == f"{api}/rate_limit"
    assert root["user_url"] == f"{api}/users/{{user}}"
    assert root["current_user_authorizations_html_url"] == (
        f"{server.web_url}/settings/connections/applications{{/client_id}}"
    )
    assert all(key.endswith("_url") for key in root) and len(root) == 33
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-GitHub-Media-Type"] == "github.v3; format=json"
    assert headers["X-RateLimit-Resource"] == "core" and "ETag" in headers
    assert headers["Cache-Control"] == "private, max-age=60, s-maxage=60"


async def test_root_answers_anonymous_callers_even_on_a_private_server(
    make_server: ServerFactory, anon: aiohttp.ClientSession
) -> None:
    server = await make_server(private=True)
    async with anon.get(f"{server.api_url}/") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"].startswith("public")


async def test_root_refuses_a_bad_token(server: ReleaseServer) -> None:
    headers = {**ANON, "Authorization": "token wrong"}
    async with aiohttp.ClientSession(headers=headers) as bad, bad.get(f"{server.api_url}/") as r:
        assert r.status == 401 and (await r.json())["message"] == "Bad credentials"


async def test_user_is_the_tokens_login(
    server: ReleaseServer, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{server.api_url}/user") as response:
        assert response.status == 200
        user = await response.json()
        assert "Last-Modified" in response.headers
    assert user["login"] == "octocat" and user["type"] == "User"
    assert user["url"] == f"{server.api_url}/users/octocat"
    assert isinstance(user["id"], int) and user["plan"]["name"] == "free"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (ANON, "Requires authentication"),
        ({**ANON, "Authorization": "Bearer nope"}, "Bad credentials"),
    ],
)
async def test_user_without_a_valid_token_is_401(
    make_server: ServerFactory, headers: dict[str, str], message: str
) -> None:
    server = await make_server(private=True)
    async with (
        aiohttp.ClientSession(headers=headers) as client,
        client.get(f"{server.api_url}/user") as response,
    ):
        assert response.status == 401
        body = await response.json()
        assert "WWW-Authenticate" not in response.headers
    assert body["message"] == message and body["status"] == "401"


async def test_root_and_user_in_the_enterprise_layout(make_server: ServerFactory) -> None:
    server = await make_server(enterprise=True)
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(f"{server.web_url}/api/v3/") as response:
            assert response.status == 200
            root = await response.json()
        async with client.get(f"{server.web_url}/api/v3") as response:
            assert response.status == 200 and await response.json() == root
        async with client.get(root["current_user_url"]) as response:
            assert response.status == 200 and (await response.json())["login"] == "octocat"
    assert root["current_user_url"] == f"{server.web_url}/api/v3/user"


async def test_root_and_user_have_route_names_for_faults_and_counters(
    server: ReleaseServer, session: aiohttp.ClientSession
) -> None:
    server.faults.add(Fault("status", route="api.root", status=503))
    async with session.get(f"{server.api_url}/") as response:
        assert response.status == 503
    async with session.get(f"{server.api_url}/user") as response:
        assert response.status == 200
    assert server.counters.requests["api.root"] == 1
    assert server.counters.requests["api.current_user"] == 1


async def test_root_costs_one_request_of_the_budget(gh: Any) -> None:
    async with gh.session.get(f"{gh.server.api_url}/") as first:
        before = int(first.headers["X-RateLimit-Remaining"])
    async with gh.session.get(f"{gh.server.api_url}/") as second:
        assert int(second.headers["X-RateLimit-Remaining"]) == before - 1
