"""Old names of renamed repositories, kept in ``moves.json`` under the server's root.

Separate from the store, which knows repositories only by their current name; the API
pipeline asks here whether a name it is given has moved (see ``moves``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .store import Repo, Store


def _key(owner: str, name: str) -> str:
    return f"{owner}/{name}".lower()


class Renames:
    """Old repository names and the id each now redirects to, mirrored to ``moves.json``."""

    def __init__(self, root: Path) -> None:
        self._file = root / "moves.json"
        self._old: dict[str, int] = {}
        if self._file.exists():
            self._old = json.loads(self._file.read_text("utf-8"))

    def moved_to(self, owner: str, name: str) -> int | None:
        """The id of the repository once called ``owner/name``, if it was renamed."""
        return self._old.get(_key(owner, name))

    def rename(self, store: Store, repo: Repo, owner: str, name: str) -> None:
        """Rename ``repo`` to ``owner/name``; its old name redirects from now on."""
        old = _key(repo.owner, repo.name)
        store.rename_repo(repo, owner, name)
        self._old.pop(_key(owner, name), None)  # a name taken again no longer redirects
        if old != _key(owner, name):
            self._old[old] = repo.id
        self._save()

    def _save(self) -> None:
        tmp = self._file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._old), "utf-8")
        os.replace(tmp, self._file)
