"""The ``gaama`` command: a thin layer over the library, with exit codes by error type."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import anyio

from ._console import ConsoleProgress, human_bytes
from ._version import __version__
from .client import GaAMA
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
EPILOG = """\
exit codes: 0 ok, 1 failed, 2 bad usage, 3 authentication, 4 not found,
            5 asset conflict, 6 integrity, 7 rate limited, 130 interrupted

environment: GITHUB_TOKEN (or GH_TOKEN) the token; GAAMA_API_URL (or GITHUB_API_URL)
             the API base, e.g. https://HOST/api/v3 for GitHub Enterprise

examples:
  gaama serve --root ./gh-data
  gaama publish acme/models --tag v1 model.safetensors config.json
  gaama download acme/models --tag v1 --dir models/ --include '*.safetensors'
  gaama ls acme/models --tag v1
"""


def exit_code_for(error: GaamaError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", metavar="OWNER/REPO")
    parser.add_argument("--tag", help="release tag (publish: default today's date; else latest)")
    parser.add_argument("--api-url", help="API base URL (default: $GAAMA_API_URL, api.github.com)")
    parser.add_argument("--concurrency", type=int, default=8, help="transfers in flight")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaama",
        description="Publish and download model artifacts as GitHub release assets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gaama {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and waits")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the local GitHub-compatible release server")
    from .server.cli import add_serve_arguments

    add_serve_arguments(serve)

    publish = commands.add_parser("publish", help="upload files as assets of a release")
    _client_arguments(publish)
    publish.add_argument("files", nargs="+", metavar="FILE")
    publish.add_argument("--name", help="release title (default: the tag)")
    publish.add_argument("--body", help="release notes")
    publish.add_argument("--draft", action="store_true", help="leave the release as a draft")
    publish.add_argument("--prerelease", action="store_true")
    publish.add_argument("--overwrite", action="store_true", help="replace differing assets")

    download = commands.add_parser("download", help="download a release's assets, verified")
    _client_arguments(download)
    download.add_argument("--dir", default=".", help="target directory (default: .)")
    download.add_argument("--include", action="append", metavar="GLOB")
    download.add_argument("--exclude", action="append", metavar="GLOB")
    download.add_argument(
        "--extract-zips", action="store_true", help="also unpack .zip assets (safely)"
    )

    listing = commands.add_parser("ls", help="list a release's assets")
    _client_arguments(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    return parser


async def _run(args: argparse.Namespace) -> None:
    if args.command == "serve":
        from .server.cli import config_from_args, serve_until_stopped

        await serve_until_stopped(config_from_args(args), faults=args.fault, seed=args.seed)
        return
    progress = None if args.quiet or args.command == "ls" else ConsoleProgress()
    async with GaAMA(
        repo=args.repo, api_url=args.api_url, max_concurrency=args.concurrency, progress=progress
    ) as client:
        if args.command == "publish":
            release = await client.publish(
                args.tag,
                args.files,
                name=args.name,
                body=args.body,
                draft=args.draft,
                prerelease=args.prerelease,
                overwrite=args.overwrite,
            )
            _finish(progress)
            state = "draft" if release.draft else "published"
            print(f"{state} {release.tag} ({len(release.assets)} assets) {release.html_url}")
        elif args.command == "download":
            paths = await client.download(
                args.tag,
                args.dir,
                include=args.include,
                exclude=args.exclude,
                extract_zips=args.extract_zips,
            )
            _finish(progress)
            for path in paths:
                print(path)
        else:
            await _list(client, args)


async def _list(client: GaAMA, args: argparse.Namespace) -> None:
    assets = await client.list_assets(args.tag)
    if args.json:
        rows: list[dict[str, Any]] = [
            {"name": a.name, "size": a.size, "digest": a.digest, "state": a.state} for a in assets
        ]
        print(json.dumps(rows, indent=1))
        return
    for asset in assets:
        print(f"{human_bytes(asset.size):>11}  {asset.state:<9} {asset.name}")


def _finish(progress: ConsoleProgress | None) -> None:
    if progress is not None:
        progress.finish()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gaama`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="gaama: %(message)s")
    try:
        anyio.run(_run, args)
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
