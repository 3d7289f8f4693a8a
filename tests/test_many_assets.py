"""A release at GitHub's limit of 1000 assets: 999 files and the manifest, there and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAST_RETRY, REPO, TOKEN, listing

from gaama_async import GaAMA, PublishError
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio

FILES = 999  # the manifest is the thousandth asset


def _content(index: int) -> bytes:
    return f"file {index}\n".encode() * (1 + index % 7)


async def test_a_release_of_1000_assets_publishes_and_downloads_whole(tmp_path: Path) -> None:
    # GitHub's content-creation limits (80 a minute, 500 an hour) would stretch this to hours;
    # they have their own tests. The client's write pacing is off for the same reason.
    config = ServerConfig(root=tmp_path / "github", tokens={TOKEN: "octocat"}, repos=(REPO,))
    config.writes_per_minute, config.writes_per_hour = 100_000, 1_000_000
    source = tmp_path / "src"
    source.mkdir()
    files = []
    for index in range(FILES):
        files.append(source / f"f{index:04d}.txt")
        files[-1].write_bytes(_content(index))
    async with (
        ReleaseServer(config) as server,
        GaAMA(
            repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
            max_concurrency=16,
        ) as client,
    ):  # fmt: skip
        release = await client.publish("v1", files)
        assert len(release.assets) == 1000 and server.counters.requests["upload"] == 1000

        paths = await client.download("v1", tmp_path / "out")

        (tmp_path / "one-too-many.txt").write_bytes(b"over the limit")
        with pytest.raises(PublishError):
            await client.publish("v1", [tmp_path / "one-too-many.txt"])

    assert len(paths) == FILES
    assert {p.name: p.read_bytes() for p in paths} == {f.name: _content(i) for i, f in
                                                        enumerate(files)}  # fmt: skip
    assert listing(tmp_path / "out") == sorted(f.name for f in files)
    assert MANIFEST_NAME not in listing(tmp_path / "out")
