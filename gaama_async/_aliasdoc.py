"""Aliases (channels) as GitHub releases: the name rule, and the body that says where an alias
points, for people and for gaama (pure: no network, no disk).

An alias ``production`` is one published release with the tag ``alias/production``. Its title
(``production → v3``) and the first line of its body (``Points to **v3**``) say on GitHub's
web page where it points; a hidden block at the end of the body says it for gaama::

    <!-- gaama-alias {"format": 1, "alias": "production", "target": {"tag": "v3", "id": 42},
                      "history": [{"at": "…", "by": "octocat", "from": "v2", "to": "v3"}]} -->

Moving the alias is one ``PATCH`` of that title and body, so a reader sees the old target or
the new one, never a mix; the reader then fetches the target by its release id, with the
target's own manifest. The history is shown as a table in the body and kept in the block,
newest last, the latest ``MAX_HISTORY`` moves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .models import Release

ALIAS_PREFIX = "alias/"
ALIAS_FORMAT = 1
MAX_HISTORY = 100  # GitHub caps a body at 125,000 characters; 100 rows stay far below
_BLOCK = re.compile(r"<!-- gaama-alias (\{.*?\}) -->", re.DOTALL)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One move of an alias: when (GitHub's clock, ISO 8601), by whom, from and to which tag."""

    at: str
    by: str
    from_tag: str | None
    to_tag: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "from": self.from_tag, "to": self.to_tag}


@dataclass(frozen=True, slots=True)
class Alias:
    """Where an alias points (the target's tag and release id), and how it got there."""

    name: str
    target_tag: str
    target_id: int
    history: tuple[AliasMove, ...] = ()

    @property
    def tag(self) -> str:
        """The tag of the release that carries the alias."""
        return alias_tag(self.name)

    def moved_to(self, tag: str, release_id: int, *, by: str, at: str) -> Alias:
        """This alias pointed at another release, the move appended to its history."""
        move = AliasMove(at, by, self.target_tag, tag)
        history = (*self.history, move)[-MAX_HISTORY:]
        return Alias(self.name, tag, release_id, history)


def alias_tag(name: str) -> str:
    return f"{ALIAS_PREFIX}{name}"


def is_alias_tag(tag: str) -> bool:
    return tag.startswith(ALIAS_PREFIX)


def alias_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an alias (None when it can): letters, digits, ``.``, ``_`` and
    ``-``, starting with a letter or digit, so ``alias/NAME`` is always a valid git tag."""
    if not _NAME.fullmatch(name):
        return (
            f"alias name {name!r} must be letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if name.endswith((".lock", ".")):
        return f"alias name {name!r} must not end with '.lock' or '.'"
    return None


def new_alias(name: str, tag: str, release_id: int, *, by: str, at: str) -> Alias:
    """An alias set for the first time."""
    return Alias(name, tag, release_id, (AliasMove(at, by, None, tag),))


def alias_title(alias: Alias) -> str:
    return f"{alias.name} → {alias.target_tag}"


def render_body(alias: Alias, repo: str, target_url: str | None = None) -> str:
    """The alias release's body: a line for people, the history table, the block for gaama."""
    target = f"[{alias.target_tag}]({target_url})" if target_url else alias.target_tag
    rows = [
        f"| {m.at} | {m.by} | {m.from_tag or '-'} | {m.to_tag} |" for m in reversed(alias.history)
    ]
    block = {
        "format": ALIAS_FORMAT,
        "alias": alias.name,
        "target": {"tag": alias.target_tag, "id": alias.target_id},
        "history": [m.to_json() for m in alias.history],
    }
    # '>' escaped, so no tag name can end the HTML comment early
    text = json.dumps(block, ensure_ascii=False).replace(">", "\\u003e")
    return "\n".join(
        [
            f"Points to **{alias.target_tag}**.",
            "",
            f"This release is the alias `{alias.name}` of {repo}, kept by gaama: "
            f"`gaama download {repo} --tag {alias.name}` fetches exactly the files of "
            f"{target}. It holds no files of its own; do not edit this text by hand.",
            "",
            "| moved at (UTC) | by | from | to |",
            "|---|---|---|---|",
            *rows,
            "",
            f"<!-- gaama-alias {text} -->",
        ]
    )


def parse_alias(release: Release) -> Alias | None:
    """The alias ``release`` carries, or None when it is not a (readable) gaama alias."""
    if not is_alias_tag(release.tag) or release.draft:
        return None
    found = _BLOCK.findall(release.body or "")
    if not found:
        return None
    try:
        block = json.loads(found[-1])
        target = block["target"]
        history = tuple(
            AliasMove(str(m["at"]), str(m["by"]), m.get("from"), str(m["to"]))
            for m in block.get("history") or ()
        )
        alias = Alias(str(block["alias"]), str(target["tag"]), int(target["id"]), history)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if block.get("format") != ALIAS_FORMAT or alias.tag != release.tag:
        return None
    return alias


def aliases_by_target(releases: list[Release]) -> dict[int, list[str]]:
    """Each target release id to the names of the aliases pointing at it, sorted."""
    found: dict[int, list[str]] = {}
    for alias in filter(None, map(parse_alias, releases)):
        found.setdefault(alias.target_id, []).append(alias.name)
    return {target: sorted(names) for target, names in found.items()}
