"""One gaama_async transfer through the public API, in its own process.

Prints one JSON line: ``{"seconds": ...}``, the time spent inside ``publish``/``download``
(the harness also measures the process's wall time, interpreter start included).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anyio

from gaama_async import GaAMA


async def _run(args: argparse.Namespace) -> float:
    options: dict[str, float] = {}
    if args.write_interval is not None:
        options["write_interval"] = args.write_interval
    if args.concurrency is not None:
        options["max_concurrency"] = args.concurrency
    async with GaAMA(repo=args.repo, token=args.token, api_url=args.api_url, **options) as client:
        start = time.perf_counter()
        if args.command == "download":
            await client.download(args.tag, args.dir)
        else:
            await client.publish(args.tag, [Path(f) for f in args.files])
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["download", "publish"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--dir", default=".")
    parser.add_argument("--write-interval", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("files", nargs="*")
    args = parser.parse_intermixed_args()
    print(json.dumps({"seconds": anyio.run(_run, args)}))


if __name__ == "__main__":
    main()
