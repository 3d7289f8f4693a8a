"""Seeded random payloads, generated once and cached under the output's data folder.

Random bytes, not zeros or sparse files, so that nothing on the path can compress or
deduplicate them.
"""

from __future__ import annotations

import random
from pathlib import Path

MIB = 1024 * 1024
_BLOCK = 8 * MIB


def _write_random(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    partial = path.with_name(path.name + ".tmp")
    with open(partial, "wb") as handle:
        left = size
        while left:
            block = rng.randbytes(min(left, _BLOCK))
            handle.write(block)
            left -= len(block)
    partial.replace(path)


def large_file(data_dir: Path, size: int) -> Path:
    """One file of ``size`` random bytes (seed = size), reused across runs."""
    path = data_dir / f"large-{size}" / "weights.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != size:
        _write_random(path, size, seed=size)
    return path


def small_files(data_dir: Path, count: int, size: int) -> list[Path]:
    """``count`` files of ``size`` random bytes each (seeded by index), reused across runs."""
    folder = data_dir / f"small-{count}x{size}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"shard-{index:05d}.bin"
        if not path.exists() or path.stat().st_size != size:
            _write_random(path, size, seed=index)
        paths.append(path)
    return paths
