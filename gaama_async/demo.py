"""``make demo``: publish a generated multi-file model to the local server and fetch it back.

Starts the local release server, writes a model of several files (one of 256 MiB, one empty,
one whose name GitHub renames), publishes it concurrently, downloads it into a fresh folder
with progress, checks every sha256 against the originals, prints a summary, stops the server.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

import anyio

from ._console import ConsoleProgress
from .client import GaAMA
from .server import ReleaseServer, ServerConfig

MIB = 1024 * 1024
MODEL_FILES = {
    "model-00001-of-00002.safetensors": 256 * MIB,
    "model-00002-of-00002.safetensors": 96 * MIB,
    "embeddings.npy": 24 * MIB,
    "tokenizer.json": 2 * MIB,
    "config.json": 700,
    "training notes (run 7).txt": 5_000,
    "added_tokens.json": 0,
}


def write_model(folder: Path, seed: int = 7) -> dict[str, str]:
    """Write the demo model with seeded random bytes; return each file's sha256."""
    rng = random.Random(seed)
    digests = {}
    for name, size in MODEL_FILES.items():
        hasher = hashlib.sha256()
        with open(folder / name, "wb") as handle:
            left = size
            while left:
                block = rng.randbytes(min(left, 4 * MIB))
                hasher.update(block)
                handle.write(block)
                left -= len(block)
        digests[name] = hasher.hexdigest()
    return digests


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(4 * MIB):
            hasher.update(block)
    return hasher.hexdigest()


async def run_demo(workdir: Path) -> int:
    model, fetched, root = workdir / "model", workdir / "downloaded", workdir / "server"
    for folder in (model, fetched, root):
        folder.mkdir()
    print(f"writing a {len(MODEL_FILES)}-file model ({sum(MODEL_FILES.values()) / MIB:.0f} MiB)")
    digests = write_model(model)
    token = secrets.token_hex(20)
    total = sum(MODEL_FILES.values())
    async with ReleaseServer(
        ServerConfig(root=root, tokens={token: "demo"}, repos=("demo/model",))
    ) as server:
        print(f"local GitHub release server at {server.api_url}")
        files = [model / name for name in MODEL_FILES]
        progress = ConsoleProgress(sys.stdout)
        async with GaAMA(
            repo="demo/model",
            token=token,
            api_url=server.api_url,
            progress=progress,
            cache_dir=False,  # measure the transfer, not a link from an earlier demo
        ) as client:
            started = time.perf_counter()
            release = await client.publish("v1.0", files, name="Demo model v1.0")
            progress.finish()
            publish_seconds = time.perf_counter() - started
            print(f"published {release.tag}: {len(release.assets)} assets (manifest included)")
            progress = client.progress = ConsoleProgress(sys.stdout)
            started = time.perf_counter()
            paths = await client.download("v1.0", fetched)
            progress.finish()
            download_seconds = time.perf_counter() - started
    bad = [p.name for p in paths if sha256_file(p) != digests.get(p.name)]
    missing = sorted(set(MODEL_FILES) - {p.name for p in paths})
    print(f"files: {len(paths)}   bytes: {total:,}")
    print(f"publish:  {publish_seconds:6.2f} s  {total / MIB / publish_seconds:7.1f} MiB/s")
    print(f"download: {download_seconds:6.2f} s  {total / MIB / download_seconds:7.1f} MiB/s")
    if bad or missing:
        print(f"FAILED: digest mismatch {bad}, missing {missing}")
        return 1
    print(f"verified: all {len(paths)} sha256 digests match the originals")
    return 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gaama-demo-") as workdir:
        return anyio.run(run_demo, Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
