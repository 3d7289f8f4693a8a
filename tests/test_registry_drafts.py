"""Kept drafts and immutable releases, against the real local server: finishing a draft after
checking it, publishing into a kept draft, deleting drafts, and what immutability refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import releases_on

from gaama_async import GaAMA, NotFoundError, PublishError
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


def _files(tmp_path: Path, **contents: bytes) -> list[Path]:
    paths = []
    for name, data in contents.items():
        path = tmp_path / name.replace("_", ".")
        path.write_bytes(data)
        paths.append(path)
    return paths


async def test_a_kept_draft_is_finished_after_its_check(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await client.publish("v1", _files(tmp_path, a_bin=b"aaa"), draft=True)
    published = await client.finish_draft("v1")
    assert not published.draft
    assert (await client.get_release("v1")).id == published.id
    with pytest.raises(PublishError, match="already published"):
        await client.finish_draft("v1")


async def test_a_draft_whose_file_went_missing_is_not_published(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    draft = await client.publish("v1", _files(tmp_path, a_bin=b"aaa", b_bin=b"bb"), draft=True)
    gone = draft.asset("b.bin")
    assert gone is not None
    await client._ctx.http.json("DELETE", gone.url, what="edit by hand")
    with pytest.raises(PublishError, match=r"'b\.bin' lacks its asset"):
        await client.finish_draft("v1")
    assert [r["draft"] for r in await releases_on(server.api_url)] == [True]


async def test_publishing_a_tag_with_a_kept_draft_fills_it_instead_of_a_second_release(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    first, second = _files(tmp_path, a_bin=b"aaa", b_bin=b"bb")
    draft = await client.publish("v1", [first], draft=True)
    still = await client.publish("v1", [second], draft=True)
    assert (still.id, still.draft) == (draft.id, True)
    done = await client.publish("v1", [second])
    assert (done.id, done.draft) == (draft.id, False)
    assert sorted(a.name for a in done.assets) == ["a.bin", "b.bin", "gaama-manifest.json"]
    assert len(await releases_on(server.api_url)) == 1


async def test_delete_drafts_removes_kept_drafts_only(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        await client.delete_drafts("v1")
    await client.publish("v1", _files(tmp_path, a_bin=b"aaa"), draft=True)
    await client.publish("v2", [tmp_path / "a.bin"])
    deleted = await client.delete_drafts("v1")
    assert [r.tag for r in deleted] == ["v1"]
    assert [r["tag_name"] for r in await releases_on(server.api_url)] == ["v2"]


async def test_publishing_into_an_immutable_repository_goes_through_the_draft(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    server.config.immutable = True
    a, b = _files(tmp_path, a_bin=b"aaa", b_bin=b"bb")
    release = await client.publish("v1", [a])
    assert release.immutable and not release.draft
    again = await client.publish("v1", [a])  # the same file: nothing to change, no error
    assert again.id == release.id
    server.counters.reset()
    with pytest.raises(PublishError, match=r"immutable.*new tag"):
        await client.publish("v1", [b])
    a.write_bytes(b"changed")  # a different file of the same name: not --overwrite advice
    with pytest.raises(PublishError, match=r"immutable.*new tag"):
        await client.publish("v1", [a], overwrite=False)
    assert server.counters.requests["upload"] == 0  # refused before sending anything
    with pytest.raises(PublishError, match="immutable"):
        await client.delete_assets("v1", "a.bin")
    assert server.counters.requests["api.delete_asset"] == 0
    listed = await client.list_releases()
    assert [r.immutable for r in listed] == [True]


async def test_a_burnt_tag_is_refused_with_advice(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    server.config.immutable = True
    (a,) = _files(tmp_path, a_bin=b"aaa")
    await client.publish("v1", [a])
    await client.delete_release("v1")
    with pytest.raises(PublishError, match="never lets it be used again: publish under a new"):
        await client.publish("v1", [a])
    assert await releases_on(server.api_url) == []


async def test_delete_drafts_dry_run_changes_nothing(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await client.publish("v1", _files(tmp_path, a_bin=b"aaa"), draft=True)
    would = await client.delete_drafts("v1", dry_run=True)
    assert [r.tag for r in would] == ["v1"]
    assert [r["draft"] for r in await releases_on(server.api_url)] == [True]
