"""The rough edges a new user met, each fixed, run as the real ``gaama`` command."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import anyio
import pytest
from cli_helpers import GAAMA, cli_env, run_gaama, serve_lines_until_ready, without_root_powers
from helpers import REPO, TOKEN, kill_once_recorded, write_random

from gaama_async import ProgressEvent
from gaama_async._console import ConsoleProgress
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio


async def _publish(server: ReleaseServer, tmp_path: Path, *names: str) -> None:
    paths = []
    for name in names:
        path = tmp_path / "src" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"" if name.startswith("empty") else name.encode() * 10)
        paths.append(str(path))
    run = await run_gaama("publish", REPO, "--tag", "v1", *paths, api_url=server.api_url)
    assert run.code == 0, run.err


async def test_a_selection_matching_nothing_is_exit_4_naming_what_there_is(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(server, tmp_path, "my notes.txt", "empty.txt")
    out = str(tmp_path / "out")
    got = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", out, "--include", "*.bin", api_url=server.api_url
    )
    assert got.code == 4
    assert "'*.bin'" in got.error_line and "it holds: empty.txt, my notes.txt." in got.error_line
    assert server.counters.requests["storage"] == 1  # the manifest only: nothing fetched
    gone = await run_gaama("rm", REPO, "--tag", "v1", "nope.bin", api_url=server.api_url)
    assert gone.code == 4 and "it holds: empty.txt, my notes.txt." in gone.error_line


async def test_rm_removes_an_empty_file_for_good(server: ReleaseServer, tmp_path: Path) -> None:
    await _publish(server, tmp_path, "a.txt", "empty.txt")
    run = await run_gaama("rm", REPO, "--tag", "v1", "empty.txt", api_url=server.api_url)
    assert (run.code, run.out) == (0, "deleted empty.txt\n"), run.err
    out = tmp_path / "out"
    got = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(out), api_url=server.api_url
    )
    assert got.code == 0, got.err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.txt"]


async def test_the_token_hint_names_the_variable_used(server: ReleaseServer) -> None:
    for variable in ("GITHUB_TOKEN", "GH_TOKEN"):
        env = cli_env(server.api_url)
        env.pop("GITHUB_TOKEN")
        env[variable] = "wrong-token"
        run = await run_gaama("ls", REPO, "--tag", "v1", api_url=None, env=env)
        assert run.code == 3, run.err
        assert f"check that {variable} holds" in run.error_line


async def test_one_asset_is_singular(server: ReleaseServer, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    run = await run_gaama(
        "publish", REPO, "--tag", "v1", str(tmp_path / "a.txt"), api_url=server.api_url
    )
    assert run.out.startswith("published v1 (2 assets)")  # the file and the manifest
    removed = await run_gaama("rm", REPO, "--tag", "v1", "--release", api_url=server.api_url)
    assert removed.out == "deleted release v1 (2 assets)\n"
    run = await run_gaama(
        "publish", REPO, "--tag", "v2", str(tmp_path / "b.txt"), "--json", api_url=server.api_url
    )
    assert run.code == 0


async def test_usage_errors_and_help_are_per_command() -> None:
    rm = await run_gaama("rm", REPO, "x.bin", api_url=None)
    assert rm.code == 2 and rm.error_line.endswith("(see 'gaama rm --help')")
    ls = await run_gaama("ls", REPO, "--concurrency", "4", api_url=None)
    assert ls.code == 2 and "unrecognized arguments: --concurrency" in ls.error_line
    assert "(see 'gaama ls --help')" in ls.error_line
    helps = {
        c: " ".join((await run_gaama(c, "--help", api_url=None)).out.split())
        for c in ("publish", "ls", "rm")
    }
    assert "today's date" in helps["publish"] and "today's date" not in helps["ls"]
    assert "latest release" in helps["ls"] and "(required)" in helps["rm"]
    for text in helps.values():
        assert "GAAMA_CACHE_DIR" in text and "GAAMA_OFFLINE" in text and "HTTPS_PROXY" in text


async def test_serve_exits_0_on_ctrl_c(tmp_path: Path) -> None:
    command = [*GAAMA, "serve", "--root", str(tmp_path / "s"), "--port", "0", "--token", TOKEN]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    async with await anyio.open_process(command, env=env) as serving:
        await serve_lines_until_ready(serving)
        serving.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            assert await serving.wait() == 0


async def test_ls_shows_original_names_empty_files_and_the_resolved_tag(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(server, tmp_path, "my notes.txt", "empty.txt")
    run = await run_gaama("ls", REPO, api_url=server.api_url)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"latest release: v1 of {REPO}, 2 files, 120 B"
    assert any("my notes.txt" in line and "(stored as my.notes.txt)" in line for line in lines)
    assert any("empty.txt" in line and "empty: kept in the manifest" in line for line in lines)
    rows = json.loads((await run_gaama("ls", REPO, "--json", api_url=server.api_url)).out)
    assert {r["name"]: r["file"] for r in rows} == {
        "my.notes.txt": "my notes.txt",
        "gaama-manifest.json": None,
    }


async def test_ls_offline_lists_the_folder_record_and_asks_github_nothing(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(server, tmp_path, "my notes.txt")
    out = str(tmp_path / "out")
    got = await run_gaama("download", REPO, "--tag", "v1", "--dir", out, api_url=server.api_url)
    assert got.code == 0, got.err
    server.counters.reset()
    env = cli_env(server.api_url, GAAMA_OFFLINE="1")
    run = await run_gaama("ls", REPO, "--dir", out, api_url=None, env=env)
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        f"offline: 1 file verified in {out}, 120 B",
        "      120 B  my notes.txt",
    ]
    assert server.counters.requests.total() == 0
    bare = await run_gaama("ls", REPO, "--offline", api_url=server.api_url)
    assert bare.code == 2 and "--dir" in bare.error_line


def test_progress_counts_files_not_parts_nor_the_manifest() -> None:
    stream = io.StringIO()
    progress = ConsoleProgress(stream)
    for part in ("big.bin.part001", "big.bin.part002"):
        progress(ProgressEvent("start", "upload", part, 10, file="big.bin"))
    progress(ProgressEvent("start", "upload", "gaama-manifest.json", 5))
    progress(ProgressEvent("done", "upload", "big.bin.part001", 10, file="big.bin"))
    assert (progress.files_done, progress.files_total) == (0, 1)
    progress(ProgressEvent("done", "upload", "big.bin.part002", 10, file="big.bin"))
    progress(ProgressEvent("done", "upload", "gaama-manifest.json", 5))
    assert (progress.files_done, progress.files_total) == (1, 1)


async def test_download_progress_shows_retries_and_a_summary(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(server, tmp_path, "model.bin", "config.json")
    server.faults.add(Fault("status", route="storage", asset="model.bin", status=502))
    cache = tmp_path / "cache"
    env = cli_env(server.api_url, GAAMA_CACHE_DIR=str(cache))
    out = str(tmp_path / "out")
    args = ("download", REPO, "--tag", "v1", "--dir", out)
    first = await run_gaama(*args, api_url=None, env=env)
    assert first.code == 0, first.err
    assert server.counters.hits("status", "model.bin") == 1
    assert "gaama: retrying after storage answered HTTP 502 for 'model.bin'" in first.err
    assert first.err.splitlines()[-1] == "downloaded 2 files (200 B)"
    again = await run_gaama(*args, api_url=None, env=env)
    assert again.err.splitlines()[-1] == "downloaded 0 files (0 B), 2 already present"
    elsewhere = await run_gaama(*args[:-1], str(tmp_path / "two"), api_url=None, env=env)
    assert elsewhere.err.splitlines()[-1] == "downloaded 0 files (0 B), 2 from the cache"


async def test_a_killed_download_resumes_and_says_so(server: ReleaseServer, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    write_random(big, 24 << 20, seed=9)
    published = await run_gaama("publish", REPO, "--tag", "v1", str(big), api_url=server.api_url)
    assert published.code == 0, published.err
    server.config.bandwidth = 8 << 20  # per connection: the kill lands mid-transfer
    out = tmp_path / "out"
    env = cli_env(server.api_url)
    command = [*GAAMA, "download", REPO, "--tag", "v1", "--dir", str(out)]
    assert await kill_once_recorded(command, env, out, at_least=1 << 20) >= 1 << 20
    server.config.bandwidth = None
    run = await run_gaama("download", REPO, "--tag", "v1", "--dir", str(out), api_url=None, env=env)
    assert run.code == 0, run.err
    assert "gaama: resuming 'big.bin' with" in run.err and "MiB already on disk" in run.err
    assert run.err.splitlines()[-1].startswith("downloaded 1 file (")


async def test_publish_dry_run_plans_as_the_real_run(server: ReleaseServer, tmp_path: Path) -> None:
    await _publish(server, tmp_path, "same.txt", "other.txt")
    src = tmp_path / "src"
    (src / "other.txt").write_bytes(b"changed")
    (src / "empty.txt").write_bytes(b"")
    (src / "new.txt").write_bytes(b"new")
    writes_before = sum(r.method != "GET" for r in server.counters.log)
    files = [str(src / n) for n in ("same.txt", "other.txt", "empty.txt", "new.txt")]
    conflict = await run_gaama(
        "publish", REPO, "--tag", "v1", "--dry-run", *files, api_url=server.api_url
    )
    assert conflict.code == 5 and "--overwrite" in conflict.error_line  # as the real run
    run = await run_gaama(
        "publish", REPO, "--tag", "v1", "--dry-run", "--overwrite", *files, api_url=server.api_url
    )
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "would add to release v1:",
        "  upload new.txt (3 B)",
        "  replace other.txt (7 B)",
        "  skip same.txt (identical file already there)",
        "  record empty.txt (empty: kept in the manifest, no asset)",
    ]
    missing = await run_gaama(
        "publish", REPO, "--tag", "v1", "--dry-run", str(src / "nope"), api_url=server.api_url
    )
    assert missing.code == 1 and "does not exist" in missing.error_line
    assert sum(r.method != "GET" for r in server.counters.log) == writes_before


async def test_download_dry_run_names_files_as_on_disk_and_what_is_there(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(server, tmp_path, "my notes.txt", "empty.txt", "b.bin")
    out = tmp_path / "out"
    first = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(out), "--include", "b.bin",
        api_url=server.api_url,
    )  # fmt: skip
    assert first.code == 0, first.err
    real = json.loads(
        (await run_gaama(
            "download", REPO, "--tag", "v1", "--dir", str(out), "--json", api_url=server.api_url
        )).out
    )  # fmt: skip
    (out / "my notes.txt").unlink()
    run = await run_gaama(
        "download", REPO, "--tag", "v1", "--dir", str(out), "--dry-run", api_url=server.api_url
    )
    assert run.out.splitlines() == [
        f"release v1: would write 3 files in {out}",
        "  download my notes.txt",
        "  keep b.bin (already present, verified)",
        "  create empty.txt (empty)",
    ]
    dry = json.loads(
        (await run_gaama(
            "download", REPO, "--tag", "v1", "--dir", str(out), "--dry-run", "--json",
            api_url=server.api_url,
        )).out
    )  # fmt: skip
    assert dry["files"] == real["files"] and real["dry_run"] is False and dry["dry_run"] is True
    assert dry["present"] == [str(out / "b.bin")]
    assert not (out / "my notes.txt").exists()


async def test_an_unreadable_file_is_refused_before_anything_is_written(
    server: ReleaseServer, tmp_path: Path
) -> None:
    prefix = without_root_powers()
    if isinstance(prefix, str):
        pytest.skip(prefix)
    (tmp_path / "ok.txt").write_text("ok")
    locked = tmp_path / "locked.bin"
    locked.write_bytes(b"secret")
    locked.chmod(0)
    files = [str(tmp_path / "ok.txt"), str(locked)]
    for dry in (["--dry-run"], []):
        run = await run_gaama(
            "publish", REPO, "--tag", "v1", *dry, *files, api_url=server.api_url, prefix=prefix
        )
        assert run.code == 8, run.err
        assert "cannot read" in run.error_line and "locked.bin" in run.error_line
    assert server.counters.requests["api.create_release"] == 0
