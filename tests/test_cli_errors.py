"""Every exit code of README's table, from the real ``gaama`` process against the real server.

Each test checks the code and that stderr is exactly one ``gaama: error:`` line, without a
traceback. Faults are injected by the server, and its counters show they hit their target.
Exit 8 (local file errors) is in test_cli_hostile.py, 130 and 143 in test_cli_signals.py.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path

import aiohttp
import pytest
from cli_helpers import GAAMA, cli_env, run_command, run_gaama
from helpers import REPO, TOKEN, write_random

from gaama_async import AssetConflictError, DownloadError, GaAMA, GaamaError, NotFoundError
from gaama_async._cli_errors import EXIT_CODE_MEANINGS, Failure, Scene, describe
from gaama_async.cli import build_parser, main
from gaama_async.errors import TransferError
from gaama_async.server import Fault, ReleaseServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
README = Path(__file__).parent.parent / "README.md"


def test_readme_and_help_list_every_exit_code() -> None:
    table = re.findall(r"^\| (\d+) \| ", README.read_text(), flags=re.MULTILINE)
    assert [int(code) for code in table] == [code for code, _ in EXIT_CODE_MEANINGS]
    epilog = " ".join((build_parser().epilog or "").split())
    for code, meaning in EXIT_CODE_MEANINGS:
        assert f"{code} {meaning}" in epilog


async def test_0_success_prints_nothing_on_stderr(server: ReleaseServer, tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"m" * 100)
    run = await run_gaama(
        "publish", REPO, "--tag", "v1", "-q", str(tmp_path / "m.bin"), api_url=server.api_url
    )
    assert (run.code, run.err) == (0, "")
    assert run.out.startswith("published v1 (2 assets)")


async def test_1_github_error_of_no_particular_kind(server: ReleaseServer) -> None:
    fault = server.faults.add(Fault("status", route="api.get_release_by_tag", status=422))
    run = await run_gaama("ls", REPO, "--tag", "v1", api_url=server.api_url)
    assert run.code == 1
    assert "HTTP 422 for release 'v1'" in run.error_line
    assert fault.times == 0 and server.counters.statuses[422] == 1


PLANTED_BUG = """
import os, sys
from gaama_async import _commands, cli

async def broken(client, args):
    raise RuntimeError("planted bug, token " + os.environ["GITHUB_TOKEN"])

_commands.COMMANDS["ls"] = broken
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("debug", ["", "-v", "GAAMA_DEBUG=1"])
async def test_1_a_bug_is_one_line_and_its_traceback_is_opt_in(
    server: ReleaseServer, debug: str
) -> None:
    env = cli_env(server.api_url)
    if "=" in debug:
        env["GAAMA_DEBUG"] = "1"
    flags = [debug] if debug.startswith("-") else []
    command = [GAAMA[0], "-c", PLANTED_BUG, *flags, "ls", REPO, "--tag", "v1"]
    run = await run_command(command, env=env, deadline=60)

    assert run.code == 1 and TOKEN not in run.err
    last = run.err.splitlines()[-1]
    assert last.startswith("gaama: error: unexpected RuntimeError: planted bug, token ***")
    assert "a bug in gaama" in last
    if debug:
        assert run.err.startswith("Traceback (most recent call last):")
        assert 'File "<string>", line 6, in broken' in run.err
    else:
        assert run.error_line == last


