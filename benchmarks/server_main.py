"""The benchmark's release server, run as its own process so the clients' RSS and CPU are theirs.

It starts :class:`ReleaseServer` and a tiny control origin (JSON over HTTP) through which the
harness switches network profiles at run time and reads or resets the server's counters: the
storage-side byte counts are how resume and warm restart are judged. On start it prints one
JSON line with every URL; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from gaama_async.server import ReleaseServer, ServerConfig

# Knobs the harness may turn while the server runs.
_TUNABLE = ("latency", "bandwidth", "max_asset_size", "signed_url_ttl")


def _config(root: Path, token: str, max_asset_size: int | None) -> ServerConfig:
    # Scenarios and peers pick their own repositories; they exist on first use.
    config = ServerConfig(root=root, tokens={token: "bench"}, auto_create=True)
    # Hundreds of uploads and thousands of API calls per run: lift GitHub's limits, which
    # would otherwise measure our waiting rather than our transfers.
    config.writes_per_minute = 100_000
    config.writes_per_hour = 100_000
    config.rate_limit = 1_000_000_000
    if max_asset_size is not None:
        config.max_asset_size = max_asset_size
    return config


def summarize(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The counters without the per-request log; storage requests by method and status."""
    requests: dict[str, int] = snapshot["requests"]
    storage = [r for r in snapshot["log"] if r["route"].startswith("storage")]
    answers = Counter(f"{r['method']} {r['status']}" for r in storage)
    return {
        "requests": requests,
        "statuses": snapshot["statuses"],
        "storage_requests": len(storage),
        # Storage answers that carry asset bytes; a HEAD, 304 or 416 carries none.
        "storage_bodies": answers["GET 200"] + answers["GET 206"],
        "storage_answers": dict(answers),
        "bytes_sent": snapshot["bytes_sent"],
        "bytes_received": snapshot["bytes_received"],
        "connections_peak": snapshot["connections_peak"],
    }


def _control_app(server: ReleaseServer) -> web.Application:
    async def counters(_: web.Request) -> web.Response:
        return web.json_response(summarize(server.counters.snapshot()))

    async def reset(_: web.Request) -> web.Response:
        server.counters.reset()
        return web.json_response({})

    async def configure(request: web.Request) -> web.Response:
        changes: dict[str, Any] = await request.json()
        for key, value in changes.items():
            if key not in _TUNABLE:
                raise web.HTTPBadRequest(text=f"not tunable: {key}")
            setattr(server.config, key, value)
        return web.json_response({k: getattr(server.config, k) for k in _TUNABLE})

    app = web.Application()
    app.add_routes(
        [web.get("/counters", counters), web.post("/reset", reset), web.post("/config", configure)]
    )
    return app


async def serve(root: Path, token: str, max_asset_size: int | None) -> None:
    """Run until SIGTERM or SIGINT, after printing the URLs as one JSON line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ReleaseServer(_config(root, token, max_asset_size)) as server:
        runner = web.AppRunner(_control_app(server), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        urls = {
            "api": server.api_url,
            "uploads": server.uploads_url,
            "storage": server.storage_url,
            "control": f"http://127.0.0.1:{port}",
        }
        print(json.dumps(urls), flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--max-asset-size", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(serve(args.root, args.token, args.max_asset_size))


if __name__ == "__main__":
    main()
