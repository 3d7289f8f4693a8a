"""``gaama cache ls | verify | prune`` and download's ``--no-cache``/``--offline``, run as
the real command against a cache filled by real downloads from the local server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import cli_env, run_gaama
from helpers import REPO, write_random

from gaama_async._cache import ContentCache
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


def _env(server: ReleaseServer, cache: Path, **extra: str) -> dict[str, str]:
    return cli_env(server.api_url, GAAMA_CACHE_DIR=str(cache), **extra)


async def _filled(server: ReleaseServer, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Publish two files and download them once, which puts both in the cache."""
    cache = tmp_path / "cache"
    env = _env(server, cache)
    digests = {}
    for name, size in (("model.bin", 200_000), ("config.json", 3_000)):
        digests[name] = write_random(tmp_path / name, size, seed=len(name))
    files = [str(tmp_path / n) for n in digests]
    assert (
        await run_gaama("publish", REPO, "--tag", "v1", *files, api_url=None, env=env)
    ).code == 0
    out = str(tmp_path / "out")
    got = await run_gaama("download", REPO, "--tag", "v1", "--dir", out, api_url=None, env=env)
    assert got.code == 0, got.err
    return cache, env | {"DIGEST_MODEL": digests["model.bin"]}


async def test_ls_shows_each_file_the_total_and_the_limit(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache, env = await _filled(server, tmp_path)
    env["GAAMA_CACHE_MAX_SIZE"] = "10G"
    run = await run_gaama("cache", "ls", api_url=None, env=env)
    assert run.code == 0, run.err
    assert "model.bin" in run.out and "config.json" in run.out
    assert (
        run.out.splitlines()[-1]
        == f"2 files, 198.2 KiB of 10.0 GiB (GAAMA_CACHE_MAX_SIZE) in {cache}"
    )
    listed = json.loads((await run_gaama("cache", "ls", "--json", api_url=None, env=env)).out)
    assert listed["max_size"] == 10 << 30 and listed["total_size"] == 203_000
    assert {tuple(e["names"]) for e in listed["entries"]} == {("model.bin",), ("config.json",)}


async def test_verify_removes_a_corrupt_entry_and_keeps_the_sound_one(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache, env = await _filled(server, tmp_path)
    entry = ContentCache(cache).entry(env["DIGEST_MODEL"])
    info = entry.stat()
    entry.chmod(0o644)
    with open(entry, "r+b") as handle:  # flip a byte, keep size and mtime: only a hash sees it
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(entry, ns=(info.st_atime_ns, info.st_mtime_ns))
    run = await run_gaama("cache", "verify", api_url=None, env=env)
    assert run.code == 0, run.err
    assert "removed corrupt" in run.out and "model.bin" in run.out
    assert run.out.splitlines()[-1] == "checked 2 file(s): 1 corrupt, 1 sound"
    assert not entry.exists()
    left = json.loads((await run_gaama("cache", "ls", "--json", api_url=None, env=env)).out)
    assert [e["names"] for e in left["entries"]] == [["config.json"]]


async def test_prune_to_a_size_drops_the_least_recently_used(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache, env = await _filled(server, tmp_path)
    used = await run_gaama(  # config.json placed from the cache: now the most recently used
        "download", REPO, "--tag", "v1", "--dir", str(tmp_path / "again"),
        "--include", "config.json", api_url=None, env=env,
    )  # fmt: skip
    assert used.err.splitlines()[-1].endswith("1 from the cache"), used.err
    limit = ("--max-size", "196K")  # 198.2 KiB in all: one file has to go
    dry = await run_gaama("cache", "prune", *limit, "--dry-run", api_url=None, env=env)
    assert dry.code == 0 and "would remove 1 file(s)" in dry.out
    listed = json.loads((await run_gaama("cache", "ls", "--json", api_url=None, env=env)).out)
    assert len(listed["entries"]) == 2  # the dry run removed nothing
    run = await run_gaama("cache", "prune", *limit, "--json", api_url=None, env=env)
    assert [e["names"] for e in json.loads(run.out)["removed"]] == [["model.bin"]]
    assert not ContentCache(cache).entry(env["DIGEST_MODEL"]).exists()


async def test_prune_by_age_and_its_usage_errors(server: ReleaseServer, tmp_path: Path) -> None:
    _, env = await _filled(server, tmp_path)
    kept = await run_gaama("cache", "prune", "--older-than", "30d", api_url=None, env=env)
    assert kept.code == 0 and kept.out.strip().endswith("removed 0 file(s), 0 B")
    gone = await run_gaama("cache", "prune", "--older-than", "0s", api_url=None, env=env)
    assert gone.code == 0 and "removed 2 file(s)" in gone.out
    bare = await run_gaama("cache", "prune", api_url=None, env=env)
    assert bare.code == 2 and "--max-size" in bare.error_line
    bad = await run_gaama("cache", "prune", "--older-than", "soon", api_url=None, env=env)
    assert bad.code == 2 and "not an age" in bad.error_line
    off = await run_gaama("cache", "ls", api_url=None, env=env | {"GAAMA_CACHE_DIR": "off"})
    assert off.code == 2 and "cache is off" in off.error_line


async def test_download_no_cache_and_offline_flags(server: ReleaseServer, tmp_path: Path) -> None:
    _, env = await _filled(server, tmp_path)
    server.counters.reset()
    out = tmp_path / "offline"
    offline = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(out), "--offline", api_url=None, env=env
    )
    assert offline.code == 0, offline.err
    assert (out / "model.bin").stat().st_size == 200_000
    assert server.counters.requests.total() == 0  # nothing asked of GitHub
    fresh = tmp_path / "fresh"
    direct = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(fresh), "--no-cache", api_url=None, env=env
    )
    assert direct.code == 0, direct.err
    assert server.counters.requests["storage"] == 3  # both files and the manifest, fetched
