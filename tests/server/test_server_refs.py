"""Git tags: publishing creates them, git/ref(s) read them, DELETE git/refs removes them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import ServerFactory

from gaama_async.server import Fault

pytestmark = pytest.mark.anyio


async def _get(gh: Any, path: str) -> tuple[int, Any]:
    async with gh.session.get(f"{gh.repo_url}/{path}") as response:
        return response.status, await response.json()


async def _delete(gh: Any, path: str) -> tuple[int, bytes]:
    async with gh.session.delete(f"{gh.repo_url}/{path}") as response:
        return response.status, await response.read()


async def test_a_published_release_creates_its_tag_as_github_ref_json(gh: Any) -> None:
    await gh.create_release("v1.0")
    status, ref = await _get(gh, "git/ref/tags/v1.0")
    assert status == 200
    assert list(ref) == ["ref", "node_id", "url", "object"]
    assert ref["ref"] == "refs/tags/v1.0"
    assert ref["url"] == f"{gh.repo_url}/git/refs/tags/v1.0"
    assert re.fullmatch(r"REF_kwDO[A-Za-z0-9_-]+", ref["node_id"])
    sha = ref["object"]["sha"]
    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    assert ref["object"] == {
        "sha": sha,
        "type": "commit",
        "url": f"{gh.repo_url}/git/commits/{sha}",
    }


async def test_a_draft_makes_no_tag_until_it_is_published(gh: Any) -> None:
    draft = await gh.create_release("v2", draft=True)
    status, body = await _get(gh, "git/ref/tags/v2")
    assert status == 404 and body["message"] == "Not Found"
    async with gh.session.patch(draft["url"], json={"draft": False}) as response:
        assert response.status == 200
    status, ref = await _get(gh, "git/ref/tags/v2")
    assert status == 200 and ref["ref"] == "refs/tags/v2"


async def test_renaming_a_published_release_tag_creates_the_new_tag(gh: Any) -> None:
    release = await gh.create_release("v3")
    async with gh.session.patch(release["url"], json={"tag_name": "v3.1"}) as response:
        assert response.status == 200
    assert (await _get(gh, "git/ref/tags/v3.1"))[0] == 200
    assert (await _get(gh, "git/ref/tags/v3"))[0] == 200  # the old tag is not moved away


async def test_fake_shas_are_stable_per_tag_and_differ_between_tags(gh: Any) -> None:
    release = await gh.create_release("a")
    await gh.create_release("b")
    first = (await _get(gh, "git/ref/tags/a"))[1]["object"]["sha"]
    other = (await _get(gh, "git/ref/tags/b"))[1]["object"]["sha"]
    assert first != other
    async with gh.session.delete(release["url"]) as response:
        assert response.status == 204
    assert (await _delete(gh, "git/refs/tags/a"))[0] == 204
    await gh.create_release("a")
    assert (await _get(gh, "git/ref/tags/a"))[1]["object"]["sha"] == first


async def test_tags_with_slashes_are_found(gh: Any) -> None:
    await gh.create_release("models/bert/v1")
    status, ref = await _get(gh, "git/refs/tags/models/bert/v1")
    assert status == 200 and ref["ref"] == "refs/tags/models/bert/v1"


async def test_legacy_refs_path_answers_prefix_matches_as_an_array(gh: Any) -> None:
    for tag in ("v1.0", "v1.1", "v2.0"):
        await gh.create_release(tag)
    status, matches = await _get(gh, "git/refs/tags/v1")
    assert status == 200
    assert [r["ref"] for r in matches] == ["refs/tags/v1.0", "refs/tags/v1.1"]
    status, exact = await _get(gh, "git/refs/tags/v1.1")
    assert status == 200 and exact["ref"] == "refs/tags/v1.1"
    assert (await _get(gh, "git/ref/tags/v1"))[0] == 404  # the new path is exact
    assert (await _get(gh, "git/refs/tags/v9"))[0] == 404


async def test_matching_refs_lists_by_prefix_and_may_be_empty(gh: Any) -> None:
    for tag in ("v1.0", "v1.1", "w1"):
        await gh.create_release(tag)
    status, matches = await _get(gh, "git/matching-refs/tags/v1")
    assert status == 200 and [r["ref"] for r in matches] == ["refs/tags/v1.0", "refs/tags/v1.1"]
    assert len((await _get(gh, "git/matching-refs/tags"))[1]) == 3
    assert await _get(gh, "git/matching-refs/tags/zzz") == (200, [])
    status, every = await _get(gh, "git/refs")
    assert status == 200 and [r["ref"] for r in every] == [
        "refs/tags/v1.0",
        "refs/tags/v1.1",
        "refs/tags/w1",
    ]


async def test_deleting_a_tag_answers_204_then_422_reference_does_not_exist(gh: Any) -> None:
    await gh.create_release("v1")
    assert await _delete(gh, "git/refs/tags/v1") == (204, b"")
    assert (await _get(gh, "git/ref/tags/v1"))[0] == 404
    async with gh.session.delete(f"{gh.repo_url}/git/refs/tags/v1") as response:
        assert response.status == 422
        body = await response.json()
    assert body == {
        "message": "Reference does not exist",
        "documentation_url": "https://docs.github.com/rest/git/refs#delete-a-reference",
        "status": "422",
    }


async def test_deleting_the_tag_of_a_published_release_makes_it_a_draft(gh: Any) -> None:
    release = await gh.create_release("v1")
    assert (await _delete(gh, "git/refs/tags/v1"))[0] == 204
    async with gh.session.get(release["url"]) as response:
        again = await response.json()
    assert again["draft"] is True and again["published_at"] is None
    assert "/releases/tag/untagged-" in again["html_url"] and again["tarball_url"] is None
    assert (await _get(gh, "releases/tags/v1"))[0] == 404
    assert (await _get(gh, "releases/latest"))[0] == 404


async def test_deleting_a_release_keeps_its_tag(gh: Any) -> None:
    release = await gh.create_release("v1")
    async with gh.session.delete(release["url"]) as response:
        assert response.status == 204
    assert (await _get(gh, "git/ref/tags/v1"))[0] == 200


async def test_deleting_a_tag_needs_a_token(gh: Any, anon: Any) -> None:
    await gh.create_release("v1")
    async with anon.delete(f"{gh.repo_url}/git/refs/tags/v1") as response:
        assert response.status == 401
    assert (await _get(gh, "git/ref/tags/v1"))[0] == 200


async def test_tags_survive_a_restart(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server()
    await make_gh(server).create_release("v1")
    await server.stop()
    again = make_gh(await make_server())
    assert (await _get(again, "git/ref/tags/v1"))[0] == 200


async def test_ref_routes_have_names_for_faults_and_counters(gh: Any) -> None:
    await gh.create_release("v1")
    gh.server.faults.add(Fault("status", route="api.delete_ref", status=503))
    assert (await _delete(gh, "git/refs/tags/v1"))[0] == 503
    assert (await _delete(gh, "git/refs/tags/v1"))[0] == 204
    await _get(gh, "git/refs/tags/v1")
    await _get(gh, "git/ref/tags/v1")
    await _get(gh, "git/matching-refs/tags")
    requests = gh.server.counters.requests
    assert requests["api.delete_ref"] == 2
    assert requests["api.get_ref"] == 2
    assert requests["api.matching_refs"] == 1
    await _get(gh, "git/refs")
    assert requests["api.matching_refs"] == 2


async def test_refs_work_in_the_enterprise_layout(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server(enterprise=True)
    gh = make_gh(server)
    await gh.create_release("v1")
    status, ref = await _get(gh, "git/ref/tags/v1")
    assert status == 200
    assert ref["url"] == f"{server.web_url}/api/v3/repos/octo/models/git/refs/tags/v1"
    assert (await _delete(gh, "git/refs/tags/v1"))[0] == 204


@pytest.mark.parametrize("tag", ["vé 1", "../x", "v1.lock", "a@{1}", "@", "v1."])
async def test_tag_names_git_refuses_are_422_invalid(gh: Any, tag: str) -> None:
    async with gh.session.post(f"{gh.repo_url}/releases", json={"tag_name": tag}) as response:
        assert response.status == 422
        body = await response.json()
    assert body == {
        "message": "Validation Failed",
        "errors": [{"resource": "Release", "code": "invalid", "field": "tag_name"}],
        "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
        "status": "422",
    }


async def test_renaming_to_a_refused_tag_name_is_422_and_changes_nothing(gh: Any) -> None:
    release = await gh.create_release("v1")
    async with gh.session.patch(release["url"], json={"tag_name": "bad name"}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["code"] == "invalid"
    async with gh.session.get(release["url"]) as response:
        assert (await response.json())["tag_name"] == "v1"


async def test_non_ascii_tag_names_git_accepts_are_fine(gh: Any) -> None:
    release = await gh.create_release("vé-1")
    assert release["tag_name"] == "vé-1"
    status, ref = await _get(gh, "git/ref/tags/v%C3%A9-1")
    assert status == 200 and ref["ref"] == "refs/tags/vé-1"
