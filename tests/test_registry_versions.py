"""Versions and aliases against the real local server: ``list_releases``, ``set_alias`` and a
download by alias name."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from gaama_async import GaAMA, NotFoundError, PublishError
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


async def _publish(client: GaAMA, tmp_path: Path, tag: str, content: bytes, **kw: object) -> None:
    folder = tmp_path / f"src-{tag}"
    folder.mkdir()
    (folder / "model.bin").write_bytes(content)
    (folder / f"only-{tag}.txt").write_bytes(tag.encode())
    await client.publish(tag, [folder / "model.bin", folder / f"only-{tag}.txt"], **kw)


async def test_list_releases_marks_latest_prerelease_drafts_and_reads_every_page(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    for n in range(1, 4):
        await _publish(client, tmp_path, f"v{n}", b"w" * n)
    await _publish(client, tmp_path, "v4-rc", b"rc", prerelease=True)
    await _publish(client, tmp_path, "v5", b"draft", draft=True)
    versions = await client.list_releases()
    assert [r.tag for r in versions] == ["v4-rc", "v3", "v2", "v1"]
    assert [r.tag for r in versions if r.latest] == ["v3"]
    assert [r.tag for r in versions if r.prerelease] == ["v4-rc"]
    with_drafts = await client.list_releases(drafts=True)
    assert [r.tag for r in with_drafts if r.draft] == ["v5"]


async def test_list_releases_follows_pages(client: GaAMA, server: ReleaseServer) -> None:
    server.config.rate_limits = False  # 101 creations in a second would be a secondary limit
    for n in range(101):  # the client asks 100 a page: two pages
        await client._ctx.http.json(
            "POST", f"{client._ctx.repo.url}/releases", what="seed", json={"tag_name": f"p{n}"}
        )
    server.counters.reset()
    assert len(await client.list_releases()) == 101
    assert server.counters.requests["api.list_releases"] == 2


async def test_an_alias_points_downloads_at_its_target_and_moves_atomically(
    client: GaAMA, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, "v2", b"two")
    await _publish(client, tmp_path, "v3", b"three")
    first = await client.set_alias("production", "v2")
    assert (first.target_tag, first.history[-1].from_tag) == ("v2", None)
    paths = await client.download("production", tmp_path / "a")
    assert sorted(p.name for p in paths) == ["model.bin", "only-v2.txt"]
    moved = await client.set_alias("production", "v3")
    assert [(m.from_tag, m.to_tag, m.by) for m in moved.history] == [
        (None, "v2", "octocat"),
        ("v2", "v3", "octocat"),
    ]
    paths = await client.download("production", tmp_path / "b")
    assert sorted(p.name for p in paths) == ["model.bin", "only-v3.txt"]
    assert (tmp_path / "b" / "model.bin").read_bytes() == b"three"
    versions = {r.tag: r for r in await client.list_releases()}
    assert "alias/production" not in versions  # the alias is not a version
    assert versions["v3"].aliases == ("production",) and versions["v2"].aliases == ()
    assert versions["v3"].latest  # the alias never became latest


async def test_the_alias_is_readable_on_githubs_page(client: GaAMA, tmp_path: Path) -> None:
    await _publish(client, tmp_path, "v1", b"one")
    await client.set_alias("staging", "v1")
    carrier = await client._ctx.http.json(
        "GET", f"{client._ctx.repo.url}/releases/tags/alias/staging", what="alias"
    )
    assert carrier["name"] == "staging → v1"
    assert carrier["body"].startswith("Points to **v1**.")
    assert carrier["prerelease"] is True and carrier["draft"] is False


async def test_an_alias_to_a_deleted_release_is_a_clear_error(
    client: GaAMA, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, "v1", b"one")
    await client.set_alias("production", "v1")
    await client.delete_release("v1")
    with pytest.raises(NotFoundError, match=r"points to v1 .* which was deleted"):
        await client.download("production", tmp_path / "out")


async def test_an_alias_named_like_a_release_is_refused(client: GaAMA, tmp_path: Path) -> None:
    await _publish(client, tmp_path, "v1", b"one")
    await _publish(client, tmp_path, "stable", b"s")
    with pytest.raises(PublishError, match="already a release tag"):
        await client.set_alias("stable", "v1")
    with pytest.raises(ValueError, match="alias name"):
        await client.set_alias("bad/name", "v1")
    with pytest.raises(NotFoundError):
        await client.set_alias("production", "v9")


async def test_a_download_started_before_a_move_gets_the_old_release_whole(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, "v2", b"2" * 100_000)
    await _publish(client, tmp_path, "v3", b"3" * 100_000)
    await client.set_alias("production", "v2")
    # v2's model.bin pauses mid-body; the alias moves to v3 while it does
    fault = server.faults.add(
        Fault("stall", route="storage", asset="model.bin", after_bytes=1000, delay=1.0)
    )
    out = tmp_path / "out"
    moved_during: list[bool] = []
    async with anyio.create_task_group() as group:
        group.start_soon(client.download, "production", out)
        while fault.hits == 0:
            await anyio.sleep(0.01)
        await client.set_alias("production", "v3")
        moved_during.append(not (out / "model.bin").exists())
    assert moved_during == [True]
    assert sorted(p.name for p in out.iterdir() if p.name != ".gaama") == [
        "model.bin",
        "only-v2.txt",
    ]
    assert (out / "model.bin").read_bytes() == b"2" * 100_000
    assert (await client.get_alias("production")).target_tag == "v3"
