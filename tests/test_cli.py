"""The ``gaama`` command, run as a real process against the real local server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from helpers import REPO, TOKEN

from gaama_async import __version__
from gaama_async.server import Fault, ReleaseServer
from gaama_async.server.faults import parse_fault

pytestmark = pytest.mark.anyio


async def gaama(server: ReleaseServer, *args: str, token: str = TOKEN) -> tuple[int, str, str]:
    env = {**os.environ, "GITHUB_TOKEN": token, "GAAMA_API_URL": server.api_url}
    env.pop("GH_TOKEN", None)
    result = await anyio.run_process(
        [sys.executable, "-m", "gaama_async", *args], env=env, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_publish_ls_download_round_trip(server: ReleaseServer, tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"w" * 5000)
    (tmp_path / "notes v1.txt").write_bytes(b"hello")

    code, out, err = await gaama(
        server,
        "publish",
        REPO,
        "--tag",
        "v1",
        str(tmp_path / "w.bin"),
        str(tmp_path / "notes v1.txt"),
    )
    assert code == 0, err
    assert out.startswith("published v1 (3 assets)")

    code, out, _ = await gaama(server, "ls", REPO, "--tag", "v1")
    assert code == 0 and "notes v1.txt  (stored as notes.v1.txt)" in out, out

    code, out, err = await gaama(
        server, "download", REPO, "--dir", str(tmp_path / "out"), "--include", "*.txt"
    )
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / "out" / "notes v1.txt")]
    assert "downloaded notes v1.txt" in err  # plain progress lines when not a terminal


async def test_a_missing_file_to_publish_is_one_line(server: ReleaseServer, tmp_path: Path) -> None:
    """Every exit code has its test in test_cli_errors.py; this is the library's own check."""
    code, _, err = await gaama(server, "publish", REPO, str(tmp_path / "missing.bin"))
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err
    assert server.counters.log == []  # checked before any request


async def test_version_and_help(server: ReleaseServer) -> None:
    assert (await gaama(server, "--version"))[1].strip() == f"gaama {__version__}"
    code, out, _ = await gaama(server, "download", "--help")
    assert code == 0 and "--include" in out


def test_fault_flags_parse_into_faults() -> None:
    fault = parse_fault("cut@storage,after_bytes=65536,times=forever,probability=0.5")
    assert fault == Fault("cut", route="storage", times=None, after_bytes=65536, probability=0.5)
    assert parse_fault("status").route == "*"
    for bad in ("explode", "status,colour=red", "status,times"):
        with pytest.raises(ValueError):
            parse_fault(bad)