@pytest.mark.parametrize(
    ("args", "variable", "said"),
    [
        (["--api-url", "localhost:8080"], None, "did you mean http://localhost:8080?"),
        ([], "localhost:8080", "GAAMA_API_URL: 'localhost:8080' is not an http"),
    ],
)
async def test_2_bad_usage_is_refused_before_any_request(
    server: ReleaseServer, args: list[str], variable: str | None, said: str
) -> None:
    run = await run_gaama("ls", REPO, *args, api_url=variable or server.api_url)
    assert run.code == 2
    assert said in run.error_line and "--help" in run.error_line
    assert server.counters.log == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ls", REPO, "--api-url", "http://"], "argument --api-url: 'http://' names no host"),
        (["ls", REPO, "--api-url", "ftp://h"], "'ftp://h' is not an http:// or https:// URL"),
        (
            ["download", REPO, "--concurrency", "0"],
            "argument --concurrency: must be at least 1, got 0",
        ),
        (["ls", REPO, "--retries", "x"], "argument --retries: 'x' is not a whole number"),
        (["ls", REPO, "--max-wait", "nan"], "argument --max-wait: must be 0 or more, got nan"),
        (["ls", "acme"], "argument OWNER/REPO: 'acme' is not OWNER/REPO"),
        (["serve", "--root", "r", "--port", "65535"], "--port: 65535 is not a port from 0 to"),
        (
            ["rm", REPO, "--tag", "v1"],
            "rm needs either NAME/--include patterns, --release or --draft",
        ),
        (["ls", REPO, "--tag"], "argument --tag: expected one argument"),
    ],
)
def test_2_every_usage_error_is_one_line(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    assert err.startswith("gaama: error: ") and said in err


async def test_3_wrong_token(server: ReleaseServer) -> None:
    wrong = "ghp_thisIsNotTheRightTokenAtAll0000000"
    run = await run_gaama("ls", REPO, "--tag", "v1", api_url=server.api_url, token=wrong)
    assert (run.code, run.out) == (3, "")
    assert "GITHUB_TOKEN" in run.error_line and wrong not in run.err
    assert server.counters.statuses[401] == 1


async def test_4_unknown_release(server: ReleaseServer, tmp_path: Path) -> None:
    run = await run_gaama(
        "download", REPO, "--tag", "nope", "--dir", str(tmp_path / "out"), api_url=server.api_url
    )
    assert run.code == 4 and "release 'nope'" in run.error_line
    assert not (tmp_path / "out").exists()


async def test_5_asset_conflict_says_overwrite(
    server: ReleaseServer, client: GaAMA, tmp_path: Path
) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"first")
    before = await client.publish("v1", [model])
    model.write_bytes(b"other")

    run = await run_gaama("publish", REPO, "--tag", "v1", "-q", str(model), api_url=server.api_url)

    assert run.code == 5
    assert "pass --overwrite to replace it" in run.error_line
    after = await client.list_assets("v1")
    assert [(a.name, a.digest) for a in after] == [(a.name, a.digest) for a in before.assets]


async def test_6_corrupt_bytes(server: ReleaseServer, client: GaAMA, tmp_path: Path) -> None:
    write_random(tmp_path / "w.bin", 64 * 1024)
    await client.publish("v1", [tmp_path / "w.bin"])
    # The manifest, read first, is shorter than after_bytes: only w.bin's bytes are flipped.
    server.faults.add(Fault("corrupt", route="storage", times=None, after_bytes=40_000))
    target = tmp_path / "out"

    run = await run_gaama("download", REPO, "--tag", "v1", "--dir", str(target), "-q",
                          api_url=server.api_url)  # fmt: skip

    assert run.code == 6 and "w.bin" in run.error_line
    assert server.counters.faults_injected["corrupt"] == 3  # manifest, w.bin, w.bin again
    assert not (target / "w.bin").exists()


async def test_7_rate_limited_past_the_wait(server: ReleaseServer) -> None:
    server.faults.add(Fault("primary_limit", route="api.*", times=None, retry_after=3600))
    run = await run_gaama("ls", REPO, "--tag", "v1", api_url=server.api_url)
    assert run.code == 7 and "pass a larger --max-wait" in run.error_line
    assert server.counters.faults_injected["primary_limit"] == 1  # no request after that


async def test_9_connection_refused_names_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    run = await run_gaama("ls", REPO, "--tag", "v1", "--retries", "1", api_url=url)
    assert run.code == 9
    assert f"cannot connect to {url}: connection refused; check --api-url" in run.error_line


async def test_9_transient_faults_past_the_retries(
    server: ReleaseServer, client: GaAMA, tmp_path: Path
) -> None:
    (tmp_path / "w.bin").write_bytes(b"w" * 1000)
    await client.publish("v1", [tmp_path / "w.bin"])
    server.faults.add(Fault("status", route="storage", status=503, times=None))
    server.counters.reset()

    run = await run_gaama("download", REPO, "--tag", "v1", "--dir", str(tmp_path / "out"),
                          "--retries", "2", "-q", api_url=server.api_url)  # fmt: skip

    assert run.code == 9 and "try again" in run.error_line
    assert server.counters.faults_injected["status"] == server.counters.requests["storage"] == 2


# -- the pure decisions behind those lines (no process, no server) -------------------------

DOWNLOAD = Scene(api_url="http://127.0.0.1:9", folder="models", flag="--dir")


