"""Chaos: hundreds of transfers against one local server injecting every kind of fault.

Reproduce a run with ``GAAMA_CHAOS_SEED=N``; soak with ``GAAMA_CHAOS_SCALE=10``.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from pathlib import Path

import aiohttp
import anyio
import pytest
from chaos_support import (
    KIB,
    MIB,
    OWNER,
    Coverage,
    RequestTap,
    Seen,
    Tally,
    WaitLog,
    chaos_scale,
    chaos_seed,
    early_requests,
    fault_mix,
    faults_between,
    fired,
    kinds_between,
    retried_requests,
    unattributed,
    write_source,
)
from helpers import sha256_file

from gaama_async import (
    DownloadError,
    GaAMA,
    GaamaError,
    IntegrityError,
    PublishError,
    RetryPolicy,
)
from gaama_async.server import ReleaseServer, ServerConfig

pytestmark = pytest.mark.anyio

WORKERS = 4
ROUNDS = 14  # per worker, at scale 1: about 4 * 14 * 2.5 files * 2 directions = 280 transfers
MAX_ASSET_SIZE = 1536 * KIB  # large files are split into parts on both sides
PART_SIZE = 256 * KIB
SECONDARY_WAIT = 0.5
RETRY = RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.1)
# Which injected faults make which error acceptable (the transfer saw at least this many).
ACCEPTABLE = {
    IntegrityError: ({"corrupt"}, 2),  # corrupted on the try and on the retry from scratch
    DownloadError: (
        {
            "cut",
            "status",
            "expire",
            "stall",
            "corrupt",
            "reset",
            "short",
            "ignore_range",
            "change",
            "redirect",
            "html",
        },
        RETRY.attempts,
    ),
    PublishError: ({"cut", "status", "starter", "stall_upload"}, RETRY.attempts),
}


def _client(server: ReleaseServer, worker: int) -> GaAMA:
    options = {
        "repo": f"{OWNER}/w{worker}",
        "token": f"chaos-token-{worker}",
        "api_url": server.api_url,
        "retry": RETRY,
        "max_rate_limit_wait": 30,
        "secondary_rate_limit_wait": SECONDARY_WAIT,
        "part_size": PART_SIZE,
        "max_asset_size": MAX_ASSET_SIZE,
        "read_timeout": 1.5,  # the long stalls (2.5 s) must be detected and retried
        "max_concurrency": 4,
    }
    if "write_interval" in inspect.signature(GaAMA).parameters:
        options["write_interval"] = 0.01  # GitHub's 1 s pacing would dominate a CI run
    return GaAMA(**options)


def _sizes(rng: random.Random) -> list[int]:
    """1 to 4 files: mostly KBs, some empty, some in ranges of PART_SIZE, about a fifth a few
    MiB (split into parts)."""
    sizes = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.05:
            sizes.append(0)
        elif kind < 0.65:
            sizes.append(rng.randint(1, 96 * KIB))
        elif kind < 0.8:
            sizes.append(rng.randint(PART_SIZE + 1, MAX_ASSET_SIZE))
        else:
            sizes.append(rng.randint(2 * MIB, 4 * MIB))
    return sizes


class Workload:
    """One worker: publish a release, download it back, check; round after round."""

    def __init__(
        self, worker: int, root: Path, tap: RequestTap, tally: Tally, seed: int, cover: Coverage
    ) -> None:
        self.worker, self.root, self.tap, self.tally = worker, root, tap, tally
        self.coverage = cover
        self.rng = random.Random(seed * 1000 + worker)
        self.sources: dict[Path, dict[str, str]] = {}  # download dir -> name -> sha256

    async def run(self, client: GaAMA, rounds: int) -> None:
        for number in range(rounds):
            if number >= rounds // 2:  # the first half is the random mix alone
                self.coverage.top_up(self.tally.survived)
            await self.round(client, number)

    async def round(self, client: GaAMA, number: int) -> None:
        source = self.root / "src" / f"w{self.worker}" / f"r{number}"
        source.mkdir(parents=True)
        digests = {}
        for index, size in enumerate(_sizes(self.rng)):
            name = f"f{index}-{size}.bin"
            digests[name] = write_source(source / name, size, self.rng)
        tag = f"r{number}"
        paths = [source / name for name in digests]
        published = await self.attempt("upload", len(paths), client.publish(tag, paths))
        if published is None:
            return
        self.survived(published[1])  # publish checks size and digest of every asset
        out = self.root / "out" / f"w{self.worker}" / tag
        self.sources[out] = digests
        got = await self.attempt("download", len(paths), client.download(tag, out))
        if got is None:
            self.tally.failed_dirs.add(out)
            return
        names = {Path(p).name: sha256_file(Path(p)) for p in got[0]}  # type: ignore[attr-defined]
        if names != digests:
            self.tally.unexpected.append(f"w{self.worker} {tag}: wrong files {sorted(names)}")
        else:
            self.tally.verified += len(paths)
            self.survived(got[1])

    def survived(self, kinds: set[str]) -> None:
        """Credit each fault kind this verified transfer went through."""
        for kind in kinds:
            self.tally.survived[kind] += 1

    async def attempt(self, kind: str, count: int, call: object) -> tuple[object, set[str]] | None:
        """Await ``call``; a failure is checked against the faults this worker saw meanwhile.

        Returns the result and the fault kinds the transfer went through.
        """
        self.tally.transfers[kind] += count
        started = time.time()
        try:
            result = await call  # type: ignore[misc]
        except GaamaError as exc:
            seen = faults_between(self.tap.seen, self.worker, started, time.time())
            self.tally.failures[type(exc).__name__] += count
            kinds, at_least = ACCEPTABLE.get(type(exc), (set(), 1_000_000))
            if sum(seen[k] for k in kinds) < at_least:
                self.tally.unexpected.append(
                    f"w{self.worker} {kind}: {type(exc).__name__}: {exc} "
                    f"(faults meanwhile: {dict(seen)})"
                )
            return None
        if kind == "upload":
            self.tally.verified += count  # publish checks size and digest of every asset
        return result, kinds_between(self.tap.seen, self.worker, started, time.time())


async def _repo_ids(server: ReleaseServer) -> dict[int, int]:
    """Repository id -> worker, to attribute storage and ``/repositories/`` requests."""
    ids = {}
    async with aiohttp.ClientSession(headers={"User-Agent": "chaos"}) as session:
        for worker in range(WORKERS):
            server.add_token(f"chaos-token-{worker}", f"chaos-bot-{worker}")
            url = f"{server.api_url}/repos/{OWNER}/w{worker}"
            headers = {"Authorization": f"token chaos-token-{worker}"}
            async with session.get(url, headers=headers) as response:
                ids[(await response.json())["id"]] = worker
    return ids


def _bad_files(tally: Tally, sources: dict[Path, dict[str, str]]) -> list[str]:
    """Every visible file in a download dir must be whole; partials only after a failure."""
    bad = []
    for folder, digests in sources.items():
        for path in folder.rglob("*") if folder.exists() else []:
            hidden_dir = any(p.startswith(".") for p in path.relative_to(folder).parts[:-1])
            if path.is_dir() or hidden_dir or path.name == ".gaama-downloads.json":
                continue  # the client's own state (records, per-asset locks)
            if path.name.startswith("."):
                allowed = ".gaama-partial" in path.name and folder in tally.failed_dirs
                if not allowed and "lock" not in path.name:
                    bad.append(f"leftover {path}")
            elif digests.get(path.name) != sha256_file(path):
                bad.append(f"corrupt or partial {path}")
    return bad


def _summary(seed: int, tally: Tally, server: ReleaseServer, tap: RequestTap, waits: WaitLog,
             corrupt: int, early: int, elapsed: float, kinds: dict[str, tuple[int, int]],
             topped_up: int) -> str:  # fmt: skip
    faults = dict(sorted(server.counters.faults_injected.items()))
    return "\n".join(
        [
            "",
            f"chaos: seed {seed} (GAAMA_CHAOS_SEED={seed} to reproduce), scale {chaos_scale()}, "
            f"{elapsed:.1f} s",
            f"  transfers      {sum(tally.transfers.values())} {dict(tally.transfers)}, "
            f"verified {tally.verified}",
            f"  requests       {len(tap.seen)} ({len(unattributed(tap.seen))} not tied to a "
            f"worker), faults injected {sum(faults.values())}: {faults}",
            f"  retries        {retried_requests(tap.seen)} failed requests sent again",
            f"  waits          {len(waits.waits)} logged by the clients, early requests {early}",
            f"  failures       {dict(tally.failures) or 0}, unexpected {len(tally.unexpected)}",
            f"  corrupt files  {corrupt}",
            f"  per kind       fired / survived by a verified transfer ({topped_up} certain "
            "copies added for kinds the random mix had not yet covered):",
            *(f"    {kind:30} {hit:4} / {ok}" for kind, (hit, ok) in sorted(kinds.items())),
        ]
    )


async def test_chaos_transfers_end_verified_or_with_the_right_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    rounds = max(1, round(ROUNDS * chaos_scale()))
    # One repository per worker, made on first use.
    config = ServerConfig(root=tmp_path / "github", max_asset_size=MAX_ASSET_SIZE, auto_create=True)
    config.writes_per_minute, config.writes_per_hour = 100_000, 1_000_000
    waits = WaitLog()
    logging.getLogger("gaama_async").addHandler(waits)
    tally = Tally()
    started = time.monotonic()
    try:
        async with ReleaseServer(config) as server:
            tap = RequestTap(server, await _repo_ids(server))
            rng = random.Random(seed)
            server.faults.seed(seed)
            mix = fault_mix(rng)
            for fault in mix:
                server.faults.add(fault)
            coverage = Coverage(server, mix)
            workloads = [Workload(w, tmp_path, tap, tally, seed, coverage) for w in range(WORKERS)]
            async with anyio.create_task_group() as group:
                for workload in workloads:
                    client = _client(server, workload.worker)
                    group.start_soon(_run_and_close, workload, client, rounds)
            server.faults.clear()
            sources = {k: v for w in workloads for k, v in w.sources.items()}
            bad = _bad_files(tally, sources)
            early = early_requests(tap.seen, SECONDARY_WAIT)
            hits = fired(mix + coverage.added)
            kinds = {k: (hits[k], tally.survived[k]) for k in coverage.templates}
            summary = _summary(seed, tally, server, tap, waits, len(bad), len(early),
                               time.monotonic() - started, kinds,
                               len(coverage.added))  # fmt: skip
    finally:
        logging.getLogger("gaama_async").removeHandler(waits)
    with capsys.disabled():
        print(summary)
        for line in [*early, *tally.unexpected, *bad][:30]:
            print("  !", line)

    assert sum(tally.transfers.values()) >= 200 * min(1.0, chaos_scale())
    # Every kind of fault in the mix fired, and some transfer that met it ended verified.
    assert {k: v for k, v in kinds.items() if 0 in v} == {}
    assert sum(hits.values()) == sum(server.counters.faults_injected.values())
    assert bad == []
    assert tally.unexpected == []
    assert early == []


async def _run_and_close(workload: Workload, client: GaAMA, rounds: int) -> None:
    async with client:
        await workload.run(client, rounds)


def test_the_wait_check_flags_a_request_sent_inside_a_retry_after_window() -> None:
    limit = Seen(10.0, 10.01, "upload", "POST", "/repos/chaos/w1/releases/1/assets", 429,
                 ("secondary_limit", 429, 1.0), 1)  # fmt: skip
    in_flight = Seen(9.99, 10.05, "api.list_assets", "GET", "/", 200, None, 1)
    early = Seen(10.5, 10.52, "api.list_assets", "GET", "/", 200, None, 1)
    other_worker = Seen(10.5, 10.52, "api.list_assets", "GET", "/", 200, None, 2)
    storage = Seen(10.5, 10.52, "storage", "GET", "/", 200, None, 1)
    after = Seen(11.02, 11.03, "api.list_assets", "GET", "/", 200, None, 1)

    assert early_requests([limit, in_flight, other_worker, storage, after], 0.5) == []
    assert len(early_requests([limit, early], 0.5)) == 1
    primary = Seen(10.0, 10.01, "api.get_asset", "GET", "/", 403, ("primary_limit", 502, 0.8), 1)
    assert len(early_requests([primary, early], 0.5)) == 1
    assert early_requests([primary, after], 0.5) == []
