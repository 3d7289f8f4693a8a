"""``python -m benchmarks``: arguments, setup (peers, files, server, publish), the run, output.

Quick mode: ``make bench BENCH_ARGS="--size 512M --repeat 1"``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaama_async import client as client_module

from . import clients, files, peers, report, scenarios
from .clients import Bench
from .github import Api
from .measure import MIB, Case, run_from
from .process import run_measured
from .server import BenchServer

SCENARIOS = ("large-download", "many-small", "upload", "resume", "warm", "warm-100")
WARM_ASSETS = 100  # issue 5: a warm restart of a 100-asset release
GIB = 1024 * MIB
# GitHub refuses assets of 2 GiB or more, and gaama_async splits files above its default
# max asset size (2 GB - 1 MiB) into parts. The default "2 GiB" file is therefore capped at
# that size: one plain asset that curl and aria2c can fetch too.
LARGEST_SINGLE_ASSET = getattr(client_module, "DEFAULT_MAX_ASSET_SIZE", 2 * 10**9 - MIB)
REPO = "bench/models"
DEFAULT_DEST = Path("/dev/shm/gaama-bench") if Path("/dev/shm").is_dir() else Path("bench-data")

NOTES = [
    "How to read it: *median s* is the median over the runs of the time charged to the peer: "
    "the client process's wall time from spawn to exit (interpreter start included for the "
    "Python clients), plus, for curl, aria2c -x and hf_transfer, the harness-side API calls "
    "they cannot make themselves (resolving the asset's signed storage URL through the API's "
    "302; creating the draft release for `curl -T`). aria2c -j16 (many small files) is given "
    "its 500 signed URLs for free: the harness resolves them, 16 at a time, before the timed "
    "section, and the notes column shows how long that took. *in-process s* is the time "
    "inside gaama's publish/download call. *peak RSS* is the client process's maximum RSS "
    "(GNU `time -f %M`), the largest over the runs.",
    "",
    "Fairness: one server process for all peers (separate from every client), same files, same "
    "release, same signed storage URLs; random (incompressible) payloads; every download is "
    "checked for the right file sizes (gaama verifies sha256 itself). aria2c runs with "
    "`--file-allocation=none` (its fastest). gaama 0.7.2 is unmodified except its two "
    "hard-coded base URLs; it publishes with `zip_files=False` (its default uploads an extra "
    "zip of everything) and downloads every asset sequentially, one request each. A peer "
    "whose runs exceed the per-case time budget (`--budget`) is run fewer times. gaama_async "
    "(an editable install here) is compiled to bytecode first, as `pip install` leaves it.",
    "",
    "Profiles: loopback = no added latency, no bandwidth cap; cdn = 20 ms added to every API "
    "and storage response and 20 MiB/s per storage connection; https = loopback with every "
    "origin over TLS (a second server process, `ServerConfig(tls=True)`), every peer trusting "
    "its CA. Peers run in alternating rounds (one run of each, then again), so a load that "
    "comes and goes on the machine falls on all alike. Downloads land in `--dest` (RAM-backed "
    "`/dev/shm` by default, so disk writeback does not decide), with the download cache off "
    "in every gaama process. `gaama_async` is the time inside `download()` (in-process, "
    "sha256 verified); `gaama CLI` is `gaama download` timed as a whole process.",
]


def parse_size(text: str) -> int:
    """``2G``, ``256M``, ``64K``, ``512MiB`` or plain bytes."""
    match = re.fullmatch(r"(\d+)\s*([KMG]?)(?:i?B)?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    scale = {"": 1, "K": 1024, "M": MIB, "G": GIB}[match.group(2).upper()]
    return int(match.group(1)) * scale


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--size",
        type=parse_size,
        default=2 * GIB,
        help="large file size (default 2G, capped at one asset: 2 GB - 1 MiB)",
    )
    parser.add_argument("--small-count", type=int, default=500)
    parser.add_argument("--small-size", type=parse_size, default=64 * 1024)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="seconds per case: no further repeat starts if it would end past this",
    )
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--profile", choices=["loopback", "cdn", "https", "all"], action="append",
        help="network profile of the download scenarios, repeatable (default all; https: "
        "large download only)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    parser.add_argument(
        "--dest", type=Path, default=DEFAULT_DEST,
        help=f"where the server keeps its files and downloads land (default {DEFAULT_DEST}: "
        "RAM-backed; give a folder on disk to measure the disk)",
    )  # fmt: skip
    return parser.parse_args(argv)


def _publish(bench: Bench, tag: str, paths: list[Path]) -> None:
    """Publish with gaama_async once; every peer then reads this same release."""
    run = run_from(
        run_measured(
            # Setup, not a measurement: no pacing of writes (the server lifts its limits too).
            bench.gaama_async("publish", "--write-interval", "0", "--tag", tag, *map(str, paths)),
            cwd=clients.REPO_ROOT,
            env=bench.env(),
        )
    )
    if run.error:
        raise SystemExit(f"publishing {tag} with gaama_async failed: {run.error}")
    print(f"published {tag}: {len(paths)} file(s) in {run.seconds:.1f}s", flush=True)


def _single_asset(bench: Bench, tag: str, name: str, size: int) -> None:
    stored = {a["name"]: a["size"] for a in bench.api.release(tag)["assets"]}
    if stored.get(name) != size:
        raise SystemExit(
            f"release {tag} does not hold {name} as one asset of {size} bytes: "
            f"{stored}; curl and aria2c need one plain asset"
        )


def run(args: argparse.Namespace) -> tuple[list[Case], list[str]]:
    """Set everything up and run the chosen scenarios."""
    only = set(args.only or SCENARIOS)
    chosen = args.profile or ["all"]
    profiles = ["loopback", "cdn", "https"] if "all" in chosen else list(dict.fromkeys(chosen))
    out: Path = args.out.resolve()
    dest: Path = args.dest.resolve()
    notes = list(NOTES)
    size = min(args.size, LARGEST_SINGLE_ASSET)
    if size != args.size:
        notes.append(
            f"\nLarge file: {args.size} bytes asked, {size} used: gaama_async's default max "
            "asset size, above which it splits files (GitHub refuses 2 GiB or more)."
        )
    tools = peers.prepare(out / "venv-gaama072")
    for peer, reason in tools.missing.items():
        print(f"peer missing: {peer}: {reason}", flush=True)
    started = time.perf_counter()
    large = files.large_file(out / "data", size)
    small = files.small_files(out / "data", args.small_count, args.small_size)
    print(f"files ready in {time.perf_counter() - started:.1f}s", flush=True)
    root = dest / "server"
    shutil.rmtree(root, ignore_errors=True)
    token = f"bench_{secrets.token_hex(8)}"
    cases: list[Case] = []
    if "https" in profiles and "large-download" in only:
        cases += _https_large(args, dest, token, tools, large, size)
    with BenchServer(root, token) as server:
        bench = _bench(server, token, tools, dest, args)
        server.set_profile("loopback")
        if only & {"large-download", "resume", "warm"}:
            _publish(bench, "large", [large])
            _single_asset(bench, "large", large.name, size)
        if "many-small" in only:
            _publish(bench, "small", small)
        if "warm-100" in only:
            # Its own release of the first 100 small files (the many-small data).
            _publish(bench, "warm-100", small[:WARM_ASSETS])
        for profile in [p for p in profiles if p != "https"]:
            if "large-download" in only:
                cases += scenarios.large_download(bench, profile, "large", large.name, size)
            if "many-small" in only:
                sizes = {p.name: p.stat().st_size for p in small}
                cases += scenarios.many_small(bench, profile, "small", sizes)
        if "upload" in only:
            cases += scenarios.large_upload(bench, large)
        if "resume" in only:
            cases += scenarios.resume(bench, "large", large.name, size)
        if "warm" in only:
            cases += scenarios.warm_restart(bench, "large", large.name, size)
        if "warm-100" in only:
            sizes = {p.name: p.stat().st_size for p in small[:WARM_ASSETS]}
            cases += scenarios.warm_restart_many(bench, "warm-100", sizes)
    shutil.rmtree(dest / "work", ignore_errors=True)
    return cases, notes


def _bench(
    server: BenchServer, token: str, tools: peers.Tools, dest: Path, args: argparse.Namespace
) -> Bench:
    api = Api(server.urls.api, token, REPO, server.urls.ca_file)
    return Bench(server, api, tools, dest / "work", REPO, token, args.repeat, args.budget)


def _https_large(
    args: argparse.Namespace, dest: Path, token: str, tools: peers.Tools, large: Path, size: int
) -> list[Case]:
    """The large download on a second server that speaks TLS on every origin."""
    root = dest / "server-tls"
    shutil.rmtree(root, ignore_errors=True)
    try:
        with BenchServer(root, token, tls=True) as server:
            bench = _bench(server, token, tools, dest, args)
            _publish(bench, "large", [large])
            _single_asset(bench, "large", large.name, size)
            return scenarios.large_download(bench, "https", "large", large.name, size)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    # Every client process measures transfers: none may be answered from gaama_async's
    # download cache (the warm scenarios measure the per-folder record, which stays on).
    os.environ["GAAMA_CACHE_DIR"] = "off"
    args = parse_args(argv)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    cases, notes = run(args)
    tools = peers.prepare(args.out.resolve() / "venv-gaama072")
    versions = {
        "curl": peers.version_of([tools.curl, "--version"]) if tools.curl else "missing",
        "aria2c": peers.version_of([tools.aria2c, "--version"]) if tools.aria2c else "missing",
        "gaama": "0.7.2" if tools.gaama072_python else "missing",
    }
    info: dict[str, Any] = {
        "machine": report.machine(),
        "command": command,
        "versions": "; ".join(f"{k}: {v}" for k, v in versions.items()),
        "notes": notes,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    results = {
        **info,
        "cases": [c.to_json() for c in cases],
        "targets": [{**t.__dict__, "met": t.met} for t in report.targets(cases)],
    }
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report.markdown(cases, info)
    (out / "results.md").write_text(table)
    written = [out / "results.json", out / "results.md"]
    if peers.pip_module("matplotlib", "matplotlib", {}, "chart"):
        from . import chart  # matplotlib: a benchmark-only dependency, installed just above

        written.append(chart.draw(cases, out / "chart.png", info))
    print(f"\nwrote {', '.join(map(str, written))}\n")
    print(table)
    return 0
