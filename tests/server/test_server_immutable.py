"""Immutable releases (spec 7.3): what the repository setting locks, and what it leaves free."""

from __future__ import annotations

from typing import Any

import pytest

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def locked(make_server: Any, make_gh: Any) -> Any:
    """A server with immutable releases on, and one published release v1 holding a.bin."""
    gh = make_gh(await make_server(immutable=True))
    draft = await gh.create_release("v1", draft=True)
    asset = await gh.upload(draft, "a.bin", b"abc")
    assert draft["immutable"] is False  # a draft is not locked yet
    async with gh.session.patch(draft["url"], json={"draft": False}) as response:
        assert response.status == 200
        gh.release = await response.json()
    gh.asset = asset
    return gh


async def _status(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status, await response.json()


async def test_a_published_release_is_immutable_and_refuses_uploads(locked: Any) -> None:
    assert locked.release["immutable"] is True
    refused = await locked.upload(locked.release, "b.bin", b"more", expect=422)
    assert refused["message"] == "Cannot upload assets to an immutable release."
    assert refused["errors"] == []


async def test_its_assets_cannot_be_renamed_or_deleted(locked: Any) -> None:
    url = locked.asset["url"]
    async with locked.session.patch(url, json={"name": "c.bin"}) as response:
        assert response.status == 422
    async with locked.session.delete(url) as response:
        assert response.status == 422
    async with locked.session.get(url) as response:
        assert (await response.json())["name"] == "a.bin"


async def test_notes_may_change_but_not_the_state_or_the_tag(locked: Any) -> None:
    url = locked.release["url"]
    async with locked.session.patch(url, json={"body": "new notes", "name": "One"}) as response:
        assert response.status == 200 and (await response.json())["body"] == "new notes"
    async with locked.session.patch(url, json={"draft": True}) as response:
        status, body = await _status(response)
    assert (status, body["message"]) == (422, "state cannot be changed when release is immutable")
    async with locked.session.patch(url, json={"tag_name": "v9"}) as response:
        assert response.status == 422
    async with locked.session.get(url) as response:
        release = await response.json()
    assert (release["draft"], release["tag_name"]) == (False, "v1")


async def test_a_deleted_immutable_release_burns_its_tag(locked: Any) -> None:
    async with locked.session.delete(locked.release["url"]) as response:
        assert response.status == 204
    async with locked.session.post(
        f"{locked.repo_url}/releases", json={"tag_name": "v1"}
    ) as response:
        status, body = await _status(response)
    assert status == 422
    assert body["errors"][0]["message"] == "tag_name was used by an immutable release"


async def test_turning_the_setting_off_unlocks_nothing(locked: Any) -> None:
    locked.server.config.immutable = False
    await locked.upload(locked.release, "b.bin", b"more", expect=422)
    fresh = await locked.create_release("v2")
    assert fresh["immutable"] is False
    await locked.upload(fresh, "b.bin", b"more")


async def test_without_the_setting_nothing_is_locked(gh: Any, server: ReleaseServer) -> None:
    release = await gh.create_release("v1")
    assert release["immutable"] is False
    await gh.upload(release, "a.bin", b"abc")


async def test_its_git_tag_cannot_be_deleted(locked: Any) -> None:
    async with locked.session.delete(f"{locked.repo_url}/git/refs/tags/v1") as response:
        assert response.status == 422
    async with locked.session.get(f"{locked.repo_url}/releases/tags/v1") as response:
        assert response.status == 200
