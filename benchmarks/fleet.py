"""A fleet starting at once: ``python -m benchmarks.fleet``.

``--hosts`` processes (default 50), each a whole ``gaama download`` with its own download
folder and its own cache, start together against one local server under the CDN-like
profile (20 ms per answer, 25 MiB/s per storage connection) and fetch one ``--files``-asset
release (default 20 files of ``--file-kib`` KiB). Then they all start again on their full
folders (a warm restart). Both for a public repository, fetched anonymously as a fleet of
unauthenticated hosts would, and for a private one with a token.

Reported per scenario: API calls per host (the server's ``api.*`` request counters over the
hosts), total API calls, web-host requests, and the wall time until the last host is ready.
The table is printed and written to ``bench-data/fleet.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer, ServerConfig

REPO = "fleet/model"
TOKEN = "fleet-token"
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Outcome:
    """One fleet start, as the server counted it."""

    scenario: str
    hosts: int
    api_calls: int
    web_requests: int
    wall: float
    failures: int

    def row(self) -> str:
        per_host = self.api_calls / self.hosts
        return (
            f"| {self.scenario} | {self.hosts} | {per_host:.2f} | {self.api_calls} "
            f"| {self.web_requests} | {self.wall:.2f} s | {self.failures} |"
        )


async def _publish(server: ReleaseServer, scratch: Path, files: int, size: int) -> None:
    source = scratch / "model"
    source.mkdir()
    for n in range(files):
        (source / f"shard-{n:03d}.bin").write_bytes(random.Random(n).randbytes(size))
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, write_interval=0, cache_dir=False
    ) as client:
        await client.publish("v1", sorted(source.iterdir()))


async def _host(server: ReleaseServer, folder: Path, token: str | None) -> int:
    """One host's start-up: the CLI as users run it; its exit code."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    env.update(GAAMA_API_URL=server.api_url, GAAMA_CACHE_DIR=str(folder / "cache"))
    if token:
        env["GITHUB_TOKEN"] = token
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--tag", "v1"]
    command += ["--dir", str(folder / "model"), "--quiet"]
    done = await anyio.run_process(command, env=env, check=False)
    return done.returncode


async def _start_fleet(
    server: ReleaseServer, folders: list[Path], token: str | None, scenario: str
) -> Outcome:
    server.counters.reset()
    codes: list[int] = []

    async def one(folder: Path) -> None:
        codes.append(await _host(server, folder, token))

    started = time.perf_counter()
    async with anyio.create_task_group() as hosts:
        for folder in folders:
            hosts.start_soon(one, folder)
    wall = time.perf_counter() - started
    requests = server.counters.requests
    api = sum(n for route, n in requests.items() if route.startswith("api."))
    return Outcome(
        scenario, len(folders), api, requests.get("web.download", 0), wall,
        sum(code != 0 for code in codes),
    )  # fmt: skip


async def run(args: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    for private in (False, True):
        with tempfile.TemporaryDirectory(prefix="gaama-fleet-", dir=args.dir) as scratch:
            root = Path(scratch)
            config = ServerConfig(
                root=root / "github", tokens={TOKEN: "fleet"}, repos=(REPO,), private=private,
                latency=0.02, bandwidth=25.0 * MIB,
            )  # fmt: skip
            # A fleet of hosts is not a burst from one client: lift the limits that would
            # measure our waiting (the unauthenticated limit is per address, and all hosts
            # share 127.0.0.1 here).
            config.rate_limit = config.anonymous_rate_limit = 1_000_000
            async with ReleaseServer(config) as server:
                await _publish(server, root, args.files, args.file_kib * KIB)
                folders = [root / f"host-{n:03d}" for n in range(args.hosts)]
                kind = "private, token" if private else "public, anonymous"
                token = TOKEN if private else None
                outcomes.append(await _start_fleet(server, folders, token, f"{kind}: cold"))
                outcomes.append(await _start_fleet(server, folders, token, f"{kind}: warm"))
    return outcomes


def table(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    lines = [
        f"Fleet start-up: {args.hosts} hosts, {args.files} files x {args.file_kib} KiB, "
        "CDN-like profile (20 ms, 25 MiB/s per connection)",
        "",
        "| scenario | hosts | API calls per host | API calls | web requests | wall | failed |",
        "|---|---|---|---|---|---|---|",
        *(o.row() for o in outcomes),
        "",
        "Command: python -m benchmarks.fleet "
        f"--hosts {args.hosts} --files {args.files} --file-kib {args.file_kib}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--file-kib", type=int, default=256)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    args = parser.parse_args()
    report = table(anyio.run(run, args), args)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
