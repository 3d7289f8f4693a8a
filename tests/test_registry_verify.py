"""``verify`` against the real local server: missing, modified and extra files, the parts of a
split file, and the offline check from the folder record's copy of the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAST_RETRY, REPO, TOKEN

from gaama_async import GaAMA, NotFoundError
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def small_parts(server: ReleaseServer) -> GaAMA:
    """A client that splits files over 1000 bytes into parts."""
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
        max_asset_size=1000,
    ) as running:  # fmt: skip
        yield running


async def _published(client: GaAMA, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(bytes(range(256)) * 10)  # 2560 bytes: three parts
    (src / "config.json").write_bytes(b"{}")
    (src / "empty.txt").write_bytes(b"")
    await client.publish("v1", sorted(src.iterdir()))
    out = tmp_path / "out"
    await client.download("v1", out)
    return out


async def test_a_fresh_download_verifies(small_parts: GaAMA, tmp_path: Path) -> None:
    out = await _published(small_parts, tmp_path)
    report = await small_parts.verify(out, "v1")
    assert report.ok and report.source == "github"
    assert sorted(report.verified) == ["big.bin", "config.json", "empty.txt"]
    assert (report.missing, report.modified, report.extra) == ((), (), ())


async def test_missing_modified_and_extra_files_are_named(
    small_parts: GaAMA, tmp_path: Path
) -> None:
    out = await _published(small_parts, tmp_path)
    (out / "config.json").unlink()
    with open(out / "big.bin", "r+b") as handle:  # same size, one byte changed in part 2
        handle.seek(1500)
        handle.write(b"\xff")
    (out / "notes.txt").write_text("mine")
    report = await small_parts.verify(out, "v1")
    assert not report.ok
    assert report.missing == ("config.json",)
    assert [(m.name, m.parts) for m in report.modified] == [("big.bin", (2,))]
    assert "part 2 of 3" in report.modified[0].reason
    assert report.extra == ("notes.txt",)


async def test_offline_verify_uses_the_record_and_asks_github_nothing(
    small_parts: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    out = await _published(small_parts, tmp_path)
    (out / "config.json").write_bytes(b"[]")
    server.counters.reset()
    report = await small_parts.verify(out, "v1", offline=True)
    assert sum(server.counters.requests.values()) == 0
    assert report.source == "record"
    assert [m.name for m in report.modified] == ["config.json"]
    with pytest.raises(NotFoundError, match="record holds no manifest"):
        await small_parts.verify(out, "v9", offline=True)
