"""Helpers shared by the test modules (imported as ``helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from gaama_async import RetryPolicy

TOKEN = "ghp_" + "T0kenForTests" * 3
REPO = "acme/models"
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05)


def write_random(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` seeded random bytes to ``path``; return their sha256."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = rng.randbytes(min(left, 1 << 20))
            hasher.update(block)
            handle.write(block)
            left -= len(block)
    return hasher.hexdigest()


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def listing(folder: Path) -> list[str]:
    """The names in ``folder``, without the private folder gaama keeps there."""
    hidden = (".gaama",)  # the private folder gaama keeps in a destination
    return sorted(p.name for p in folder.iterdir() if p.name not in hidden)
