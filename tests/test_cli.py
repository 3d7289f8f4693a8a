"""The ``gaama`` command, run as a real process against the real local server."""

from __future__ import annotations

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
    assert code == 0 and "notes.v1.txt" in out and "uploaded" in out

    code, out, err = await gaama(
        server, "download", REPO, "--dir", str(tmp_path / "out"), "--include", "*.txt"
    )
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / "out" / "notes v1.txt")]
    assert "downloaded notes v1.txt" in err  # plain progress lines when not a terminal


async def test_errors_are_one_line_with_an_exit_code_by_type(
    server: ReleaseServer, tmp_path: Path
) -> None:
    wrong = "ghp_thisIsNotTheRightTokenAtAll0000000"
    code, out, err = await gaama(server, "ls", REPO, "--tag", "v1", token=wrong)
    assert (code, out) == (3, "")
    assert err.count("\n") == 1 and "Traceback" not in err and wrong not in err

    code, _, err = await gaama(server, "download", REPO, "--tag", "nope", "--dir", str(tmp_path))
    assert code == 4 and "release 'nope'" in err

    code, _, err = await gaama(server, "publish", REPO, str(tmp_path / "missing.bin"))
    assert code == 1 and "does not exist" in err


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
