"""The request pipeline shared by the API and uploads origins.

In order: latency and ``slow`` faults, header checks, authentication, permission and privacy,
concurrency and rate limits, injected error faults, the handler, then the headers GitHub puts
on every answer. Body-shaping faults (cut, starter, ...) are left on the request for handlers.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web

from . import clock
from .faults import API_ACTIONS, DOWNLOAD_ACTIONS, GENERIC_ACTIONS, UPLOAD_ACTIONS, Fault
from .moves import moved_error
from .portal import portal_page
from .ratelimit import PRIMARY_MESSAGE_IP, PRIMARY_MESSAGE_USER, SECONDARY_MESSAGE, Budget
from .render import RATE_DOCS, error_json
from .service import (
    BUDGET,
    CALLER,
    CHARGED,
    FAULT,
    REQUEST_ID,
    ROUTE,
    ROUTE_NAMES,
    Caller,
    HttpError,
    Services,
    concurrency_key,
    identify,
    json_response,
    known_repo,
    new_request_id,
    not_found,
    now,
    services,
)
from .store import utc_now
from .targets import take_fault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Origin = Literal["api", "uploads"]

API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Routes that read although they are POSTed; they check their caller themselves (GraphQL
# queries: read-only tokens may run them, anonymous callers get GraphQL's own 401).
READ_BY_POST = frozenset({"api.graphql"})
# Requests that create content, for the 80/min and 500/h secondary limits (spec 10.2).
CONTENT_ROUTES = frozenset(
    {"api.create_release", "api.update_release", "api.update_asset", "upload"}
)
# Routes about no repository, so a private server does not hide them from anonymous callers.
PUBLIC_ROUTES = frozenset({"api.rate_limit", "api.root", "api.current_user"})
SECONDARY_DOCS = f"{RATE_DOCS}#about-secondary-rate-limits"


def route_name(request: web.Request, origin: Origin) -> str:
    """The route name used by faults and counters."""
    name = ROUTE_NAMES.get(request.match_info.handler)
    if name is None:
        return "api.unknown" if origin == "api" else "upload.unknown"
    if name == "api.get_asset" and "application/octet-stream" in request.headers.get("Accept", ""):
        return "api.download_asset"
    return name


def _applicable(request: web.Request, route: str, services_: Services) -> frozenset[str]:
    if route == "upload":
        return UPLOAD_ACTIONS
    if route == "upload.unknown":
        return GENERIC_ACTIONS
    actions = API_ACTIONS
    if route == "api.download_asset" and services_.config.serves_directly:
        actions = DOWNLOAD_ACTIONS
    if "owner" not in request.match_info:
        actions = actions - {"moved"}  # only a repository path can have moved
    return actions


def secondary_error(status: int, request_id: str, retry_after: float | None) -> HttpError:
    """GitHub's secondary-limit answer; ``retry-after`` only when configured."""
    headers = {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
    message = SECONDARY_MESSAGE.format(request_id=request_id, timestamp=utc_now())
    return HttpError.github(
        status if status in (403, 429) else 403,
        message,
        documentation_url=SECONDARY_DOCS,
        headers=headers,
    )


def primary_error(caller: Caller, request_id: str, user_id: int | None) -> HttpError:
    """GitHub's primary-limit answer (headers added by the pipeline show remaining 0)."""
    if user_id is None:
        message = PRIMARY_MESSAGE_IP.format(ip=caller.ip)
    else:
        message = PRIMARY_MESSAGE_USER.format(
            user_id=user_id, request_id=request_id, timestamp=utc_now()
        )
    return HttpError.github(403, message, documentation_url=RATE_DOCS)


def _check_headers(request: web.Request) -> None:
    if not request.headers.get("User-Agent"):
        raise HttpError.github(
            403,
            "Request forbidden by administrative rules. "
            "Please make sure your request has a User-Agent header",
            documentation_url="https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent",
        )
    version = request.headers.get("X-GitHub-Api-Version")
    if version is not None and version not in API_VERSIONS:
        raise HttpError.github(400, f"Invalid API version provided: {version}.")


def _check_access(request: web.Request, route: str, caller: Caller, services_: Services) -> None:
    if route in PUBLIC_ROUTES or route in READ_BY_POST:
        return
    if request.method in WRITE_METHODS:
        if caller.login is None:
            # Unverified: GitHub may answer 404 here; 401 tells the user what is missing.
            raise HttpError.github(401, "Requires authentication")
        if caller.read_only:
            raise HttpError.github(403, "Resource not accessible by personal access token")
    elif services_.config.private and caller.login is None:
        raise not_found()


class Pipeline:
    """One origin's middleware: everything around a handler (see the module docstring)."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    @web.middleware
    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        svc = services(request)
        route = route_name(request, self.origin)
        request_id = new_request_id()
        request[ROUTE], request[REQUEST_ID] = route, request_id
        svc.counters.opened(self.origin)
        key = concurrency_key(request)
        svc.in_flight[key] += 1
        status = 500
        token = clock.serving(svc.config)
        try:
            response = await self._run(request, handler, svc, route, request_id)
            status = response.status
            return response
        finally:
            clock.done(token)
            svc.in_flight[key] -= 1
            if not svc.in_flight[key]:
                del svc.in_flight[key]
            svc.counters.closed(self.origin)
            svc.counters.record(
                route,
                request.method,
                request.path_qs,
                status,
                had_authorization="Authorization" in request.headers,
            )

    async def _run(
        self, request: web.Request, handler: Handler, svc: Services, route: str, request_id: str
    ) -> web.StreamResponse:
        config = svc.config
        if config.latency > 0:
            await asyncio.sleep(config.latency)
        fault = take_fault(request, svc, route, _applicable(request, route, svc))
        if fault is not None and fault.action == "slow":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.action == "html":
            return portal_page()  # the portal answers before GitHub sees the request
        caller = Caller(None, None, False, request.remote or "127.0.0.1")
        budget: Budget | None = None
        try:
            caller = identify(request, config)
            budget = self._budget(svc, caller)
            request[BUDGET] = budget
            _check_headers(request)
            _check_access(request, route, caller, svc)
            self._check_limits(request, svc, route, caller, budget, fault, request_id)
            if route != "api.rate_limit":
                budget.used += 1
                request[CHARGED] = True
            request[CALLER] = caller
            self._check_moved(request, svc, fault)
            response = await self._call(request, handler)
        except HttpError as exc:
            response = self._error_response(exc, request_id)
        if BUDGET not in request:
            request[BUDGET] = self._budget(svc, caller)
        return self._finish(request, response, svc)

    @staticmethod
    def _budget(svc: Services, caller: Caller) -> Budget:
        config = svc.config
        limit = config.rate_limit if caller.login else config.anonymous_rate_limit
        return svc.primary.budget(caller.rate_key, limit, config.rate_limit_window, now())

    def _check_limits(
        self,
        request: web.Request,
        svc: Services,
        route: str,
        caller: Caller,
        budget: Budget,
        fault: Fault | None,
        request_id: str,
    ) -> None:
        config = svc.config
        user_id = None if caller.login is None else svc.store.user_id(caller.login)
        if fault is not None and fault.action == "primary_limit":
            wait = 60.0 if fault.retry_after is None else fault.retry_after
            request[BUDGET] = svc.primary.exhaust(caller.rate_key, budget.limit, now() + wait)
            raise primary_error(caller, request_id, user_id)
        if fault is not None and fault.action == "secondary_limit":
            raise secondary_error(fault.status, request_id, fault.retry_after)
        if fault is not None and fault.action == "status":
            raise HttpError.github(fault.status, _reason(fault.status))
        if not config.limits_enabled:
            return
        if svc.in_flight[concurrency_key(request)] > config.max_concurrent_requests:
            raise secondary_error(403, request_id, config.secondary_retry_after)
        if budget.remaining == 0 and route != "api.rate_limit":
            raise primary_error(caller, request_id, user_id)
        if route in CONTENT_ROUTES and not svc.secondary.allow_write(
            caller.rate_key,
            now(),
            per_minute=config.writes_per_minute,
            per_hour=config.writes_per_hour,
        ):
            raise secondary_error(403, request_id, config.secondary_retry_after)

    def _check_moved(self, request: web.Request, svc: Services, fault: Fault | None) -> None:
        """Redirect a request naming a renamed repository (or hit by ``moved``).

        Guess: GitHub authenticates and charges the request before redirecting it.
        """
        match = request.match_info
        if self.origin != "api" or "owner" not in match:
            return
        repo_id = svc.renames.moved_to(match["owner"], match["repo"])
        if repo_id is None and fault is not None and fault.action == "moved":
            found = known_repo(svc, match["owner"], match["repo"])
            repo_id = found.id if found else None
        if repo_id is not None:
            raise moved_error(request, svc, repo_id)

    @staticmethod
    async def _call(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            raise not_found() from None
        except web.HTTPNotFound:
            raise not_found() from None

    def _error_response(self, exc: HttpError, request_id: str) -> web.StreamResponse:
        if exc.body is None:
            return web.Response(status=exc.status, headers=exc.headers)
        body = dict(exc.body)
        if self.origin == "uploads":
            # Error bodies from the uploads host carry the request id (spec 2.1).
            body = {"message": body.pop("message"), "request_id": request_id, **body}
        return json_response(body, status=exc.status, headers=exc.headers)

    def _finish(
        self, request: web.Request, response: web.StreamResponse, svc: Services
    ) -> web.StreamResponse:
        response = _conditional(request, response)
        if response.status == 304 and request.get(CHARGED):
            request[BUDGET].used -= 1  # 304s do not count (spec 1.3)
        if isinstance(response, web.Response) and not response.prepared:
            body = response.body
            if isinstance(body, bytes):
                svc.counters.bytes_sent += len(body)
        return response

    async def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        """``on_response_prepare`` hook: the headers GitHub sends on every answer."""
        skewed = clock.date_header(services(request).config)
        if skewed is not None:
            response.headers["Date"] = skewed
        request_id = request.get(REQUEST_ID)
        fault = request.get(FAULT)
        if request_id is None or (fault is not None and fault.action == "html"):
            return
        response.headers["X-GitHub-Request-Id"] = request_id
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        response.headers.popall("WWW-Authenticate", None)
        budget: Budget | None = request.get(BUDGET)
        if self.origin == "api":
            limits_enabled = services(request).config.limits_enabled
            if budget is not None and _shows_budget(limits_enabled, fault):
                response.headers.update(budget.headers())
            asked = request.headers.get("X-GitHub-Api-Version", "")
            selected = asked if asked in API_VERSIONS else "2022-11-28"
            response.headers["X-GitHub-Api-Version-Selected"] = selected
            cache = "private" if "Authorization" in request.headers else "public"
            if response.status != 204:
                response.headers.setdefault("Cache-Control", f"{cache}, max-age=60, s-maxage=60")
        else:
            response.headers.setdefault("Cache-Control", "no-cache")


def _shows_budget(limits_enabled: bool, fault: Fault | None) -> bool:
    """Rate headers go out when limits are on, or with an injected ``primary_limit``.

    A GHES instance without rate limits sends no ``X-RateLimit-*`` headers (as users of
    such instances reported); the fault still says "exhausted" so clients can be tested.
    """
    return limits_enabled or (fault is not None and fault.action == "primary_limit")


def _conditional(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Add a strong ETag to 200 JSON answers; a matching If-None-Match on a GET gives 304."""
    if (
        response.status != 200
        or not isinstance(response, web.Response)
        or not isinstance(response.body, bytes)
        or response.prepared
    ):
        return response
    etag = f'"{hashlib.sha256(response.body).hexdigest()}"'
    candidates = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    if request.method in ("GET", "HEAD") and etag in candidates:
        return web.Response(status=304, headers={"ETag": etag})
    response.headers.setdefault("ETag", etag)
    return response


def _reason(status: int) -> str:
    return {
        500: "Server Error",
        502: "Server Error",
        503: "Service Unavailable",
        504: "We couldn't respond to your request in time.",
    }.get(status, "Server Error")


__all__ = ["CONTENT_ROUTES", "Pipeline", "error_json"]
