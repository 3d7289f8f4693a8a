"""The registry commands as a user runs them: ``gaama releases``, ``alias``, ``verify``,
``publish --draft`` / ``--finish`` and ``rm --draft``, against the real local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Run, releases_on, run_gaama
from helpers import REPO

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


async def gaama(server: ReleaseServer, *args: str) -> Run:
    return await run_gaama(*args, api_url=server.api_url)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_releases_and_alias_round_trip(server: ReleaseServer, tmp_path: Path) -> None:
    for tag in ("v2", "v3"):
        assert (await gaama(server, "publish", REPO, "--tag", tag, "-q",
                            _file(tmp_path, f"{tag}.bin", tag.encode()))).code == 0  # fmt: skip
    moved = await gaama(server, "alias", REPO, "production", "v2")
    assert (moved.code, moved.out) == (0, "production → v2\n")
    moved = await gaama(server, "alias", REPO, "production", "v3")
    assert moved.out == "production → v3 (was v2)\n"
    listed = await gaama(server, "releases", REPO, "--json")
    rows = {r["tag"]: r for r in json.loads(listed.out)}
    assert set(rows) == {"v2", "v3"}
    assert rows["v3"]["aliases"] == ["production"] and rows["v3"]["latest"] is True
    for key in ("tag", "name", "published_at", "draft", "prerelease", "latest", "aliases"):
        assert key in rows["v2"]
    text = await gaama(server, "releases", REPO)
    assert "← production" in text.out and "[latest]" in text.out
    history = await gaama(server, "alias", REPO, "production", "--history")
    assert (
        history.out.splitlines()[1:]
        == [line for line in history.out.splitlines()[1:] if "octocat" in line]
        and len(history.out.splitlines()) == 3
    )
    out = tmp_path / "out"
    fetched = await gaama(server, "download", REPO, "--tag", "production", "--dir", str(out), "-q")
    assert fetched.code == 0 and sorted(p.name for p in out.iterdir() if p.name[0] != ".") == [
        "v3.bin"
    ]


async def test_verify_exits_6_on_a_mismatch(server: ReleaseServer, tmp_path: Path) -> None:
    await gaama(server, "publish", REPO, "--tag", "v1", "-q", _file(tmp_path, "a.bin", b"aaa"))
    out = tmp_path / "out"
    await gaama(server, "download", REPO, "--tag", "v1", "--dir", str(out), "-q")
    good = await gaama(server, "verify", REPO, "--tag", "v1", "--dir", str(out))
    assert good.code == 0 and good.out.startswith("ok: 1 file(s)")
    (out / "a.bin").write_bytes(b"aab")
    bad = await gaama(server, "verify", REPO, "--tag", "v1", "--dir", str(out), "--json")
    assert bad.code == 6, bad.err
    assert json.loads(bad.out)["modified"][0]["name"] == "a.bin"
    assert "1 modified" in bad.error_line
    offline = await gaama(server, "verify", REPO, "--tag", "v1", "--dir", str(out), "--offline")
    assert offline.code == 6 and "modified  a.bin" in offline.out


async def test_draft_then_finish_then_rm_draft(server: ReleaseServer, tmp_path: Path) -> None:
    kept = await gaama(server, "publish", REPO, "--tag", "v1", "--draft", "-q",
                       _file(tmp_path, "a.bin", b"aaa"))  # fmt: skip
    assert kept.code == 0 and kept.out.startswith("draft v1")
    hidden = await gaama(server, "releases", REPO, "--json")
    assert json.loads(hidden.out) == []
    shown = await gaama(server, "releases", REPO, "--drafts", "--json")
    assert [(r["tag"], r["draft"]) for r in json.loads(shown.out)] == [("v1", True)]
    finished = await gaama(server, "publish", REPO, "--tag", "v1", "--finish")
    assert finished.code == 0 and finished.out.startswith("published v1"), finished.err
    assert [r["draft"] for r in await releases_on(server.api_url)] == [False]
    await gaama(server, "publish", REPO, "--tag", "v2", "--draft", "-q", str(tmp_path / "a.bin"))
    removed = await gaama(server, "rm", REPO, "--tag", "v2", "--draft")
    assert removed.code == 0 and removed.out.startswith("deleted draft v2")
    assert [r["tag_name"] for r in await releases_on(server.api_url)] == ["v1"]
    nothing = await gaama(server, "rm", REPO, "--tag", "v2", "--draft")
    assert nothing.code == 4 and "no draft of 'v2'" in nothing.error_line


async def test_publish_needs_files_unless_finishing(server: ReleaseServer) -> None:
    bare = await gaama(server, "publish", REPO, "--tag", "v1")
    assert bare.code == 2 and "--finish" in bare.error_line
    untagged = await gaama(server, "publish", REPO, "--finish")
    assert untagged.code == 2 and "needs --tag" in untagged.error_line