def _os_error(number: int, filename: str | None = None) -> OSError:
    return OSError(number, os.strerror(number), filename)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (_os_error(errno.ENOSPC, "models/w.bin"), "no space left on the device holding models;"),
        (_os_error(errno.EDQUOT, "models/w.bin"), "no space left on the device holding models;"),
        (_os_error(errno.EROFS, "models/.w.part"), "models is on a read-only file system;"),
        (_os_error(errno.EACCES, "models"), "cannot write in models: permission denied;"),
        (_os_error(errno.EPERM, "models/a"), "cannot write in models: permission denied;"),
        (_os_error(errno.EACCES, "/etc/x"), "cannot read /etc/x: permission denied;"),
        (_os_error(errno.ENOENT, "in.bin"), "in.bin does not exist"),
        (_os_error(errno.EISDIR, "models/w.bin"), "models/w.bin is a folder, not a file"),
        (_os_error(errno.ENOTDIR, "models/a/b"), "part of this path is a file, not a folder;"),
        (_os_error(errno.EMFILE), "too many open files; pass a lower --concurrency"),
        (_os_error(errno.EIO, "models/w.bin"), "models: Input/output error"),
    ],
)
def test_local_errors_are_named_by_errno(error: OSError, said: str) -> None:
    failure = describe(error, DOWNLOAD)
    assert failure.code == 8 and said in failure.message


def test_a_generic_error_takes_the_code_and_words_of_its_cause() -> None:
    try:
        try:
            raise _os_error(errno.ENOSPC, "models/w.bin")
        except OSError as exc:
            raise DownloadError("Could not write 'w.bin'.") from exc
    except DownloadError as wrapped:
        failure = describe(ExceptionGroup("task group", [wrapped]), DOWNLOAD)
    assert failure == Failure("no space left on the device holding models; "
                              "free some space or pass another --dir", 8)  # fmt: skip


def test_a_specific_error_keeps_its_own_code_and_library_words_become_flags() -> None:
    conflict = AssetConflictError("'v1' already has 'a': pass overwrite=True to replace it.")
    failure = describe(conflict, DOWNLOAD)
    assert failure == Failure("'v1' already has 'a': pass --overwrite to replace it.", 5)
    assert describe(TransferError("upload failed after 5 tries"), DOWNLOAD).code == 9


def test_a_refused_connection_to_another_origin_names_that_origin() -> None:
    key = type("Key", (), {"host": "10.0.0.2", "port": 8081, "ssl": False})()
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(errno.ECONNREFUSED, "x"))  # type: ignore[arg-type]
    try:
        raise GaamaError("GitHub kept failing") from refused
    except GaamaError as error:
        failure = describe(error, DOWNLOAD)
    assert failure == Failure("cannot connect to 10.0.0.2:8081: connection refused; "
                              "check that the server is running, then run again", 9)  # fmt: skip


def test_messages_are_one_line_without_secrets() -> None:
    failure = describe(GaamaError("bad\n\n token s3cret  \nhere"), DOWNLOAD, secrets=["s3cret", ""])
    assert failure.message == "bad token *** here"


def test_only_an_explicit_cause_decides() -> None:
    try:
        try:
            raise NotFoundError("probe: no release v1")
        except NotFoundError:
            raise GaamaError("GitHub answered HTTP 500 for release 'v1'") from None
    except GaamaError as error:
        assert describe(error, DOWNLOAD).code == 1
    try:
        try:
            raise NotFoundError("probe: no release v1")
        except NotFoundError:
            raise GaamaError("could not publish v1")  # noqa: B904 (the point of the test)
    except GaamaError as error:
        assert describe(error, DOWNLOAD).code == 1


def test_serve_names_the_port_it_could_not_bind() -> None:
    serve = Scene(folder="gh", flag="--root", address="127.0.0.1:8080")
    bind = "error while attempting to bind on address ('127.0.0.1', 8082): address already in use"
    assert describe(OSError(errno.EADDRINUSE, bind), serve) == Failure(
        "cannot listen on 127.0.0.1:8082: address already in use; "
        "check that the port is free or pass --port", 8)  # fmt: skip
    denied = describe(OSError(errno.EACCES, "Permission denied"), serve)
    assert denied.message.startswith("cannot listen on 127.0.0.1:8080: permission denied;")
    assert describe(_os_error(errno.EACCES, "gh/state.json"), serve).message == (
        "cannot write in gh: permission denied; fix its permissions or pass another --root"
    )
