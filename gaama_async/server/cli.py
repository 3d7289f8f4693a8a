"""``gaama serve``: argument parsing and the run loop, called by the main CLI."""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .config import DEFAULT_MAX_ASSET_SIZE, ServerConfig
from .faults import Fault, FaultAction, parse_fault
from .listen import spreads_over_loopback

if TYPE_CHECKING:
    from .app import ReleaseServer


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``gaama serve`` to ``parser``."""
    parser.add_argument("--root", type=Path, required=True, help="directory for persisted state")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind; the default spreads the four origins over 127.0.0.1 to "
        "127.0.0.4 (API, uploads, storage, web), one host each as on github.com",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port of every origin on 127.0.0.1-4; with another --host, the API's port and "
        "uploads, storage and web take the next three; --enterprise: its one port "
        "(default: a free port)",
    )
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        type=_repo_name,
        metavar="OWNER/NAME",
        help="create this repository (repeatable); others answer 404 like GitHub, unless "
        "--auto-create; POST /user/repos creates more while serving",
    )
    parser.add_argument(
        "--auto-create",
        action="store_true",
        help="create unknown repositories on first use instead of answering 404",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        type=_public_url,
        help="the URL clients reach this server by (behind a proxy or TLS front); every URL "
        "in answers is built from it. --enterprise: the one base URL; otherwise the web "
        "host, with api., uploads. and objects. siblings (default: the request's Host)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate from a local CA kept under --root (its path is "
        "printed: export it as SSL_CERT_FILE)",
    )
    parser.add_argument("--cert", type=Path, default=None, help="serve HTTPS with this PEM chain")
    parser.add_argument("--key", type=Path, default=None, help="the private key for --cert")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="accepted token (repeatable; default: one random token, printed once)",
    )
    parser.add_argument("--private", action="store_true", help="make every repository private")
    parser.add_argument(
        "--immutable",
        action="store_true",
        help="immutable releases, as GitHub's repository setting: published releases lock "
        "their assets and tag, and a deleted one's tag can never be used again",
    )
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


def _repo_name(value: str) -> str:
    owner, slash, name = value.partition("/")
    if not (owner and slash and name) or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not OWNER/NAME")
    return value


def _public_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a base URL such as https://ghes.example or http://host:8080"
        )
    return value.rstrip("/")


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
    if (ns.cert is None) != (ns.key is None):
        raise ValueError("--cert and --key go together")
    config = ServerConfig(
        root=ns.root,
        host=ns.host,
        repos=tuple(ns.repo),
        auto_create=ns.auto_create,
        public_url=ns.public_url,
        tls=ns.tls or ns.cert is not None,
        tls_cert=ns.cert,
        tls_key=ns.key,
        tokens=dict.fromkeys(tokens, "gaama"),
        private=ns.private,
        immutable=ns.immutable,
        max_asset_size=ns.max_asset_size,
        signed_url_ttl=ns.url_ttl,
        enterprise=ns.enterprise,
        direct_downloads=True if ns.direct_downloads else None,
        rate_limits=None if ns.rate_limit is None else True,
        rate_limit=5000 if ns.rate_limit is None else ns.rate_limit,
        latency=ns.latency,
        read_after_write_lag=ns.read_after_write_lag,
        bandwidth=ns.bandwidth,
        api_port=ns.port,
    )
    if ns.port and not spreads_over_loopback(config):
        config.uploads_port, config.storage_port, config.web_port = (
            ns.port + 1,
            ns.port + 2,
            ns.port + 3,
        )
    return config


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
    from .app import ReleaseServer  # here, not at the top: see the package's __getattr__

    async with ReleaseServer(config) as server:
        server.faults.seed(seed)
        for fault in faults:
            server.faults.add(fault)
        print_fn(f"gaama release server, state in {config.root}")
        for line in _describe(server):
            print_fn(line)
        if config.repos:
            print_fn(f"  repositories: {', '.join(config.repos)}")
        if not config.auto_create:
            print_fn("  unknown repositories answer 404 (--repo, --auto-create, POST /user/repos)")
        print_fn("Use it with:")
        print_fn(f"  export GAAMA_API_URL={server.api_url}")
        if server.ca_file is not None:
            print_fn(f"  export SSL_CERT_FILE={server.ca_file}")
        for token in config.tokens:
            print_fn(f"  export GITHUB_TOKEN={token}")
        for fault in faults:
            print_fn(f"  injecting {fault}")
        print_fn("(the client reads the token from GITHUB_TOKEN). Press Ctrl+C to stop.")
        await asyncio.Event().wait()
