"""ReleaseServer: builds the four origins (API, uploads, storage, web) and runs them.

In enterprise mode the same four applications are mounted on one origin, as a GitHub
Enterprise Server lays them out: the API under ``/api/v3``, uploads under ``/api/uploads``,
storage under ``/storage`` (a guess: GHES storage paths are instance-specific) and the web
host at the root.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import anyio
from aiohttp import web
from aiohttp.typedefs import Middleware

from . import api, archives, moves, notes, refs, repos, root, storage, uploads
from . import web as web_origin
from .config import ServerConfig
from .counters import Counters
from .edge import EdgePipeline
from .faults import FaultSet
from .gateway import Handler, Pipeline
from .renames import Renames
from .render import Origins
from .service import SERVICES, Services
from .store import Store

_STOP_DEADLINE = 10.0
_READ_BUFSIZE = 4 * 1024 * 1024
ENTERPRISE_API = "/api/v3"
ENTERPRISE_UPLOADS = "/api/uploads"
ENTERPRISE_STORAGE = "/storage"


def _github_app(svc: Services, origin: str, routes: list[web.RouteDef]) -> web.Application:
    pipeline = Pipeline("api" if origin == "api" else "uploads")
    app = web.Application(middlewares=[pipeline.__call__], client_max_size=1024**2)
    app[SERVICES] = svc
    app.on_response_prepare.append(pipeline.decorate)
    app.add_routes(routes)
    return app


def _edge_app(svc: Services, origin: str, routes: list[web.RouteDef]) -> web.Application:
    pipeline = EdgePipeline(origin)
    app = web.Application(middlewares=[pipeline.__call__])
    app[SERVICES] = svc
    app.on_response_prepare.append(pipeline.decorate)
    app.add_routes(routes)
    return app


def _root_only(middleware: Middleware) -> Middleware:
    """Run ``middleware`` only for the root application's own routes.

    aiohttp wraps a sub-application's handlers in its parents' middlewares too; the web
    origin's pipeline must not count or fault requests that belong to the mounted origins.
    """

    @web.middleware
    async def wrapper(request: web.Request, handler: Handler) -> web.StreamResponse:
        if len(request.match_info.apps) > 1:
            return await handler(request)
        return await middleware(request, handler)

    return wrapper


def _enterprise_app(svc: Services) -> web.Application:
    """The four origins on one application, at their GHES paths."""
    pipeline = EdgePipeline("web")
    app = web.Application(middlewares=[_root_only(pipeline.__call__)])
    app[SERVICES] = svc
    app.on_response_prepare.append(pipeline.decorate)
    app.add_routes(_web_routes())
    app.add_subapp(ENTERPRISE_API, _github_app(svc, "api", _api_routes()))
    app.add_subapp(ENTERPRISE_UPLOADS, _github_app(svc, "uploads", uploads.routes()))
    app.add_subapp(ENTERPRISE_STORAGE, _edge_app(svc, "storage", storage.routes()))
    return app


def _web_routes() -> list[web.RouteDef]:
    return web_origin.routes() + archives.web_routes()


def _api_routes() -> list[web.RouteDef]:
    origin = api.routes() + repos.routes() + refs.routes() + notes.routes() + root.routes()
    origin += archives.api_routes()
    return moves.by_id_routes(origin)


class ReleaseServer:
    """A local GitHub Releases emulator on four origins of ``config.host``.

    With ``config.enterprise`` it serves one origin in the GHES layout; ``api_url`` is then
    ``http://HOST:PORT/api/v3``, what GHES clients take as their base URL.

    Use ``async with ReleaseServer(config) as server`` or ``start()``/``stop()``. The URLs
    are known once started. State persists under ``config.root`` across restarts.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        store = Store(config.root)
        self._services = Services(config=config, store=store, renames=Renames(config.root))
        self._runners: list[web.AppRunner] = []
        self.api_url = self.uploads_url = self.storage_url = self.web_url = ""

    @property
    def faults(self) -> FaultSet:
        """Injected faults (``add``, ``clear``, ``seed``)."""
        return self._services.faults

    @property
    def counters(self) -> Counters:
        """Live request statistics."""
        return self._services.counters

    def add_token(self, token: str, login: str, *, read_only: bool = False) -> None:
        """Accept ``token`` as ``login`` from now on."""
        self.config.tokens[token] = login
        if read_only:
            self.config.read_only_tokens = self.config.read_only_tokens | {token}

    def rename_repo(
        self, owner: str, repo: str, name: str, *, new_owner: str | None = None
    ) -> None:
        """Rename ``owner/repo`` to ``new_owner/name`` (owner unchanged by default).

        From then on the API answers requests naming the old name with GitHub's redirect to
        ``/repositories/{id}/...`` (see ``moves``); ids, releases and assets stay.
        """
        svc = self._services
        found = svc.store.repo(owner, repo)
        svc.renames.rename(svc.store, found, new_owner or found.owner, name)

    def seed_asset(
        self,
        owner: str,
        repo: str,
        release_id: int,
        name: str,
        source: Path,
        *,
        content_type: str = "application/octet-stream",
        label: str | None = None,
        digest: str | None = None,
        uploader: str = "web-flow",
    ) -> int:
        """Add an asset as if uploaded through the web UI and return its id.

        ``source`` is **moved** into the store (never read), so tests and benchmarks can seed
        huge sparse files instantly. The defaults mimic legacy UI uploads: ``label`` null and
        ``digest`` null (spec 13.17, 13.18).
        """
        store = self._services.store
        found = store.release(store.repo(owner, repo), release_id)
        if found is None:
            raise KeyError(f"no release {release_id} in {owner}/{repo}")
        size = source.stat().st_size
        blob = store.commit_blob(source)
        asset = store.add_asset(
            found,
            name=name,
            label=label,
            content_type=content_type,
            state="uploaded",
            size=size,
            digest=digest,
            uploader=uploader,
            blob=blob,
        )
        return asset.id

    async def start(self) -> None:
        """Bind the four origins (or the one enterprise origin) and start serving."""
        self._services.stopping = False
        if self.config.enterprise:
            await self._start_enterprise()
            return
        svc = self._services
        config = self.config
        plan = [
            (_github_app(svc, "api", _api_routes()), config.api_port),
            (_github_app(svc, "uploads", uploads.routes()), config.uploads_port),
            (_edge_app(svc, "storage", storage.routes()), config.storage_port),
            (_edge_app(svc, "web", _web_routes()), config.web_port),
        ]
        urls = []
        try:
            for app, port in plan:
                urls.append(await self._serve(app, port))
        except BaseException:
            await self.stop()
            raise
        self.api_url, self.uploads_url, self.storage_url, self.web_url = urls
        svc.origins = Origins(*urls)

    async def _start_enterprise(self) -> None:
        try:
            base = await self._serve(_enterprise_app(self._services), self.config.api_port)
        except BaseException:
            await self.stop()
            raise
        self.api_url = base + ENTERPRISE_API
        self.uploads_url = base + ENTERPRISE_UPLOADS
        self.storage_url = base + ENTERPRISE_STORAGE
        self.web_url = base
        self._services.origins = Origins(
            self.api_url, self.uploads_url, self.storage_url, self.web_url
        )

    async def _serve(self, app: web.Application, port: int) -> str:
        # A larger read buffer lets big uploads arrive in fewer, larger chunks.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, read_bufsize=_READ_BUFSIZE
        )
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{bound_port}"

    async def stop(self) -> None:
        """Stop serving and release the ports; state stays on disk."""
        runners, self._runners = self._runners, []
        self._services.stopping = True
        # Shielded: a cancelled `serve` must still close its sockets, within a deadline.
        with anyio.move_on_after(_STOP_DEADLINE, shield=True):
            for runner in reversed(runners):
                await runner.cleanup()
        self._services.store.save()

    async def __aenter__(self) -> ReleaseServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
