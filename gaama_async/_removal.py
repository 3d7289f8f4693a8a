"""Which assets removing files from a release deletes, and the manifest that remains (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._plan import selected
from .manifest import MANIFEST_NAME, Manifest
from .models import Asset


@dataclass(frozen=True, slots=True)
class RemovalPlan:
    """Assets to delete and, when files of the manifest go, the manifest to write first.

    ``rewrite`` is None when the manifest is unchanged or deleted with the last file.
    """

    delete: tuple[Asset, ...]
    rewrite: Manifest | None = None
    manifest_asset: Asset | None = None


def _matches(names: Sequence[str], include: Sequence[str], exclude: Sequence[str]) -> bool:
    # Unlike a download, removing nothing named removes nothing.
    return bool(include) and selected(tuple(names), include, exclude)


def plan_removal(
    assets: Sequence[Asset],
    manifest: Manifest | None,
    include: Sequence[str],
    exclude: Sequence[str] = (),
) -> RemovalPlan:
    """Select files by their own name or any of their asset names, as ``download`` does.

    A file split into parts goes as a whole; the manifest asset is never selected itself.
    """
    by_name = {a.name: a for a in assets}
    manifest_asset = by_name.get(MANIFEST_NAME)
    entries = manifest.files if manifest else ()
    gone = [e for e in entries if _matches((e.name, *e.asset_names), include, exclude)]
    claimed = {n for e in entries for n in e.asset_names} | {MANIFEST_NAME}
    delete = [by_name[n] for e in gone for n in e.asset_names if n in by_name]
    delete += [a for a in assets if a.name not in claimed and _matches((a.name,), include, exclude)]
    if not gone or manifest is None or manifest_asset is None:
        return RemovalPlan(tuple(delete))
    kept = tuple(e for e in entries if e not in gone)
    if not kept:
        return RemovalPlan((manifest_asset, *delete))
    return RemovalPlan(tuple(delete), Manifest(kept), manifest_asset)
