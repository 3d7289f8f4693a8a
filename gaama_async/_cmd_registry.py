"""The registry commands of ``gaama``: ``releases`` (versions), ``alias`` (channels),
``verify`` (a folder against a release), and the draft steps of ``publish --finish`` and
``rm --draft``. Parsers are added by ``add_parsers``; cli.py wires them in."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ._aliasdoc import Alias
from ._console import human_bytes
from ._names import is_leftover
from ._verifyplan import VerifyReport
from .client import GaAMA
from .errors import IntegrityError
from .manifest import MANIFEST_NAME
from .models import Asset, Release

EXAMPLES = {
    "releases": """\
  gaama releases acme/models
  gaama releases acme/models --drafts --json | jq -r '.[] | select(.latest) | .tag'
""",
    "alias": """\
  gaama alias acme/models production v3      # point production at v3 (or move it)
  gaama alias acme/models production --history
  gaama alias acme/models                    # every alias and where it points
  gaama download acme/models --tag production --dir models/
""",
    "verify": """\
  gaama verify acme/models --tag v3 --dir models/
  gaama verify acme/models --tag production --dir models/ --offline --json
""",
}


def add_parsers(
    commands: Any,
    command: Callable[[Any, str, str], argparse.ArgumentParser],
    client_arguments: Callable[..., None],
) -> None:
    """Add ``releases``, ``alias`` and ``verify`` to the subcommands of ``gaama``."""
    releases = command(commands, "releases", "list the versions (releases) of a repository")
    client_arguments(releases, json_help="print one JSON object per release", tag=False)
    releases.add_argument(
        "--drafts", action="store_true", help="also list drafts (needs push access)"
    )

    alias = command(commands, "alias", "point an alias (channel) at a release, or show aliases")
    client_arguments(alias, json_help="print the alias(es) as JSON", tag=False)
    alias.add_argument("name", nargs="?", metavar="NAME", help="the alias, e.g. production")
    alias.add_argument("target", nargs="?", metavar="TAG", help="the release to point it at")
    alias.add_argument("--history", action="store_true", help="show every move of NAME")

    verify = command(commands, "verify", "check a folder against a release's manifest")
    client_arguments(verify, json_help="print the report as JSON")
    verify.add_argument("--dir", default=".", help="the folder to check (default: .)")
    verify.add_argument(
        "--offline",
        action="store_true",
        help="use the manifest the folder's record kept from its download; ask GitHub nothing",
    )


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False))


# -- releases --------------------------------------------------------------------------------


def _files(release: Release) -> list[Asset]:
    """The assets that are files (the manifest and upload leftovers are not)."""
    return [
        a
        for a in release.assets
        if a.name != MANIFEST_NAME and a.is_uploaded and not is_leftover(a)
    ]


def _flags(release: Release) -> list[str]:
    named = ("latest", "prerelease", "draft", "immutable")
    return [flag for flag in named if getattr(release, flag)]


def release_json(release: Release) -> dict[str, Any]:
    files = _files(release)
    return {
        "tag": release.tag,
        "name": release.name,
        "published_at": release.published_at,
        "draft": release.draft,
        "prerelease": release.prerelease,
        "latest": release.latest,
        "immutable": release.immutable,
        "aliases": list(release.aliases),
        "files": len(files),
        "size": sum(a.size for a in files),
        "html_url": release.html_url,
    }


async def releases(client: GaAMA, args: argparse.Namespace) -> None:
    found = await client.list_releases(drafts=args.drafts)
    if args.json:
        _emit([release_json(r) for r in found])
        return
    if not found:
        print(f"{client.repo} has no releases{'' if args.drafts else ' (drafts: --drafts)'}")
    for release in found:
        files = _files(release)
        date = (release.published_at or "-")[:10]
        flags = ", ".join(_flags(release))
        aliases = f"  ← {', '.join(release.aliases)}" if release.aliases else ""
        print(
            f"{release.tag:<16} {date:<11} {len(files):>4} file{'s' if len(files) != 1 else ' '}"
            f" {human_bytes(sum(a.size for a in files)):>10}  {release.name or ''}"
            f"{f'  [{flags}]' if flags else ''}{aliases}"
        )


# -- alias -----------------------------------------------------------------------------------


def alias_json(alias: Alias) -> dict[str, Any]:
    return {
        "alias": alias.name,
        "tag": alias.target_tag,
        "release_id": alias.target_id,
        "history": [m.to_json() for m in alias.history],
    }


async def alias(client: GaAMA, args: argparse.Namespace) -> None:
    if args.name is None:
        found = await client.list_aliases()
        if args.json:
            _emit([alias_json(a) for a in found])
        for each in found if not args.json else ():
            print(f"{each.name} → {each.target_tag}")
        if not found and not args.json:
            print(f"{client.repo} has no aliases")
        return
    if args.target is not None:
        moved = await client.set_alias(args.name, args.target)
        if args.json:
            _emit(alias_json(moved))
            return
        last = moved.history[-1]
        was = f" (was {last.from_tag})" if last.from_tag else ""
        print(f"{moved.name} → {moved.target_tag}{was}")
        return
    await _show_alias(await client.get_alias(args.name), args)


async def _show_alias(found: Alias, args: argparse.Namespace) -> None:
    if args.json:
        _emit(alias_json(found))
        return
    print(f"{found.name} → {found.target_tag}")
    for move in reversed(found.history) if args.history else ():
        print(f"  {move.at}  {move.by:<12} {move.from_tag or '-'} → {move.to_tag}")


# -- verify ----------------------------------------------------------------------------------


async def verify(client: GaAMA, args: argparse.Namespace) -> None:
    report = await client.verify(args.dir, args.tag, offline=True if args.offline else None)
    if args.json:
        _emit(report.to_json())
    else:
        _print_report(report, args.dir)
    if not report.ok:
        bad = len(report.missing) + len(report.modified)
        raise IntegrityError(
            f"{bad} file(s) in {args.dir} differ from release '{report.tag}' "
            f"({len(report.missing)} missing, {len(report.modified)} modified): "
            "download the release again to repair them."
        )


def _print_report(report: VerifyReport, folder: str) -> None:
    for name in report.missing:
        print(f"missing   {name}")
    for mismatch in report.modified:
        print(f"modified  {mismatch.name}: {mismatch.reason}")
    for name in report.extra:
        print(f"extra     {name}")
    if report.ok:
        source = " (offline, from the folder's record)" if report.source == "record" else ""
        print(f"ok: {len(report.verified)} file(s) in {folder} match '{report.tag}'{source}")


# -- drafts ----------------------------------------------------------------------------------


async def finish(client: GaAMA, args: argparse.Namespace) -> None:
    """``publish --tag T --finish`` without files: publish the kept draft, checked."""
    release = await client.finish_draft(args.tag)
    if args.json:
        _emit(release_json(release))
        return
    print(f"published {release.tag} ({len(_files(release))} files) {release.html_url}")


async def remove_drafts(client: GaAMA, args: argparse.Namespace) -> None:
    """``rm --tag T --draft``: delete the tag's drafts no live publisher is filling."""
    gone = await client.delete_drafts(args.tag, dry_run=args.dry_run)
    if args.json:
        _emit({"tag": args.tag, "dry_run": args.dry_run, "drafts": [r.id for r in gone]})
        return
    verb = "would delete" if args.dry_run else "deleted"
    for release in gone:
        print(f"{verb} draft {release.tag} (release {release.id}, {len(_files(release))} files)")


COMMANDS = {"releases": releases, "alias": alias, "verify": verify}