async def _publish_three(server: ReleaseServer, tmp_path: Path) -> None:
    for name in ("a.bin", "b.bin", "keep.txt"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    files = [str(tmp_path / n) for n in ("a.bin", "b.bin", "keep.txt")]
    code, _, err = await gaama(server, "publish", REPO, "--tag", "v1", "-q", *files)
    assert code == 0, err


async def _names(server: ReleaseServer, tag: str = "v1") -> list[str]:
    code, out, err = await gaama(server, "ls", REPO, "--tag", tag, "--json")
    assert code == 0, err
    return sorted(row["name"] for row in json.loads(out))


async def test_output_through_a_pipe_is_complete_after_the_quick_exit(
    server: ReleaseServer, tmp_path: Path
) -> None:
    """``gaama`` ends without the interpreter's teardown (``cli.run``); output that a pipe's
    buffer still held must be written first. The tests' environment sets PYTHONUNBUFFERED,
    which would hide a lost buffer: this run goes without it."""
    await _publish_three(server, tmp_path)
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    env.pop("PYTHONUNBUFFERED", None)
    command = [sys.executable, "-m", "gaama_async", "ls", REPO, "--tag", "v1", "--json"]

    result = await anyio.run_process(command, env=env, check=False)

    assert result.returncode == 0, result.stderr.decode()
    assert sorted(row["name"] for row in json.loads(result.stdout)) == [
        "a.bin", "b.bin", "gaama-manifest.json", "keep.txt"
    ]  # fmt: skip


async def test_rm_assets_by_glob_updates_the_manifest(
    server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_three(server, tmp_path)

    code, out, err = await gaama(
        server, "rm", REPO, "--tag", "v1", "--include", "*.bin", "--exclude", "b*", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == {"tag": "v1", "dry_run": False, "deleted": ["a.bin"]}
    assert await _names(server) == ["b.bin", "gaama-manifest.json", "keep.txt"]

    code, out, err = await gaama(
        server, "download", REPO, "--tag", "v1", "--dir", str(tmp_path / "out"), "--json"
    )
    assert code == 0, err
    assert sorted(Path(p).name for p in json.loads(out)["files"]) == ["b.bin", "keep.txt"]

    code, out, _ = await gaama(server, "rm", REPO, "--tag", "v1", "b.bin", "keep.txt")
    assert code == 0 and out.splitlines()[0] == "deleted gaama-manifest.json"
    assert await _names(server) == []


async def test_rm_release_and_usage_errors(server: ReleaseServer, tmp_path: Path) -> None:
    await _publish_three(server, tmp_path)
    assert (await gaama(server, "rm", REPO, "--tag", "v1"))[0] == 2
    assert (await gaama(server, "rm", REPO, "--tag", "v1", "--release", "a.bin"))[0] == 2
    assert (await gaama(server, "rm", REPO, "--release"))[0] == 2

    code, out, err = await gaama(server, "rm", REPO, "--tag", "v1", "--release", "--json")
    assert code == 0, err
    assert json.loads(out)["release"]["tag"] == "v1"
    code, _, err = await gaama(server, "ls", REPO, "--tag", "v1")
    assert code == 4 and "release 'v1'" in err


async def test_dry_run_changes_nothing(server: ReleaseServer, tmp_path: Path) -> None:
    await _publish_three(server, tmp_path)
    writes = {"POST", "PATCH", "PUT", "DELETE"}
    before = sum(r.method in writes for r in server.counters.log)
    (tmp_path / "new.bin").write_bytes(b"new")

    code, out, err = await gaama(
        server, "publish", REPO, "--tag", "v1", "--dry-run", "--json", str(tmp_path / "new.bin")
    )
    assert code == 0, err
    assert json.loads(out) == {
        "dry_run": True,
        "tag": "v1",
        "release_exists": True,
        "upload": [{"name": "new.bin", "size": 3}],
        "replace": [],
        "skip": [],
        "empty": [],
    }
    code, out, err = await gaama(
        server, "publish", REPO, "--tag", "v9", "--dry-run", str(tmp_path / "new.bin")
    )
    assert code == 0 and out.startswith("would create release v9"), err

    target = tmp_path / "dl"
    code, out, err = await gaama(
        server,
        "download",
        REPO,
        "--tag",
        "v1",
        "--dir",
        str(target),
        "--dry-run",
        "--include",
        "*.bin",
    )
    assert code == 0, err
    assert out.splitlines() == [
        f"release v1: would write 2 files in {target}",
        "  download a.bin",
        "  download b.bin",
    ]
    assert not target.exists()

    code, out, err = await gaama(server, "rm", REPO, "--tag", "v1", "*", "--dry-run")
    assert code == 0, err
    assert sorted(out.splitlines()) == [
        f"would delete {n}" for n in ("a.bin", "b.bin", "gaama-manifest.json", "keep.txt")
    ]
    code, out, err = await gaama(server, "rm", REPO, "--tag", "v1", "--release", "--dry-run")
    assert (code, out) == (0, "would delete release v1 (4 assets)\n"), err

    assert sum(r.method in writes for r in server.counters.log) == before
    assert await _names(server) == ["a.bin", "b.bin", "gaama-manifest.json", "keep.txt"]


async def test_publish_json_and_per_command_verbose(server: ReleaseServer, tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"m" * 10)
    code, out, err = await gaama(
        server,
        "publish",
        REPO,
        "--tag",
        "v2",
        "--prerelease",
        "--json",
        "--verbose",
        "--quiet",
        str(tmp_path / "m.bin"),
    )
    assert code == 0, err
    release = json.loads(out)
    assert release["tag"] == "v2" and release["prerelease"] is True
    assert {a["name"] for a in release["assets"]} == {"m.bin", "gaama-manifest.json"}
    code, out, _ = await gaama(server, "rm", "--help")
    assert code == 0 and "examples:" in out and "gaama rm acme/models --tag v1 --release" in out


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; return its exit code and what it drew."""
    import pty
    import subprocess

    master, slave = pty.openpty()
    with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=slave) as process:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=60)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


async def test_progress_is_live_on_a_terminal_and_plain_lines_otherwise(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))
    (tmp_path / "small.txt").write_bytes(b"s")
    files = [str(tmp_path / "big.bin"), str(tmp_path / "small.txt")]
    env = {
        **os.environ,
        "GITHUB_TOKEN": TOKEN,
        "GAAMA_API_URL": server.api_url,
        "TERM": "xterm",
        "COLUMNS": "120",
    }
    env.pop("GH_TOKEN", None)
    command = [sys.executable, "-m", "gaama_async", "publish", REPO, "--tag", "v1", *files]
    code, drawn = await anyio.to_thread.run_sync(_run_on_a_terminal, command, env)

    assert code == 0, drawn
    assert "2/2 files" in drawn and "MiB/s" in drawn and "ETA" in drawn
    assert "3.0/3.0 MiB" in drawn and "\x1b[" in drawn  # rich's bars, redrawn in place
    assert "uploaded big.bin" not in drawn

    code, _, err = await gaama(
        server, "download", REPO, "--tag", "v1", "--dir", str(tmp_path / "o")
    )
    assert code == 0, err
    *lines, summary = err.splitlines()
    assert sorted(lines) == ["downloaded big.bin (3.0 MiB)", "downloaded small.txt (1 B)"]
    assert summary == "downloaded 2 files (3.0 MiB)"  # then a one-line summary
