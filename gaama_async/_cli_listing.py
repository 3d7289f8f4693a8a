"""``gaama ls``: a release's files as the user published them (used by _commands.py).

GitHub shows stored asset names; a user thinks in the files they published. So ``ls`` lists
the manifest's files under their original names (with the stored name where GitHub renamed
it, the parts of a split file, and empty files, which have no asset at all), then any asset
the manifest does not claim, and says which tag "latest" resolved to. ``--json`` keeps one
row per asset (scripts read ``.name``), each with the ``file`` it belongs to.

Offline (``--offline`` or ``GAAMA_OFFLINE=1``) nothing is asked of GitHub: ``ls --dir D``
lists what the folder's record says was downloaded and verified there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._cli_errors import UsageError
from ._console import count, human_bytes
from ._names import is_leftover
from ._record import FolderRecord
from .client import GaAMA
from .manifest import MANIFEST_NAME, Manifest
from .models import Asset


@dataclass(frozen=True, slots=True)
class FileRow:
    """One file of a release: its name, size, the assets holding it and their state."""

    name: str
    size: int
    stored: tuple[str, ...]
    state: str = "uploaded"

    def note(self) -> str:
        """What a reader should know beyond name and size (empty when nothing)."""
        if not self.stored:
            return "empty: kept in the manifest, no asset"
        if len(self.stored) > 1:
            return f"split into {len(self.stored)} parts: {self.stored[0]} ... {self.stored[-1]}"
        notes = [f"stored as {self.stored[0]}"] if self.stored[0] != self.name else []
        if self.state != "uploaded":
            notes.append(self.state)
        return ", ".join(notes)


def file_rows(assets: list[Asset], manifest: Manifest | None) -> list[FileRow]:
    """The files a release holds (pure): the manifest's, then assets it does not claim."""
    by_name = {a.name: a for a in assets}
    rows = []
    claimed = {MANIFEST_NAME}
    for entry in manifest.files if manifest else ():
        claimed.update(entry.asset_names)
        states = {by_name[n].state for n in entry.asset_names if n in by_name}
        missing = any(n not in by_name for n in entry.asset_names)
        state = "assets missing" if missing else next(iter(states - {"uploaded"}), "uploaded")
        rows.append(FileRow(entry.name, entry.size, entry.asset_names, state))
    for asset in assets:
        if asset.name not in claimed:
            state = "leftover of a replace" if is_leftover(asset) else asset.state
            rows.append(FileRow(asset.name, asset.size, (asset.name,), state))
    return rows


def _asset_json(asset: Asset, owner: dict[str, str]) -> dict[str, Any]:
    return {
        "name": asset.name,
        "file": owner.get(asset.name),
        "size": asset.size,
        "digest": asset.digest,
        "state": asset.state,
    }


async def list_release(client: GaAMA, args: argparse.Namespace) -> None:
    if client.offline:
        await _list_folder(args)
        return
    release = await client.get_release(args.tag)
    assets = await client._assets_of(release)
    manifest = await client._read_manifest(assets)
    rows = file_rows(assets, manifest)
    if args.json:
        owner = {stored: row.name for row in rows for stored in row.stored}
        print(json.dumps([_asset_json(a, owner) for a in assets], indent=1))
        return
    which = f"release {release.tag}" if args.tag else f"latest release: {release.tag}"
    total = sum(r.size for r in rows)
    print(f"{which} of {client.repo}, {count(len(rows), 'file')}, {human_bytes(total)}")
    width = max((len(r.name) for r in rows), default=0)
    for row in rows:
        note = row.note()
        line = f"{human_bytes(row.size):>11}  {row.name:<{width}}  {note and f'({note})'}"
        print(line.rstrip())


async def _list_folder(args: argparse.Namespace) -> None:
    """Offline: what the folder's record says was downloaded and verified there."""
    if args.dir is None:
        raise UsageError("offline, ls lists a download folder: pass --dir D")
    record = FolderRecord(Path(args.dir))
    await record.load()
    files = sorted(record.files.items())
    if args.json:
        rows = [{"name": n, "size": r.size, "sha256": r.sha256} for n, r in files]
        print(json.dumps(rows, indent=1))
        return
    total = sum(r.size for _, r in files)
    print(f"offline: {count(len(files), 'file')} verified in {args.dir}, {human_bytes(total)}")
    for name, found in files:
        print(f"{human_bytes(found.size):>11}  {name}")
