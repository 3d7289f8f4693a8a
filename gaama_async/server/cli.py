"""``gaama serve``: argument parsing and the run loop, called by the main CLI."""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from .app import ReleaseServer
from .config import DEFAULT_MAX_ASSET_SIZE, ServerConfig
from .faults import Fault, FaultAction, parse_fault


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``gaama serve`` to ``parser``."""
    parser.add_argument("--root", type=Path, required=True, help="directory for persisted state")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        help="API port; uploads, storage and web take the next three, except with "
        "--enterprise, which uses this one port only (default: free ports)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="accepted token (repeatable; default: one random token, printed once)",
    )
    parser.add_argument("--private", action="store_true", help="make every repository private")
    parser.add_argument(
        "--max-asset-size", type=int, default=DEFAULT_MAX_ASSET_SIZE, help="bytes per asset"
    )
    parser.add_argument(
        "--url-ttl", type=float, default=300.0, help="seconds a signed download URL stays valid"
    )
    parser.add_argument(
        "--direct-downloads",
        action="store_true",
        help="answer API downloads with 200 and the bytes (GHES style) instead of a 302",
    )
    parser.add_argument(
        "--enterprise",
        action="store_true",
        help="GitHub Enterprise Server layout on one port: API under /api/v3, uploads under "
        "/api/uploads, direct 200 downloads, rate limits off unless --rate-limit is given",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="core requests per hour (5000)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    parser.add_argument(
        "--read-after-write-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a release or asset just written is not found for this long (GitHub's lag)",
    )
    parser.add_argument(
        "--bandwidth", type=float, default=None, help="bytes/second per download connection"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault_argument,
        metavar="ACTION[@ROUTE][,k=v...]",
        help="inject a fault (repeatable), e.g. 'status@upload,status=502,times=2' or "
        "'cut@storage,after_bytes=65536,times=forever,probability=0.1'; actions: "
        + ", ".join(FaultAction.__args__),  # type: ignore[attr-defined]
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random faults")


def _port(value: str) -> int:
    """A port to bind: 0 (any free one) up to 65532, leaving room for the next three."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535 - 3:
        raise argparse.ArgumentTypeError(f"{port} is not a port from 0 to 65532")
    return port


def _fault_argument(spec: str) -> Fault:
    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(ns: argparse.Namespace) -> ServerConfig:
    """Build the server configuration from parsed ``serve`` arguments.

    Without ``--token`` one random token is generated; every token logs in as ``gaama``.
    An explicit ``--rate-limit`` turns limits on even in enterprise mode, where they are
    off by default.
    """
    tokens = list(ns.token) or [f"gaama_{secrets.token_hex(16)}"]
    port: int = ns.port
    ports = [port, port + 1, port + 2, port + 3] if port else [0, 0, 0, 0]
    return ServerConfig(
        root=ns.root,
        host=ns.host,
        tokens=dict.fromkeys(tokens, "gaama"),
        private=ns.private,
        max_asset_size=ns.max_asset_size,
        signed_url_ttl=ns.url_ttl,
        enterprise=ns.enterprise,
        direct_downloads=True if ns.direct_downloads else None,
        rate_limits=None if ns.rate_limit is None else True,
        rate_limit=5000 if ns.rate_limit is None else ns.rate_limit,
        latency=ns.latency,
        read_after_write_lag=ns.read_after_write_lag,
        bandwidth=ns.bandwidth,
        api_port=ports[0],
        uploads_port=ports[1],
        storage_port=ports[2],
        web_port=ports[3],
    )


def _describe(server: ReleaseServer) -> list[str]:
    """The lines that say where each origin is."""
    if server.config.enterprise:
        return [
            f"  GitHub Enterprise Server layout on {server.web_url}",
            f"  base URL: {server.api_url}   (Github(base_url=...), GAAMA_API_URL)",
            f"  uploads:  {server.uploads_url}",
        ]
    return [
        f"  API:     {server.api_url}",
        f"  uploads: {server.uploads_url}",
        f"  storage: {server.storage_url}",
        f"  web:     {server.web_url}",
    ]


async def serve_until_stopped(
    config: ServerConfig,
    *,
    faults: Sequence[Fault] = (),
    seed: int = 0,
    print_fn: Callable[[str], None] = print,
) -> None:
    """Run the server, print how to reach it, and wait until cancelled (e.g. by SIGINT).

    The token is printed because the user chose it (or we generated it for them); nothing
    else in gaama ever prints a token.
    """
    async with ReleaseServer(config) as server:
        server.faults.seed(seed)
        for fault in faults:
            server.faults.add(fault)
        print_fn(f"gaama release server, state in {config.root}")
        for line in _describe(server):
            print_fn(line)
        print_fn("Use it with:")
        print_fn(f"  export GAAMA_API_URL={server.api_url}")
        for token in config.tokens:
            print_fn(f"  export GITHUB_TOKEN={token}")
        for fault in faults:
            print_fn(f"  injecting {fault}")
        print_fn("(the client reads the token from GITHUB_TOKEN). Press Ctrl+C to stop.")
        await asyncio.Event().wait()
