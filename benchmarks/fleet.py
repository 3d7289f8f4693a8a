"""A fleet starting at once: ``python -m benchmarks.fleet``.

``--hosts`` processes (default 50), each a whole ``gaama download`` with its own download
folder and its own cache, start together against one local server under the CDN-like
profile (20 ms per answer, 25 MiB/s per storage connection) and fetch one ``--files``-asset
release (default 20 files of ``--file-kib`` KiB). Then they all start again on their full
folders (a warm restart). Both for a public repository, fetched anonymously as a fleet of
unauthenticated hosts would, and for a private one with a token: once with the client's
defaults, and once with ``GAAMA_API_CONCURRENCY`` set to 100 / hosts, so the fleet that
shares one token stays inside GitHub's 100 concurrent requests for it.

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
    api_peak: int  # API requests in flight at once, at most (GitHub allows 100 per token)
    refused: int  # answers 403/429: secondary limits here, as no other limit is near
    wall: float
    failures: int

    def row(self) -> str:
        per_host = self.api_calls / self.hosts
        return (
            f"| {self.scenario} | {self.hosts} | {per_host:.2f} | {self.api_calls} "
            f"| {self.web_requests} | {self.api_peak} | {self.refused} | {self.wall:.2f} s "
            f"| {self.failures} |"
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


@dataclass(frozen=True)
class Fleet:
    """What every host of one scenario runs with."""

    private: bool
    api_concurrency: int | None = None  # GAAMA_API_CONCURRENCY, or the client's default

    @property
    def token(self) -> str | None:
        return TOKEN if self.private else None

    @property
    def kind(self) -> str:
        kind = "private, token" if self.private else "public, anonymous"
        if self.api_concurrency is not None:
            kind += f", GAAMA_API_CONCURRENCY={self.api_concurrency}"
        return kind


async def _host(server: ReleaseServer, folder: Path, fleet: Fleet) -> int:
    """One host's start-up: the CLI as users run it; its exit code."""
    hidden = ("GH_TOKEN", "GITHUB_TOKEN", "GAAMA_API_CONCURRENCY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(GAAMA_API_URL=server.api_url, GAAMA_CACHE_DIR=str(folder / "cache"))
    if fleet.token:
        env["GITHUB_TOKEN"] = fleet.token
    if fleet.api_concurrency is not None:
        env["GAAMA_API_CONCURRENCY"] = str(fleet.api_concurrency)
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--tag", "v1"]
    command += ["--dir", str(folder / "model"), "--quiet"]
    done = await anyio.run_process(command, env=env, check=False)
    return done.returncode


async def _start_fleet(
    server: ReleaseServer, folders: list[Path], fleet: Fleet, scenario: str
) -> Outcome:
    server.counters.reset()
    codes: list[int] = []

    async def one(folder: Path) -> None:
        codes.append(await _host(server, folder, fleet))

    started = time.perf_counter()
    async with anyio.create_task_group() as hosts:
        for folder in folders:
            hosts.start_soon(one, folder)
    wall = time.perf_counter() - started
    requests = server.counters.requests
    api = sum(n for route, n in requests.items() if route.startswith("api."))
    counters = server.counters
    return Outcome(
        scenario, len(folders), api, requests.get("web.download", 0),
        counters.peak_by_origin["api"], counters.statuses[403] + counters.statuses[429], wall,
        sum(code != 0 for code in codes),
    )  # fmt: skip


async def run(args: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    shared = max(1, 100 // args.hosts)
    for fleet in (Fleet(private=False), Fleet(private=True), Fleet(True, shared)):
        with tempfile.TemporaryDirectory(prefix="gaama-fleet-", dir=args.dir) as scratch:
            root = Path(scratch)
            config = ServerConfig(
                root=root / "github", tokens={TOKEN: "fleet"}, repos=(REPO,), private=fleet.private,
                latency=0.02, bandwidth=25.0 * MIB,
            )  # fmt: skip
            # A fleet of hosts is not a burst from one client: lift the limits that would
            # measure our waiting (the unauthenticated limit is per address, and all hosts
            # share 127.0.0.1 here).
            config.rate_limit = config.anonymous_rate_limit = 1_000_000
            async with ReleaseServer(config) as server:
                await _publish(server, root, args.files, args.file_kib * KIB)
                folders = [root / f"host-{n:03d}" for n in range(args.hosts)]
                for start in ("cold", "warm"):
                    scenario = f"{fleet.kind}: {start}"
                    outcomes.append(await _start_fleet(server, folders, fleet, scenario))
    return outcomes


def table(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    lines = [
        f"Fleet start-up: {args.hosts} hosts, {args.files} files x {args.file_kib} KiB, "
        "CDN-like profile (20 ms, 25 MiB/s per connection)",
        "",
        "| scenario | hosts | API calls per host | API calls | web requests "
        "| API peak in flight | refused (403/429) | wall | failed |",
        "|---|---|---|---|---|---|---|---|---|",
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
