"""The ``gaama`` command: a thin layer over the library, with exit codes by error type."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from ._commands import run_command
from ._version import __version__
from .errors import (
    AssetConflictError,
    AuthenticationError,
    GaamaError,
    IntegrityError,
    NotFoundError,
    RateLimitError,
)

EXIT_CODES: list[tuple[type[GaamaError], int]] = [
    (AuthenticationError, 3),
    (NotFoundError, 4),
    (AssetConflictError, 5),
    (IntegrityError, 6),
    (RateLimitError, 7),
    (GaamaError, 1),
]
COMMON = """\
exit codes: 0 ok, 1 failed, 2 bad usage, 3 authentication, 4 not found,
            5 asset conflict, 6 integrity, 7 rate limited, 130 interrupted

environment: GITHUB_TOKEN (or GH_TOKEN) the token; GAAMA_API_URL (or GITHUB_API_URL)
             the API base, e.g. https://HOST/api/v3 for GitHub Enterprise
"""
EXAMPLES = {
    "gaama": """\
  gaama serve --root ./gh-data
  gaama publish acme/models --tag v1 model.safetensors config.json
  gaama download acme/models --tag v1 --dir models/ --include '*.safetensors'
  gaama ls acme/models --tag v1
  gaama rm acme/models --tag v1 'old-*.bin'
""",
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
    "rm": """\
  gaama rm acme/models --tag v1 old.bin 'ckpt-*.pt'
  gaama rm acme/models --tag v1 --include '*.pt' --exclude 'ckpt-final.pt' --dry-run
  gaama rm acme/models --tag v1 --release
""",
}


def exit_code_for(error: GaamaError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def _epilog(command: str) -> str:
    return f"examples:\n{EXAMPLES[command]}\n{COMMON}"


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=_epilog(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _client_arguments(parser: argparse.ArgumentParser, *, json_help: str = "print JSON") -> None:
    parser.add_argument("repo", metavar="OWNER/REPO")
    parser.add_argument("--tag", help="release tag (publish: default today's date; else latest)")
    parser.add_argument("--api-url", help="API base URL (default: $GAAMA_API_URL, api.github.com)")
    parser.add_argument("--concurrency", type=int, default=8, help="transfers in flight")
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
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
    parser = argparse.ArgumentParser(
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
    _client_arguments(publish, json_help="print the release as JSON")
    publish.add_argument("files", nargs="+", metavar="FILE")
    publish.add_argument("--name", help="release title (default: the tag)")
    publish.add_argument("--body", help="release notes")
    publish.add_argument("--draft", action="store_true", help="leave the release as a draft")
    publish.add_argument("--prerelease", action="store_true", help="mark it as a pre-release")
    publish.add_argument("--overwrite", action="store_true", help="replace differing assets")
    _dry_run_argument(publish)

    download = _command(commands, "download", "download a release's assets, verified")
    _client_arguments(download, json_help="print the downloaded paths as JSON")
    download.add_argument("--dir", default=".", help="target directory (default: .)")
    _selection_arguments(download)
    download.add_argument(
        "--extract-zips", action="store_true", help="also unpack .zip assets (safely)"
    )
    _dry_run_argument(download)

    listing = _command(commands, "ls", "list a release's assets")
    _client_arguments(listing)

    remove = _command(commands, "rm", "delete assets (by name or glob) or a whole release")
    _client_arguments(remove, json_help="print what was deleted as JSON")
    remove.add_argument("patterns", nargs="*", metavar="NAME", help="file names or globs")
    _selection_arguments(remove)
    remove.add_argument("--release", action="store_true", help="delete the whole release")
    _dry_run_argument(remove)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    # argparse fills rm's NAME... before --tag when they follow it; take the rest here
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "rm" or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command != "rm":
        return args
    args.patterns += extra
    if args.tag is None:
        parser.error("rm needs --tag")
    wanted = args.patterns + (args.include or [])
    if args.release == bool(wanted):
        parser.error("rm needs either NAME/--include patterns or --release")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gaama`` console script; returns the exit code."""
    parser = build_parser()
    args = _parse(parser, argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="gaama: %(message)s")
    try:
        anyio.run(run_command, args)
    except GaamaError as error:
        print(f"gaama: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except ValueError as error:
        print(f"gaama: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gaama: interrupted", file=sys.stderr)
        return 130
    return 0
