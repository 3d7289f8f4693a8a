"""ReleaseServer: builds the four origins (API, uploads, storage, web) and runs them.

In enterprise mode the same four applications are mounted on one origin, as a GitHub
Enterprise Server lays them out: the API under ``/api/v3``, uploads under ``/api/uploads``,
storage under ``/storage`` (a guess: GHES storage paths are instance-specific) and the web
host at the root.
"""

from __future__ import annotations

import errno
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import anyio
from aiohttp import web
from aiohttp.typedefs import Middleware

from . import api, archives, graphql, moves, notes, refs, repos, root, storage, uploads
from . import web as web_origin
from .config import ServerConfig
from .counters import Counters
from .edge import EdgePipeline
from .faults import FaultSet
from .gateway import Handler, Pipeline
from .listen import (
    SPREAD_ATTEMPTS,
    bind_host_shown,
    origin_hosts,
    origin_ports,
    port_collision,
    spreads_over_loopback,
)
from .public import (
    ENTERPRISE_API,
    ENTERPRISE_GRAPHQL_MOUNT,
    ENTERPRISE_STORAGE,
    ENTERPRISE_UPLOADS,
    Origins,
    enterprise_origins,
)
from .renames import Renames
from .service import ORIGIN, SERVICES, Services
from .store import Store
from .tls import ServerTLS, generated_tls, given_tls

_STOP_DEADLINE = 10.0
_READ_BUFSIZE = 4 * 1024 * 1024


def _github_app(svc: Services, origin: str, routes: list[web.RouteDef]) -> web.Application:
    pipeline = Pipeline("api" if origin == "api" else "uploads")
    app = web.Application(middlewares=[pipeline.__call__], client_max_size=1024**2)
    app[SERVICES] = svc
    app[ORIGIN] = origin
    app.on_response_prepare.append(pipeline.decorate)
    app.add_routes(routes)
    return app


def _edge_app(svc: Services, origin: str, routes: list[web.RouteDef]) -> web.Application:
    pipeline = EdgePipeline(origin)
    app = web.Application(middlewares=[pipeline.__call__])
    app[SERVICES] = svc
    app[ORIGIN] = origin
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
    app[ORIGIN] = "web"
    app.on_response_prepare.append(pipeline.decorate)
    app.add_routes(_web_routes())
    app.add_subapp(ENTERPRISE_API, _github_app(svc, "api", _api_routes()))

    app.add_subapp(ENTERPRISE_UPLOADS, _github_app(svc, "uploads", uploads.routes()))
    app.add_subapp(ENTERPRISE_STORAGE, _edge_app(svc, "storage", storage.routes()))
    # GHES answers GraphQL at /api/graphql, beside (not under) the REST base /api/v3; mounted
    # last, so /api/v3 and /api/uploads match first.
    app.add_subapp(ENTERPRISE_GRAPHQL_MOUNT, _github_app(svc, "api", graphql.routes()))
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
        self._tls: ServerTLS | None = None
        self.api_url = self.uploads_url = self.storage_url = self.web_url = ""

    @property
    def faults(self) -> FaultSet:
        """Injected faults (``add``, ``clear``, ``seed``)."""
        return self._services.faults

    @property
    def store(self) -> Store:
        """What the server holds (repositories, releases, assets, tags), for tests to check."""
        return self._services.store

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
        found = svc.store.find_repo(owner, repo)
        if found is None:
            raise KeyError(f"no repository {owner}/{repo}")
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
        known = store.find_repo(owner, repo)
        found = store.release(known, release_id) if known else None
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
        self._tls = self._server_tls()
        self._create_configured_repos()
        try:
            if self.config.enterprise:
                await self._start_enterprise()
            else:
                await self._start_spread()
        except BaseException:
            await self.stop()
            raise

    async def _start_spread(self) -> None:
        """The default layout; fresh ports when a sibling address had the API's port taken."""
        for attempt in range(SPREAD_ATTEMPTS):
            try:
                urls = await self._serve_four()
                break
            except OSError as error:
                if error.errno == errno.EADDRNOTAVAIL and spreads_over_loopback(self.config):
                    self.config.spread_loopback = False  # no 127.0.0.2 here (e.g. macOS)
                elif not port_collision(error, self.config) or attempt == SPREAD_ATTEMPTS - 1:
                    raise
                await self._close_runners()
        self.api_url, self.uploads_url, self.storage_url, self.web_url = urls
        self._services.bound = Origins(*urls)

    async def _serve_four(self) -> list[str]:
        svc, config = self._services, self.config
        apps = [
            _github_app(svc, "api", _api_routes() + graphql.routes()),
            _github_app(svc, "uploads", uploads.routes()),
            _edge_app(svc, "storage", storage.routes()),
            _edge_app(svc, "web", _web_routes()),
        ]
        hosts = origin_hosts(config)
        api_url, api_port = await self._serve(apps[0], hosts[0], config.api_port)
        urls = [api_url]
        for app, host, port in zip(
            apps[1:], hosts[1:], origin_ports(config, api_port)[1:], strict=True
        ):
            urls.append((await self._serve(app, host, port))[0])
        return urls

    async def _start_enterprise(self) -> None:
        app = _enterprise_app(self._services)
        base, _ = await self._serve(app, self.config.host, self.config.api_port)
        origins = enterprise_origins(base)
        self.api_url, self.uploads_url = origins.api, origins.uploads
        self.storage_url, self.web_url = origins.storage, origins.web
        self._services.bound = origins

    async def _serve(self, app: web.Application, host: str, port: int) -> tuple[str, int]:
        """Serve ``app`` on ``host:port``; its base URL and the port it got."""
        # A larger read buffer lets big uploads arrive in fewer, larger chunks.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, read_bufsize=_READ_BUFSIZE
        )
        await runner.setup()
        self._runners.append(runner)
        context = self._tls.context if self._tls else None
        site = web.TCPSite(runner, host, port, ssl_context=context)
        await site.start()
        bound_port: int = runner.addresses[0][1]
        scheme = "https" if context else "http"
        return f"{scheme}://{bind_host_shown(host)}:{bound_port}", bound_port

    def _server_tls(self) -> ServerTLS | None:
        config = self.config
        if config.tls_cert and config.tls_key:
            return given_tls(config.tls_cert, config.tls_key)
        if not config.tls:
            return None
        public = urlsplit(config.public_url).hostname if config.public_url else None
        hosts = [*origin_hosts(config), *([public] if public else [])]
        return generated_tls(config.root / "tls", hosts)

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate to trust (``SSL_CERT_FILE``) when the server made its own."""
        return self._tls.ca_file if self._tls else None

    def _create_configured_repos(self) -> None:
        for full_name in self.config.repos:
            owner, _, name = full_name.partition("/")
            self._services.store.create_repo(owner, name)

    async def _close_runners(self) -> None:
        runners, self._runners = self._runners, []
        # Shielded: a cancelled `serve` must still close its sockets, within a deadline.
        with anyio.move_on_after(_STOP_DEADLINE, shield=True):
            for runner in reversed(runners):
                await runner.cleanup()

    async def stop(self) -> None:
        """Stop serving and release the ports; state stays on disk."""
        self._services.stopping = True
        await self._close_runners()
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
