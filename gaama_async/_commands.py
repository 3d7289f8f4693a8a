"""What each ``gaama`` client command does, on top of the public client (used by cli.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import _cmd_registry
from ._cli_cache import run_cache_command
from ._cli_errors import UsageError
from ._cli_listing import list_release
from ._config import DEFAULT_CONCURRENCY
from ._console import ConsoleProgress, count, human_bytes
from ._publishing import plan_publish
from ._retry import RetryPolicy
from .client import GaAMA
from .client import _default_tag as default_tag
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
            max_concurrency=getattr(args, "concurrency", DEFAULT_CONCURRENCY),
            max_api_concurrency=args.api_concurrency,
            retry=RetryPolicy(attempts=args.retries),
            max_rate_limit_wait=args.max_wait,
            progress=progress,
            cache_dir=False if getattr(args, "no_cache", False) else None,
            offline=True if getattr(args, "offline", False) else None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


async def _publish(client: GaAMA, args: argparse.Namespace) -> None:
    if args.finish and not args.files:
        await _cmd_registry.finish(client, args)
        return
    if args.dry_run:
        await _publish_dry_run(client, args)
        return
    release = await client.publish(
        args.tag,
        args.files,
        name=args.name,
        body=args.body,
        draft=args.draft and not args.finish,
        prerelease=args.prerelease,
        overwrite=args.overwrite,
    )
    if args.json:
        _emit(_release_json(release))
        return
    state = "draft" if release.draft else "published"
    print(f"{state} {release.tag} ({count(len(release.assets), 'asset')}) {release.html_url}")


async def _publish_dry_run(client: GaAMA, args: argparse.Namespace) -> None:
    """The real run's planning (``plan_publish``): conflicts, unreadable files, files
    already there and empty ones come out as they would for real; nothing is written."""
    tag = args.tag or default_tag()
    plan = await plan_publish(client._ctx, tag, args.files, overwrite=args.overwrite)
    if args.json:
        _emit({
            "dry_run": True, "tag": tag, "release_exists": plan.exists,
            "upload": [{"name": f.name, "size": f.size} for f in plan.upload],
            "replace": [{"name": f.name, "size": f.size} for f in plan.replace],
            "skip": [f.name for f in plan.skip], "empty": plan.empty,
        })  # fmt: skip
        return
    action = "add to release" if plan.exists else "create release"
    print(f"would {action} {tag}{' as a draft' if args.draft else ''}:")
    for verb, files in (("upload", plan.upload), ("replace", plan.replace)):
        for file in files:
            print(f"  {verb} {file.name} ({human_bytes(file.size)})")
    for file in plan.skip:
        print(f"  skip {file.name} (identical file already there)")
    for name in plan.empty:
        print(f"  record {name} (empty: kept in the manifest, no asset)")


async def _download(client: GaAMA, args: argparse.Namespace) -> None:
    if args.dry_run:
        await _download_dry_run(client, args)
        return
    paths = await client.download(
        args.tag, args.dir, include=args.include, exclude=args.exclude,
        extract_zips=args.extract_zips,
    )  # fmt: skip
    if args.json:
        _emit({"dry_run": False, "files": [str(p) for p in paths]})
        return
    for path in paths:
        print(path)


async def _download_dry_run(client: GaAMA, args: argparse.Namespace) -> None:
    """The real run's selection (``plan_download``), under the names files will have on
    disk, and what the folder already holds; ``--json``'s ``files`` as the real run's."""
    plan = await client.plan_download(
        args.tag, args.dir, include=args.include, exclude=args.exclude
    )
    files = sorted(plan.fetch + plan.present + plan.empty)
    if args.json:
        _emit({
            "dry_run": True, "tag": plan.tag, "files": [str(p) for p in files],
            "fetch": [str(p) for p in plan.fetch], "present": [str(p) for p in plan.present],
            "refused": plan.refused,
        })  # fmt: skip
        return
    print(f"release {plan.tag}: would write {count(len(files), 'file')} in {args.dir}")
    for path in plan.fetch:
        print(f"  download {path.name}")
    for path in plan.present:
        print(f"  keep {path.name} (already present, verified)")
    for path in plan.empty:
        print(f"  create {path.name} (empty)")
    for refusal in plan.refused:
        print(f"  refuse {refusal}")


async def _remove(client: GaAMA, args: argparse.Namespace) -> None:
    if args.release:
        await _remove_release(client, args)
        return
    if args.draft:
        await _cmd_registry.remove_drafts(client, args)
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
    **_cmd_registry.COMMANDS,
}
