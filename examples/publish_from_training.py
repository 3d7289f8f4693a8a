"""Publish a training run's checkpoints as a GitHub release, as the last step of training.

The release is created as a draft, every file is uploaded concurrently and verified, and
only then is it published: a crash halfway never leaves a half-filled release behind.

Try it against the local server::

    gaama serve --root ./gh-data --token dev-token --repo acme/models  # prints GAAMA_API_URL
    export GAAMA_API_URL=http://127.0.0.1:PORT GITHUB_TOKEN=dev-token
    python examples/publish_from_training.py --repo acme/models --tag v1 --out checkpoints/

The token comes from ``GITHUB_TOKEN`` (or ``GH_TOKEN``) and the API from ``GAAMA_API_URL``,
so the same script publishes to github.com or an Enterprise host with no change.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import anyio

from gaama_async import GaAMA, Release


def train(out: Path, *, epochs: int = 3, seed: int = 0) -> list[Path]:
    """A stand-in for a training loop: one checkpoint per epoch, then the final config.

    Returns the files worth publishing, in the order they were written.
    """
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files = []
    for epoch in range(1, epochs + 1):
        checkpoint = out / f"checkpoint-{epoch:03d}.bin"
        checkpoint.write_bytes(rng.randbytes(64 * 1024))
        files.append(checkpoint)
    config = out / "config.json"
    config.write_text(json.dumps({"epochs": epochs, "seed": seed, "hidden_size": 64}))
    return [*files, config]


async def publish(repo: str, tag: str | None, files: list[Path], notes: str) -> Release:
    """Publish ``files`` as release ``tag`` of ``repo``; return the published release.

    ``tag=None`` publishes under today's date, ``YYYY.MM.DD``.
    """
    async with GaAMA(repo=repo) as client:
        return await client.publish(tag, files, body=notes)


def main(argv: list[str] | None = None) -> int:
    """Train, then publish the checkpoints; print the release URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default="acme/models", help="owner/name (acme/models)")
    parser.add_argument("--tag", default=None, help="release tag (default: today's date)")
    parser.add_argument("--out", type=Path, default=Path("checkpoints"), help="output dir")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    files = train(args.out, epochs=args.epochs)
    notes = f"Trained for {args.epochs} epochs."
    release = anyio.run(publish, args.repo, args.tag, files, notes)
    print(f"published {len(files)} files as {release.tag}: {release.html_url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
