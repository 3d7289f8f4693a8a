"""The ``gaama`` command: a thin layer over the library, with exit codes by error type."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import urlsplit

import anyio

from . import _cmd_registry
from ._cli_cache import EXAMPLES as EXAMPLES_CACHE
from ._cli_cache import add_cache_arguments
from ._cli_errors import EXIT_CODE_MEANINGS, EXIT_CODES, Scene, describe, innermost, redact
from ._commands import run_command
from ._config import DEFAULT_API_URL, DEFAULT_CONCURRENCY, RepoRef
from ._version import __version__

__all__ = ["EXIT_CODES", "build_parser", "main"]


def _exit_code_lines(width: int = 88) -> str:
    """The exit codes for --help, wrapped between entries, never inside one."""
    lines, line = [], "exit codes:"
    for code, meaning in EXIT_CODE_MEANINGS:
        entry = f" {code} {meaning},"
        if len(line) + len(entry) > width:
            lines.append(line)
            line = " " * len("exit codes:")
        line += entry
    return "\n".join([*lines, line.rstrip(",")])


COMMON = f"""\
{_exit_code_lines()}

environment: GITHUB_TOKEN (or GH_TOKEN) the token; GAAMA_API_URL (or GITHUB_API_URL)
             the API base, e.g. https://HOST/api/v3 for GitHub Enterprise;
             GAAMA_CACHE_DIR the download cache's folder (or off); GAAMA_CACHE_MAX_SIZE
             its limit (50G); GAAMA_OFFLINE=1 downloads from the cache only;
             GAAMA_API_CONCURRENCY API requests in flight (32; hosts sharing a
             token share GitHub's 100, so a fleet of N sets about 100/N);
             HTTPS_PROXY, HTTP_PROXY, NO_PROXY a forward proxy; REQUESTS_CA_BUNDLE or
             SSL_CERT_FILE a corporate CA bundle;
             GAAMA_DEBUG=1 prints the traceback of an unexpected error
"""
# SIGINT (Ctrl+C) and SIGTERM cancel the command, so that cleanup (e.g. removing a
# publish's draft) runs; the exit code is then 128 + the signal number (130, 143).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What to do after an interrupted command.
RERUN_HINTS = {
    "download": "; run the same command again: it resumes from what is on disk",
    "publish": "; its draft was removed: run the same command again to publish",
}
# Commands that talk to no GitHub: no --api-url to check.
LOCAL_COMMANDS = ("serve", "cache")
EXAMPLES = {
    "gaama": """\
  gaama serve --root ./gh-data
  gaama publish acme/models --tag v1 model.safetensors config.json
  gaama download acme/models --tag v1 --dir models/ --include '*.safetensors'
  gaama ls acme/models --tag v1
  gaama rm acme/models --tag v1 'old-*.bin'
""",
    "cache": EXAMPLES_CACHE,
    "serve": """\
  gaama serve --root ./gh-data --token dev-token
  gaama serve --root ./gh-data --enterprise --fault 'cut@storage,after_bytes=65536'
""",
    "publish": """\
  gaama publish acme/models --tag v1 model.safetensors config.json
  gaama publish acme/models --tag v1 --overwrite model.safetensors
  gaama publish acme/models --tag v2 --draft --dry-run weights/*.bin
  gaama publish acme/models --tag v1 --json model.bin | jq -r .html_url
""",
    "download": """\
  gaama download acme/models --tag v1 --dir models/
  gaama download acme/models --dir models/ --include '*.safetensors' --exclude '*-ema*'
  gaama download acme/models --tag v1 --dry-run --json
""",
    "ls": """\
  gaama ls acme/models
  gaama ls acme/models --tag v1 --json | jq -r '.[].name'
""",
    **_cmd_registry.EXAMPLES,
    "rm": """\
  gaama rm acme/models --tag v1 old.bin 'ckpt-*.pt'
  gaama rm acme/models --tag v1 --include '*.pt' --exclude 'ckpt-final.pt' --dry-run
  gaama rm acme/models --tag v1 --release
""",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error (and still exits 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"gaama: error: {message} (see '{self.prog} --help')\n")


def _repo(value: str) -> str:
    try:
        RepoRef.parse(value)  # the library's rule, checked before anything starts
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not OWNER/REPO, e.g. acme/models") from None
    return value


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return seconds


def api_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an API base (None when it can): it needs http(s) and a host."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    if parts.scheme not in ("http", "https"):
        hint = url.split("://", 1)[-1]
        return f"{url!r} is not an http:// or https:// URL (did you mean http://{hint}?)"
    return f"{url!r} names no host"


def _api_url(value: str) -> str:
    problem = api_url_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _epilog(command: str) -> str:
    return f"examples:\n{EXAMPLES[command]}\n{COMMON}"


def _command(
    commands: argparse._SubParsersAction[_Parser], name: str, summary: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        prog=f"gaama {name}",
        help=summary,
        description=summary,
        epilog=_epilog(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _client_arguments(
    parser: argparse.ArgumentParser,
    *,
    tag_help: str = "release tag (default: the latest release)",
    json_help: str = "print JSON",
    transfers: bool = True,
    tag: bool = True,
) -> None:
    """The options every command that talks to GitHub takes; ``transfers``: it moves files
    (--concurrency, -q for progress); ``tag``: it takes --tag."""
    parser.add_argument("repo", metavar="OWNER/REPO", type=_repo)
    if tag:
        parser.add_argument("--tag", help=tag_help)
    parser.add_argument(
        "--api-url", type=_api_url, help="API base URL (default: $GAAMA_API_URL, api.github.com)"
    )
    if transfers:
        parser.add_argument(
            "--concurrency",
            type=_at_least_one,
            default=DEFAULT_CONCURRENCY,
            help=f"transfers in flight (default: {DEFAULT_CONCURRENCY}, as the library)",
        )
    parser.add_argument(
        "--api-concurrency",
        type=_at_least_one,
        metavar="N",
        help="API requests in flight (default: $GAAMA_API_CONCURRENCY, else 32; a fleet of "
        "hosts sharing one token: about 100 / hosts)",
    )
    parser.add_argument(
        "--retries",
        type=_at_least_one,
        default=5,
        metavar="N",
        help="tries per request before a network fault is final (default: 5)",
    )
    parser.add_argument(
        "--max-wait",
        type=_seconds,
        default=900.0,
        metavar="SECONDS",
        help="longest total wait for GitHub's rate limits before giving up (default: 900)",
    )
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress output and no warnings" if transfers else "no warnings",
    )
    # SUPPRESS: a command without -v must not reset the global -v
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log retries"
    )


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--include", action="append", metavar="GLOB", help="only these names")
    parser.add_argument("--exclude", action="append", metavar="GLOB", help="never these names")


def _dry_run_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would happen; change nothing"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gaama",
        description="Publish and download model artifacts as GitHub release assets.",
        epilog=_epilog("gaama"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gaama {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and waits")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = _command(commands, "serve", "run the local GitHub-compatible release server")
    from .server.cli import add_serve_arguments

    add_serve_arguments(serve)

    publish = _command(commands, "publish", "upload files as assets of a release")
    _client_arguments(
        publish,
        tag_help="release tag to create or add to (default: today's date, YYYY.MM.DD)",
        json_help="print the release as JSON",
    )
    publish.add_argument("files", nargs="*", metavar="FILE")
    publish.add_argument(
        "--finish", action="store_true", help="publish the tag's kept draft, checked first"
    )
    publish.add_argument("--name", help="release title (default: the tag)")
    publish.add_argument("--body", help="release notes")
    publish.add_argument("--draft", action="store_true", help="leave the release as a draft")
    publish.add_argument("--prerelease", action="store_true", help="mark it as a pre-release")
    publish.add_argument("--overwrite", action="store_true", help="replace differing assets")
    _dry_run_argument(publish)

    download = _command(commands, "download", "download a release's assets, verified")
    _client_arguments(
        download,
        tag_help="release tag to download (default: the latest release)",
        json_help="print the downloaded files as JSON",
    )
    download.add_argument("--dir", default=".", help="target directory (default: .)")
    _selection_arguments(download)
    download.add_argument(
        "--extract-zips", action="store_true", help="also unpack .zip assets (safely)"
    )
    download.add_argument(
        "--no-cache", action="store_true", help="neither place from nor add to the cache"
    )
    download.add_argument(
        "--offline",
        action="store_true",
        help="from the cache only, asking GitHub nothing (as GAAMA_OFFLINE=1)",
    )
    _dry_run_argument(download)

    listing = _command(commands, "ls", "list a release's assets")
    _client_arguments(
        listing, tag_help="release tag to list (default: the latest release)", transfers=False
    )
    listing.add_argument(
        "--offline",
        action="store_true",
        help="ask GitHub nothing: list what --dir holds, verified (as GAAMA_OFFLINE=1)",
    )
    listing.add_argument("--dir", help="with --offline: the download folder to list")

    remove = _command(commands, "rm", "delete assets (by name or glob) or a whole release")
    _client_arguments(
        remove,
        tag_help="release tag to delete from (required)",
        json_help="print what was deleted as JSON",
        transfers=False,
    )
    remove.add_argument("patterns", nargs="*", metavar="NAME", help="file names or globs")
    _selection_arguments(remove)
    remove.add_argument("--release", action="store_true", help="delete the whole release")
    remove.add_argument("--draft", action="store_true", help="delete the tag's kept drafts")
    _dry_run_argument(remove)
    _cmd_registry.add_parsers(commands, _command, _client_arguments)

    add_cache_arguments(_command(commands, "cache", "look after the download cache"))
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    # argparse fills rm's NAME... before --tag when they follow it; take the rest here
    args, extra = parser.parse_known_args(argv)
    # (publish's FILE... too, now that --finish lets it be empty)
    if extra and (args.command not in ("rm", "publish") or any(e.startswith("-") for e in extra)):
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "publish":
        args.files += extra
    if args.command not in LOCAL_COMMANDS and args.api_url is None:
        _check_api_url_from_environment(parser)
    if args.command == "publish" and (args.finish and args.tag is None):
        parser.error("publish --finish needs --tag")
    if args.command == "publish" and not (args.files or args.finish):
        parser.error("publish needs FILE... (or --finish to publish a kept draft)")
    if args.command != "rm":
        return args
    args.patterns += extra
    remove = _subparser(parser, "rm")
    if args.tag is None:
        remove.error("rm needs --tag")
    wanted = args.patterns + (args.include or [])
    if (args.release or args.draft) == bool(wanted) or (args.release and args.draft):
        remove.error("rm needs either NAME/--include patterns, --release or --draft")
    return args


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``, so its usage errors point at its own help."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return parser


def _check_api_url_from_environment(parser: argparse.ArgumentParser) -> None:
    for variable in ("GAAMA_API_URL", "GITHUB_API_URL"):
        if value := os.environ.get(variable):
            problem = api_url_problem(value)
            if problem is not None:
                parser.error(f"{variable}: {problem}")
            return


def _api_url_in_use(args: argparse.Namespace) -> str | None:
    """The API base the client used, resolved as ``GaAMA`` resolves it."""
    if args.command in LOCAL_COMMANDS:
        return None
    found = args.api_url or os.environ.get("GAAMA_API_URL") or os.environ.get("GITHUB_API_URL")
    return str(found or DEFAULT_API_URL).rstrip("/")


def _scene(args: argparse.Namespace) -> Scene:
    """What a message may name: the API in use, the folder written into, the address."""
    if args.command == "serve":
        return Scene(folder=str(args.root), flag="--root", address=f"{args.host}:{args.port}")
    if args.command == "cache":
        return Scene()
    folder = args.dir if args.command in ("download", "verify") else None
    return Scene(
        api_url=_api_url_in_use(args),
        folder=folder,
        flag=folder and "--dir",
        token_variable=_token_variable(),
    )


def _token_variable() -> str | None:
    """The variable the token came from, as ``GaAMA`` picks it (GITHUB_TOKEN first)."""
    return next((name for name in ("GITHUB_TOKEN", "GH_TOKEN") if os.environ.get(name)), None)


def _secrets() -> list[str]:
    return [os.environ.get(name, "") for name in ("GITHUB_TOKEN", "GH_TOKEN")]


async def _run_until_stopped(args: argparse.Namespace, stopped: list[int]) -> None:
    """Run the command; a stop signal cancels it (cleanup runs) and is noted in ``stopped``.

    Only the first signal is caught: once it has cancelled the command, the usual handlers
    are back, so a second Ctrl+C (or SIGTERM) stops a cleanup that takes too long.
    """
    async with anyio.create_task_group() as group:
        group.start_soon(_cancel_on_signal, group.cancel_scope, stopped)
        await run_command(args)
        group.cancel_scope.cancel()


async def _cancel_on_signal(scope: anyio.CancelScope, stopped: list[int]) -> None:
    if sys.platform == "win32":  # no loop signal handlers there; Ctrl+C still interrupts
        return
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for received in signals:
            stopped.append(int(received))
            scope.cancel()
            return


def _stopped_by(number: int, hint: str = "") -> int:
    name = signal.Signals(number).name
    print(f"gaama: error: interrupted by {name}{hint}", file=sys.stderr)
    return 128 + number


def _report(error: BaseException, args: argparse.Namespace, *, debug: bool) -> int:
    """Print ``error`` as one line (after its traceback when debugging); return the code."""
    failure = describe(error, _scene(args), secrets=_secrets())
    if debug:
        trace = "".join(traceback.format_exception(innermost(error)))
        print(redact(trace, _secrets()), end="", file=sys.stderr)
    print(f"gaama: error: {failure.message}", file=sys.stderr)
    return failure.code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gaama`` console script; returns the exit code.

    Every error ends here as one line on stderr and an exit code by its type (see
    ``EXIT_CODES``); a traceback is printed only with ``-v`` or ``GAAMA_DEBUG=1``.
    """
    try:
        parser = build_parser()
        args = _parse(parser, argv)
    except KeyboardInterrupt:
        return _stopped_by(signal.SIGINT)
    debug = bool(args.verbose) or os.environ.get("GAAMA_DEBUG", "") not in ("", "0")
    quiet = getattr(args, "quiet", False)
    level = logging.INFO if args.verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="gaama: %(message)s")
    if args.command in ("publish", "download") and not quiet:
        # retries and resumes, so progress never freezes without a word
        logging.getLogger("gaama_async.notes").setLevel(logging.INFO)
    stopped: list[int] = []
    code = 0
    # Everything imported so far lives as long as the process: out of the collector's
    # generations, no full collection walks it again. ``gaama download`` of 500 small files
    # on loopback: 0.92 s instead of 1.12 (medians of 6 alternating runs).
    gc.freeze()
    try:
        anyio.run(_run_until_stopped, args, stopped)
    except KeyboardInterrupt:
        stopped.append(signal.SIGINT)
    except Exception as error:
        if isinstance(innermost(error), BrokenPipeError):
            return _reader_went_away()
        code = _report(error, args, debug=debug)
    if stopped and args.command == "serve" and code == 0:
        return 0  # Ctrl+C or SIGTERM is how a server is meant to stop
    return _stopped_by(stopped[0], RERUN_HINTS.get(args.command, "")) if stopped else code


def run() -> NoReturn:
    """The ``gaama`` command: ``main``, then an exit without the interpreter's teardown.

    Once ``main`` returns, every file is closed and every thread has ended; tearing down the
    interpreter (its modules, their objects) only delays the exit: ~30 ms of a 0.3 s
    download of 5 small files (medians of 15 alternating runs). Output is flushed first; a
    reader that went away meanwhile gives the interpreter's own exit code for it, 120."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or 120
    os._exit(code)


def _reader_went_away() -> int:
    """``gaama ls --json | head``: the reader closed the pipe. Not an error to report; point
    stdout at /dev/null so the interpreter's final flush does not complain either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE
