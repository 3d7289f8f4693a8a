"""What each ``gaama`` client command does, on top of the public client (used by cli.py)."""

from __future__ import annotations

import argparse
import fnmatch
import json
from typing import Any

from ._cli_cache import run_cache_command
from ._cli_errors import UsageError
from ._cli_listing import list_release
from ._console import ConsoleProgress, count, human_bytes
from ._names import is_leftover
from ._publisher import local_files
from ._retry import RetryPolicy
from .client import GaAMA
from .errors import NotFoundError
from .manifest import MANIFEST_NAME
from .models import Asset, Release


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=1))


def _asset_json(asset: Asset) -> dict[str, Any]:
    return {"name": asset.name, "size": asset.size, "digest": asset.digest, "state": asset.state}


def _release_json(release: Release) -> dict[str, Any]:
    return {
        "tag": release.tag,
        "name": release.name,
        "draft": release.draft,
        "prerelease": release.prerelease,
        "html_url": release.html_url,
        "assets": [_asset_json(a) for a in release.assets],
    }


async def run_command(args: argparse.Namespace) -> None:
    """Run the parsed command; errors propagate to ``cli.main`` for their exit code."""
    if args.command == "serve":
        from .server.cli import config_from_args, serve_until_stopped

        try:
            config = config_from_args(args)
        except ValueError as error:
            raise UsageError(str(error)) from None
        await serve_until_stopped(config, faults=args.fault, seed=args.seed)
        return
    if args.command == "cache":
        await run_cache_command(args)
        return
    moves_bytes = args.command in ("publish", "download") and not args.dry_run
    progress = ConsoleProgress() if moves_bytes and not args.quiet else None
    async with _client(args, progress) as client:
        done = False
        try:
            await COMMANDS[args.command](client, args)
            done = True
        finally:
            if progress is not None:
                progress.finish(summary=done)


def _client(args: argparse.Namespace, progress: ConsoleProgress | None) -> GaAMA:
    """The client the arguments describe; a setting it refuses is a usage error (exit 2)."""
    try:
        return GaAMA(
            repo=args.repo,
            api_url=args.api_url,
            max_concurrency=getattr(args, "concurrency", 8),
            retry=RetryPolicy(attempts=args.retries),
            max_rate_limit_wait=args.max_wait,
            progress=progress,
            cache_dir=False if getattr(args, "no_cache", False) else None,
            offline=True if getattr(args, "offline", False) else None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


async def _publish(client: GaAMA, args: argparse.Namespace) -> None:
    if args.dry_run:
        await _publish_dry_run(client, args)
        return
    release = await client.publish(
        args.tag,
        args.files,
        name=args.name,
        body=args.body,
        draft=args.draft,
        prerelease=args.prerelease,
        overwrite=args.overwrite,
    )
    if args.json:
        _emit(_release_json(release))
        return
    state = "draft" if release.draft else "published"
    print(f"{state} {release.tag} ({count(len(release.assets), 'asset')}) {release.html_url}")


async def _publish_dry_run(client: GaAMA, args: argparse.Namespace) -> None:
    files = await local_files(args.files)
    exists = True
    if args.tag is not None:
        try:
            await client.get_release(args.tag)
        except NotFoundError:
            exists = False
    tag = args.tag or "(today's date)"
    if args.json:
        rows = [{"name": f.name, "size": f.size} for f in files]
        _emit({"dry_run": True, "tag": args.tag, "release_exists": exists, "files": rows})
        return
    action = "add to release" if exists else "create release"
    print(f"would {action} {tag}{' as a draft' if args.draft else ''}:")
    for file in files:
        print(f"  upload {file.name} ({human_bytes(file.size)})")


async def _download(client: GaAMA, args: argparse.Namespace) -> None:
    if args.dry_run:
        assets = [a for a in await client.list_assets(args.tag) if _downloadable(a, args)]
        if args.json:
            _emit({"dry_run": True, "assets": [_asset_json(a) for a in assets]})
        for asset in assets if not args.json else ():
            print(f"would download {asset.name} ({human_bytes(asset.size)}) to {args.dir}")
        return
    paths = await client.download(
        args.tag, args.dir, include=args.include, exclude=args.exclude,
        extract_zips=args.extract_zips,
    )  # fmt: skip
    if args.json:
        _emit({"files": [str(p) for p in paths]})
        return
    for path in paths:
        print(path)


def _downloadable(asset: Asset, args: argparse.Namespace) -> bool:
    """Assets a download would consider (by stored name; the manifest itself is not one)."""
    if asset.name == MANIFEST_NAME or not asset.is_uploaded or is_leftover(asset):
        return False
    included = not args.include or any(fnmatch.fnmatchcase(asset.name, p) for p in args.include)
    excluded = any(fnmatch.fnmatchcase(asset.name, p) for p in args.exclude or ())
    return included and not excluded


async def _remove(client: GaAMA, args: argparse.Namespace) -> None:
    if args.release:
        await _remove_release(client, args)
        return
    names = await client.delete_assets(
        args.tag, args.patterns + (args.include or []), exclude=args.exclude,
        dry_run=args.dry_run,
    )  # fmt: skip
    if args.json:
        _emit({"tag": args.tag, "dry_run": args.dry_run, "deleted": names})
        return
    verb = "would delete" if args.dry_run else "deleted"
    for name in names:
        print(f"{verb} {name}")
    if not names and not args.quiet:
        print(f"nothing in release {args.tag} matches")


async def _remove_release(client: GaAMA, args: argparse.Namespace) -> None:
    if args.dry_run:
        release = await client.get_release(args.tag)
    else:
        release = await client.delete_release(args.tag)
    if args.json:
        _emit({"tag": release.tag, "dry_run": args.dry_run, "release": _release_json(release)})
        return
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} release {release.tag} ({count(len(release.assets), 'asset')})")


COMMANDS = {
    "publish": _publish,
    "download": _download,
    "ls": list_release,
    "rm": _remove,
}
