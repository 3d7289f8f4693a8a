"""The thin pipeline of the storage and web origins: counting, latency and faults only.

These hosts are not the API: no rate limits, no GitHub JSON, and any ``Authorization``
header they receive is counted, because clients are supposed to drop it on the redirect.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import clock
from .faults import STORAGE_ACTIONS, WEB_ACTIONS
from .gateway import Handler
from .portal import portal_page
from .service import ROUTE_NAMES, services
from .storage import xml_error
from .targets import take_fault


class EdgePipeline:
    """Middleware of the storage (``storage``) or web (``web``) origin."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.actions = STORAGE_ACTIONS if origin == "storage" else WEB_ACTIONS

    @web.middleware
    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        svc = services(request)
        route = ROUTE_NAMES.get(request.match_info.handler, f"{self.origin}.unknown")
        had_authorization = "Authorization" in request.headers
        if had_authorization:
            svc.counters.storage_requests_with_authorization += 1
        svc.counters.opened(self.origin)
        status = 500
        token = clock.serving(svc.config)
        try:
            response = await self._run(request, handler, route)
            status = response.status
            if isinstance(response, web.Response) and isinstance(response.body, bytes):
                svc.counters.bytes_sent += len(response.body)
            return response
        finally:
            clock.done(token)
            svc.counters.closed(self.origin)
            svc.counters.record(
                route, request.method, request.path_qs, status, had_authorization=had_authorization
            )

    @staticmethod
    async def decorate(request: web.Request, response: web.StreamResponse) -> None:
        """``on_response_prepare`` hook: a skewed server's ``Date``."""
        skewed = clock.date_header(services(request).config)
        if skewed is not None:
            response.headers["Date"] = skewed

    async def _run(self, request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        svc = services(request)
        if svc.config.latency > 0:
            await asyncio.sleep(svc.config.latency)
        fault = take_fault(request, svc, route, self.actions)
        if fault is not None:
            if fault.action == "slow":
                await asyncio.sleep(fault.delay)
            if fault.action == "status":
                return xml_error(fault.status, "ServerBusy")
            if fault.action == "html":
                return portal_page()
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if self.origin == "storage":
                return xml_error(exc.status, "ResourceNotFound", exc.reason)
            return web.Response(status=exc.status, text=f"{exc.status}: {exc.reason}")
