"""Which assets removing files from a release deletes, and the manifest that remains (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._plan import Patterns, patterns_of, selected
from .errors import NotFoundError
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
    #: Files of the manifest that go without any asset: empty files live there alone.
    empties: tuple[str, ...] = ()

    @property
    def removed(self) -> list[str]:
        """What goes, as the user named it: asset names, then empty files."""
        return [a.name for a in self.delete] + list(self.empties)


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
    empties = tuple(e.name for e in gone if not e.asset_names)
    kept = tuple(e for e in entries if e not in gone)
    if not kept:
        return RemovalPlan((manifest_asset, *delete), empties=empties)
    return RemovalPlan(tuple(delete), Manifest(kept), manifest_asset, empties)


def available_names(assets: Sequence[Asset], manifest: Manifest | None) -> list[str]:
    """The names a selection can match, for "nothing matches" errors: every file of the
    manifest (empty ones included) and every asset it does not claim."""
    entries = manifest.files if manifest else ()
    claimed = {n for e in entries for n in e.asset_names} | {MANIFEST_NAME}
    return [e.name for e in entries] + [a.name for a in assets if a.name not in claimed]


def nothing_matches(
    tag: str, include: Patterns, available: Sequence[str], exclude: Patterns = None
) -> NotFoundError:
    """A selection that matched no file: say what the release holds instead."""
    wanted = " ".join(repr(p) for p in patterns_of(include)) or "everything"
    if patterns_of(exclude):
        wanted += " minus " + " ".join(repr(p) for p in patterns_of(exclude))
    shown = ", ".join(available[:20])
    if len(available) > 20:
        shown += f", ... ({len(available)} files)"
    return NotFoundError(
        f"Nothing in release '{tag}' matches {wanted}; it holds: {shown or 'no files'}."
    )
