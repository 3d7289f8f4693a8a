"""Hostile local places, each planted for the real ``gaama`` command: exit 8 and one line.

Each test also checks that nothing outside changed: the planted thing is as it was, and the
server holds no release the failed command would have made.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
from pathlib import Path

import pytest
from cli_helpers import (
    GAAMA,
    cli_env,
    in_private_mount,
    private_mounts,
    releases_on,
    run_command,
    run_gaama,
    without_root_powers,
)
from helpers import REPO, write_random

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _unprivileged() -> tuple[str, ...]:
    prefix = without_root_powers()
    if isinstance(prefix, str):
        pytest.skip(prefix)
    return prefix


def _mounts() -> None:
    reason = private_mounts()
    if reason is not None:
        pytest.skip(reason)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its mode and size."""
    found = {".": (folder.stat().st_mode, 0)}
    for path in folder.rglob("*"):
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_size)
    return found


@pytest.fixture
async def published(client: GaAMA, tmp_path: Path) -> str:
    """Release v1 holding w.bin (2 MiB, more than the 1 MiB disk below can hold)."""
    (tmp_path / "src").mkdir()
    write_random(tmp_path / "src" / "w.bin", 2 << 20)
    await client.publish("v1", [tmp_path / "src" / "w.bin"])
    return "v1"


async def test_read_only_destination_folder(
    server: ReleaseServer, published: str, tmp_path: Path
) -> None:
    prefix = _unprivileged()
    target = tmp_path / "locked"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"mine")
    target.chmod(0o555)
    before = _snapshot(target)

    run = await run_gaama("download", REPO, "--tag", published, "--dir", str(target), "-q",
                          api_url=server.api_url, prefix=prefix)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: cannot write in {target}: permission denied; "
        "fix its permissions or pass another --dir"
    )
    assert _snapshot(target) == before


async def test_unreadable_file_to_publish(server: ReleaseServer, tmp_path: Path) -> None:
    prefix = _unprivileged()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"s" * 100)
    secret.chmod(0)

    run = await run_gaama("publish", REPO, "--tag", "v1", "-q", str(secret),
                          api_url=server.api_url, prefix=prefix)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: cannot read {secret}: permission denied; fix its permissions"
    )
    assert stat.S_IMODE(secret.stat().st_mode) == 0
    assert await releases_on(server.api_url) == []  # no draft left behind


async def test_dir_naming_a_file(server: ReleaseServer, published: str, tmp_path: Path) -> None:
    planted = tmp_path / "not-a-folder"
    planted.write_bytes(b"precious")

    run = await run_gaama("download", REPO, "--tag", published, "--dir", str(planted), "-q",
                          api_url=server.api_url)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: {planted} already exists and is not a folder; pass --dir a folder"
    )
    assert planted.read_bytes() == b"precious"


async def test_serve_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = await run_gaama("serve", "--root", str(tmp_path / "gh"), "--enterprise",
                              "--port", str(port), api_url=None)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: cannot listen on 127.0.0.1:{port}: address already in use; "
        "check that the port is free or pass --port"
    )
    assert run.out == ""  # it never claimed to be serving


async def test_full_disk(server: ReleaseServer, published: str, tmp_path: Path) -> None:
    _mounts()
    target = tmp_path / "small-disk"
    target.mkdir()
    prefix = in_private_mount('mount -t tmpfs -o size=1m gaama-full "$0"', target)

    run = await run_gaama("download", REPO, "--tag", published, "--dir", str(target), "-q",
                          api_url=server.api_url, prefix=prefix)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: Not enough free space in '{target}' (0 bytes free): "
        "free some space and run the download again."
    )
    assert os.listdir(target) == []  # the disk was the process's own, gone with it


async def test_read_only_file_system(server: ReleaseServer, published: str, tmp_path: Path) -> None:
    _mounts()
    target = tmp_path / "read-only"
    target.mkdir()
    prefix = in_private_mount('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"', target)

    run = await run_gaama("download", REPO, "--tag", published, "--dir", str(target), "-q",
                          api_url=server.api_url, prefix=prefix)  # fmt: skip

    assert run.code == 8
    assert run.error_line == (
        f"gaama: error: {target} is on a read-only file system; "
        "remount it read-write or pass another --dir"
    )
    assert os.listdir(target) == []


async def test_a_reader_that_closes_the_pipe_is_not_an_error(
    server: ReleaseServer, published: str
) -> None:
    """`gaama ls --json | true`: the reader is gone before gaama writes; no error line, no
    "Exception ignored" at exit, and 141 (128 + SIGPIPE) as a shell's own tools exit."""
    gaama = " ".join(shlex.quote(part) for part in GAAMA)
    script = f"{gaama} ls {REPO} --tag {published} --json | true; exit ${{PIPESTATUS[0]}}"
    run = await run_command(["bash", "-c", script], env=cli_env(server.api_url), deadline=60)

    assert run.code == 141
    assert run.err == ""
