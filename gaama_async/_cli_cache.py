"""``gaama cache ls | verify | prune``: look after the download cache (used by cli.py).

The cache is the one ``GaAMA`` uses (``GAAMA_CACHE_DIR``, ``GAAMA_CACHE_MAX_SIZE``), so what
these commands show and remove is exactly what downloads place files from.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ._cache import (
    CacheEntry,
    ContentCache,
    cache_from_settings,
    parse_age,
    parse_size,
    stale_entries,
)
from ._cli_errors import UsageError
from ._console import human_bytes

EXAMPLES = """\
  gaama cache ls
  gaama cache verify
  gaama cache prune --max-size 10G --older-than 30d --dry-run
"""


def _size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _age(value: str) -> float:
    try:
        return parse_age(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """``cache``'s own commands: ls, verify, prune."""
    actions = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    listing = actions.add_parser("ls", help="list cached files, their total size and the limit")
    verify = actions.add_parser("verify", help="re-hash every cached file; remove corrupt ones")
    prune = actions.add_parser("prune", help="remove least recently used files, or old ones")
    prune.add_argument(
        "--max-size", type=_size, metavar="SIZE", help="keep at most this much, e.g. 10G"
    )
    prune.add_argument(
        "--older-than", type=_age, metavar="AGE", help="remove files unused this long, e.g. 30d"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; remove nothing"
    )
    for action in (listing, verify, prune):
        action.add_argument("--json", action="store_true", help="print JSON")
        action.add_argument("-q", "--quiet", action="store_true", help="no output but errors")


async def run_cache_command(args: argparse.Namespace) -> None:
    cache = cache_from_settings()
    if cache is None:
        raise UsageError("the cache is off (GAAMA_CACHE_DIR=off); set GAAMA_CACHE_DIR to a folder")
    if args.cache_command == "ls":
        await _list(cache, args)
    elif args.cache_command == "verify":
        await _verify(cache, args)
    else:
        await _prune(cache, args)


def _entry_json(entry: CacheEntry) -> dict[str, Any]:
    used = entry.used_ns / 1e9 if entry.used_ns else None
    return {"sha256": entry.sha256, "size": entry.size, "last_used": used, "names": entry.names}


def _when(entry: CacheEntry) -> str:
    if not entry.used_ns:
        return "never used"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.used_ns / 1e9))


def _summary(cache: ContentCache, entries: list[CacheEntry]) -> str:
    total = sum(e.size for e in entries)
    files = "1 file" if len(entries) == 1 else f"{len(entries)} files"
    return (
        f"{files}, {human_bytes(total)} of {human_bytes(cache.max_bytes)} "
        f"(GAAMA_CACHE_MAX_SIZE) in {cache.root}"
    )


async def _list(cache: ContentCache, args: argparse.Namespace) -> None:
    entries = await cache.entries()
    if args.json:
        total = sum(e.size for e in entries)
        print(
            json.dumps(
                {
                    "root": str(cache.root),
                    "max_size": cache.max_bytes,
                    "total_size": total,
                    "entries": [_entry_json(e) for e in entries],
                },
                indent=1,
            )
        )
        return
    if args.quiet:
        return
    for entry in entries:
        names = ", ".join(entry.names) or "(no release seen)"
        print(f"{human_bytes(entry.size):>11}  {_when(entry)}  {entry.sha256[:12]}  {names}")
    print(_summary(cache, entries))


async def _verify(cache: ContentCache, args: argparse.Namespace) -> None:
    checked = len(await cache.entries())
    corrupt = await cache.verify()
    if args.json:
        print(json.dumps({"checked": checked, "removed": [_entry_json(e) for e in corrupt]}))
        return
    if args.quiet:
        return
    for entry in corrupt:
        print(f"removed corrupt {entry.sha256[:12]} ({', '.join(entry.names) or 'unnamed'})")
    print(f"checked {checked} file(s): {len(corrupt)} corrupt, {checked - len(corrupt)} sound")


async def _prune(cache: ContentCache, args: argparse.Namespace) -> None:
    if args.max_size is None and args.older_than is None:
        raise UsageError("prune needs --max-size SIZE or --older-than AGE (or both)")
    entries = await cache.entries()
    gone = stale_entries(
        entries, max_bytes=args.max_size, older_than=args.older_than, now=time.time()
    )
    if not args.dry_run:
        await cache.remove(gone)
    freed = sum(e.size for e in gone)
    if args.json:
        removed = [_entry_json(e) for e in gone]
        print(json.dumps({"dry_run": args.dry_run, "removed": removed, "freed": freed}))
        return
    if args.quiet:
        return
    verb = "would remove" if args.dry_run else "removed"
    for entry in gone:
        print(f"{verb} {entry.sha256[:12]} ({human_bytes(entry.size)}, {_when(entry)})")
    print(f"{verb} {len(gone)} file(s), {human_bytes(freed)}")
