"""Whether a draft may be published: its assets against its manifest (pure).

A draft kept with ``publish(draft=True)`` may sit for days and be changed by hand on GitHub's
web page meanwhile; publishing it must not turn a half-filled or edited draft into a release
that downloads fail on. So before the ``PATCH draft=false`` every file of the manifest must
be there, uploaded, with the size and (where GitHub gives one) the digest the manifest names.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._names import is_leftover
from .manifest import MANIFEST_NAME, Manifest, ManifestEntry
from .models import Asset


def leftovers(assets: Sequence[Asset]) -> list[Asset]:
    """Assets to delete before publishing: failed uploads' ``starter`` placeholders and the
    temporary copies of an unfinished replace."""
    return [a for a in assets if not a.is_uploaded or is_leftover(a)]


def draft_problems(assets: Sequence[Asset], manifest: Manifest | None) -> list[str]:
    """What is wrong with a draft's files, one phrase each; empty when it may be published."""
    usable = {a.name: a for a in assets if a.is_uploaded and not is_leftover(a)}
    if manifest is None:
        files = [name for name in usable if name != MANIFEST_NAME]
        return [] if files else ["it holds no files"]
    problems: list[str] = []
    for entry in manifest.files:
        problems += _entry_problems(entry, usable)
    return problems


def _entry_problems(entry: ManifestEntry, usable: dict[str, Asset]) -> list[str]:
    pieces = entry.parts or ()
    expected = [(p.asset, p.size, p.sha256) for p in pieces]
    if not pieces and entry.asset is not None:
        expected = [(entry.asset, entry.size, entry.sha256)]
    problems = []
    for name, size, sha256 in expected:
        asset = usable.get(name)
        if asset is None:
            problems.append(f"'{entry.name}' lacks its asset '{name}'")
        elif asset.size != size:
            problems.append(f"'{name}' has {asset.size} bytes, the manifest says {size}")
        elif asset.sha256 is not None and asset.sha256 != sha256:
            problems.append(f"'{name}' is not the file the manifest names (sha256 differs)")
    return problems
