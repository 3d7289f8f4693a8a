"""An aiohttp service that downloads its model from a GitHub release at start-up.

The download runs in a ``cleanup_ctx`` hook, so the server accepts no request before the
model is on disk and verified (size and sha256), and a failed download stops start-up with
one clear error instead of serving without a model.

Try it against the local server (after ``examples/publish_from_training.py`` published v1)::

    export GAAMA_API_URL=http://127.0.0.1:PORT GITHUB_TOKEN=dev-token
    python examples/download_at_startup_aiohttp.py --repo acme/models --tag v1 --port 8080
    curl http://127.0.0.1:8080/model
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gaama_async import GaAMA


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from and where it goes."""

    repo: str
    tag: str | None
    directory: Path
    include: str | None = None


@dataclass(frozen=True)
class LoadedModel:
    """What start-up found on disk: file name -> size in bytes."""

    tag: str | None
    files: dict[str, int]


SOURCE = web.AppKey("model_source", ModelSource)
MODEL = web.AppKey("model", LoadedModel)


async def download_model(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` hook: download before serving; nothing to release at shutdown."""
    source = app[SOURCE]
    async with GaAMA(repo=source.repo) as client:
        paths = await client.download(source.tag, source.directory, include=source.include)
    app[MODEL] = LoadedModel(source.tag, {p.name: p.stat().st_size for p in paths})
    yield


async def model_info(request: web.Request) -> web.Response:
    """GET /model: which files the service loaded."""
    model = request.app[MODEL]
    return web.json_response({"tag": model.tag, "files": model.files})


def create_app(source: ModelSource) -> web.Application:
    """The service, with the model download wired into its start-up."""
    app = web.Application()
    app[SOURCE] = source
    app.cleanup_ctx.append(download_model)
    app.router.add_get("/model", model_info)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the service until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default="acme/models", help="owner/name (acme/models)")
    parser.add_argument("--tag", default=None, help="release tag (default: the latest)")
    parser.add_argument("--dir", type=Path, default=Path("models"), help="model directory")
    parser.add_argument("--include", default=None, help="glob of files to fetch (all)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    source = ModelSource(args.repo, args.tag, args.dir, args.include)
    web.run_app(create_app(source), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
