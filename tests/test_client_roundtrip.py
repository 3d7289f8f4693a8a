"""Publish and download through the real local server: contents, names, pagination, latest."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import anyio
import pytest
from helpers import REPO, TOKEN, listing, sha256_file, write_random

from gaama_async import GaAMA, NotFoundError, PublishError
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


async def test_round_trip_of_empty_small_and_oddly_named_files(
    client: GaAMA, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    sizes = {"empty.txt": 0, "small.bin": 1234, "my model v2.bin": 70_000, "café ñame.json": 10}
    digests = {n: write_random(src / n, s, seed=i) for i, (n, s) in enumerate(sizes.items())}

    release = await client.publish("v1", [src / n for n in sizes], name="first")

    assert not release.draft and release.tag == "v1"
    stored = {a.name for a in release.assets}
    assert stored == {"small.bin", "my.model.v2.bin", "cafe.name.json", MANIFEST_NAME}
    paths = await client.download("v1", tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(sizes)
    assert {p.name: sha256_file(p) for p in paths} == digests
    assert listing(tmp_path / "out") == sorted(sizes)


async def test_large_file_round_trip(client: GaAMA, tmp_path: Path) -> None:
    big = tmp_path / "weights.bin"
    with open(big, "wb") as handle:  # sparse 256 MiB with random islands: quick to write
        for offset in range(0, 256 << 20, 32 << 20):
            handle.seek(offset)
            handle.write(offset.to_bytes(8, "big") * 4096)
        handle.truncate(256 << 20)
    expected = sha256_file(big)

    await client.publish("big", [big])
    [path] = await client.download("big", tmp_path / "out")

    assert path.stat().st_size == 256 << 20
    assert sha256_file(path) == expected


async def test_more_than_a_hundred_assets_are_all_listed_and_downloaded(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    server.config.writes_per_minute = 1000  # GitHub's 80/min would pace this for minutes
    src = tmp_path / "src"
    src.mkdir()
    files = [src / f"part-{i:03}.bin" for i in range(105)]
    for i, path in enumerate(files):
        path.write_bytes(f"payload {i}".encode())

    await client.publish("many", files)

    assets = await client.list_assets("many")
    assert len(assets) == 106  # and the manifest
    paths = await client.download("many", tmp_path / "out", exclude="part-10*")
    assert len(paths) == 100  # part-100 to part-104 excluded
    assert (tmp_path / "out" / "part-042.bin").read_bytes() == b"payload 42"


async def test_latest_is_the_newest_published_non_prerelease(client: GaAMA, tmp_path: Path) -> None:
    for tag, text in (("v1", b"one"), ("v2", b"two")):
        (tmp_path / "m.txt").write_bytes(text)
        await client.publish(tag, [tmp_path / "m.txt"])
    (tmp_path / "m.txt").write_bytes(b"three-rc")
    await client.publish("v3-rc", [tmp_path / "m.txt"], prerelease=True)

    assert (await client.get_release()).tag == "v2"
    [path] = await client.download(path=tmp_path / "out")
    assert path.read_bytes() == b"two"


async def test_include_patterns_match_original_and_stored_names(
    client: GaAMA, tmp_path: Path
) -> None:
    for name in ("a model.bin", "b.txt"):
        (tmp_path / name).write_bytes(name.encode())
    await client.publish("t", [tmp_path / "a model.bin", tmp_path / "b.txt"])

    assert [p.name for p in await client.download("t", tmp_path / "x", include="a model*")] == [
        "a model.bin"
    ]
    assert [p.name for p in await client.download("t", tmp_path / "y", include="a.model*")] == [
        "a model.bin"
    ]


async def test_draft_publish_stays_invisible_by_tag(client: GaAMA, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    release = await client.publish("d1", [tmp_path / "f"], draft=True)
    assert release.draft
    with pytest.raises(NotFoundError):
        await client.get_release("d1")


async def test_missing_files_fail_before_anything_is_created(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "real").write_bytes(b"x")
    with pytest.raises(PublishError, match="does not exist"):
        await client.publish("v1", [tmp_path / "real", tmp_path / "nope"])
    with pytest.raises(PublishError, match="is a directory"):
        await client.publish("v1", [tmp_path])
    assert server.counters.requests.get("api.create_release", 0) == 0


async def test_unknown_tag_raises_not_found_with_a_clear_message(client: GaAMA) -> None:
    with pytest.raises(NotFoundError, match=r"release 'nope' of acme/models") as caught:
        await client.download("nope", "unused")
    assert "Check the name" in str(caught.value)


async def test_a_reader_never_sees_a_half_published_release(
    server: ReleaseServer, tmp_path: Path
) -> None:
    files = []
    for i in range(6):
        files.append(tmp_path / f"f{i}")
        files[-1].write_bytes(b"z" * 1000)
    server.faults.add(Fault("slow", route="upload", times=None, delay=0.05))
    seen: list[int] = []

    async def poll(reader: GaAMA, done: anyio.Event) -> None:
        while not done.is_set():
            try:
                release = await reader.get_release("v1")
            except NotFoundError:
                await anyio.sleep(0.005)
                continue
            seen.append(sum(a.is_uploaded for a in release.assets))

    async with (
        GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, max_concurrency=2) as writer,
        GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as reader,
    ):
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(poll, reader, done)
            await writer.publish("v1", files)
            await anyio.sleep(0.05)
            done.set()
    assert seen, "the reader never saw the published release"
    assert set(seen) == {7}  # six files and the manifest, every time


async def test_default_tag_is_todays_date_and_aclose_closes(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"today")
    client = GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url)
    try:
        release = await client.publish(files=[tmp_path / "f"])
    finally:
        await client.aclose()
    assert release.tag == dt.date.today().strftime("%Y.%m.%d")


async def test_a_file_name_that_is_not_utf8_is_refused_before_anything_is_created(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "good.bin").write_bytes(b"fine")
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/w\xff.bin"))
    odd.write_bytes(b"bytes on disk under a Latin-1 name")

    with pytest.raises(PublishError, match=r"'w\\xff\.bin': its name is not valid UTF-8"):
        await client.publish("v1", [tmp_path / "good.bin", odd])

    assert server.counters.requests.get("api.create_release", 0) == 0
    assert server.counters.requests.get("upload", 0) == 0


async def test_the_published_body_is_exactly_the_users(client: GaAMA, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    body = "Trained on 3 GPUs.\n\n<!-- the user's own comment -->"

    release = await client.publish("v1", [tmp_path / "f"], body=body)

    assert release.body == body
    assert (await client.get_release("v1")).body == body
