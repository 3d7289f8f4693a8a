"""State shared by the four origins of one server, and the request-level helpers they share."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiohttp import web

from .blobs import BlobVersions
from .clock import wall_time
from .config import ServerConfig
from .counters import Counters
from .faults import Fault, FaultSet
from .lag import WriteLag
from .public import OriginName, Origins, RequestFacts
from .public import request_origins as decide_origins
from .ratelimit import Budget, PrimaryLimits, SecondaryLimits
from .renames import Renames
from .render import JSON, error_json
from .store import Repo, Store


class HttpError(Exception):
    """An answer other than success, raised by handlers and rendered by the middleware."""

    def __init__(
        self,
        status: int,
        body: JSON | None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def github(cls, status: int, message: str, **kwargs: Any) -> HttpError:
        """A GitHub-shaped error (see :func:`render.error_json`)."""
        headers = kwargs.pop("headers", None)
        return cls(status, error_json(status, message, **kwargs), headers=headers)


def not_found() -> HttpError:
    """The plain GitHub 404, also used to hide private resources."""
    return HttpError.github(404, "Not Found")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: ``login`` is None for anonymous callers."""

    token: str | None
    login: str | None
    read_only: bool
    ip: str

    @property
    def rate_key(self) -> str:
        """Budgets are per token, or per IP when anonymous."""
        return f"token:{self.token}" if self.token else f"ip:{self.ip}"


def concurrency_key(request: web.Request) -> str:
    """Whose requests count together toward the concurrent-request limit: the credentials
    sent, else the address (read before the caller is identified, so no lookup is needed)."""
    return request.headers.get("Authorization") or f"ip:{request.remote}"


@dataclass
class Services:
    """Everything the handlers of all origins share."""

    config: ServerConfig
    store: Store
    renames: Renames
    faults: FaultSet = field(default_factory=FaultSet)
    counters: Counters = field(default_factory=Counters)
    primary: PrimaryLimits = field(default_factory=PrimaryLimits)
    secondary: SecondaryLimits = field(default_factory=SecondaryLimits)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Where each origin is bound; answers name the origins ``request_origins`` decides.
    bound: Origins = field(default_factory=lambda: Origins("", "", "", ""))
    blob_versions: BlobVersions = field(default_factory=BlobVersions)
    lag: WriteLag = field(default_factory=WriteLag)
    # Requests in flight to the API and uploads hosts, per caller (``concurrency_key``), for
    # GitHub's limit of 100 concurrent requests. Guess: it is per token, or per address
    # when anonymous, as the primary budget (the docs name no unit).
    in_flight: Counter[str] = field(default_factory=Counter)
    # Set while the server stops, so answers a fault holds back give up instead of
    # keeping the shutdown waiting.
    stopping: bool = False


SERVICES = web.AppKey("services", Services)
# Which of the four origins an application is (the enterprise sub-applications included).
ORIGIN = web.AppKey("origin", str)
# What the pipelines learn about a request, for the handlers and the response hook.
ROUTE = web.RequestKey("route", str)
REQUEST_ID = web.RequestKey("request_id", str)
FAULT = web.RequestKey("fault", Fault)
CALLER = web.RequestKey("caller", Caller)
BUDGET = web.RequestKey("budget", Budget)
CHARGED = web.RequestKey("charged", bool)

# Route names by handler, for faults and counters; one handler may serve several paths.
ROUTE_NAMES: dict[Any, str] = {}

_F = TypeVar("_F", bound=Callable[..., Any])


def named(route: str) -> Callable[[_F], _F]:
    """Register the decorated handler under the public route name ``route``."""

    def register(handler: _F) -> _F:
        ROUTE_NAMES[handler] = route
        return handler

    return register


def services(request: web.Request) -> Services:
    """The shared state behind ``request``'s application."""
    return request.app[SERVICES]


def request_origins(request: web.Request) -> Origins:
    """The base URLs to name in the answer to ``request`` (see ``public``)."""
    svc = services(request)
    facts = RequestFacts(
        origin=cast(OriginName, request.app[ORIGIN]),
        scheme=request.scheme,
        host=request.headers.get("Host"),
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_host=request.headers.get("X-Forwarded-Host"),
    )
    config = svc.config
    return decide_origins(
        svc.bound, facts, enterprise=config.enterprise, public_url=config.public_url
    )


def known_repo(svc: Services, owner: str, name: str) -> Repo | None:
    """``owner/name`` if it exists, or if unknown repositories spring into existence."""
    found = svc.store.find_repo(owner, name)
    if found is None and svc.config.auto_create:
        found = svc.store.create_repo(owner, name)
    return found


def repo_in_path(request: web.Request) -> Repo:
    """The repository a path names, ``/repos/{owner}/{repo}`` or ``/repositories/{id}``;
    GitHub's 404 when there is none."""
    svc = services(request)
    match = request.match_info
    if "repo_id" in match:
        found = svc.store.repo_by_id(int(match["repo_id"]))
    else:
        found = known_repo(svc, match["owner"], match["repo"])
    if found is None:
        raise not_found()
    return found


def new_request_id() -> str:
    """A request id shaped like GitHub's, e.g. ``0681:23DC:3690DD:57E9DF:62D635A5``."""
    return ":".join(
        secrets.token_hex(n)[:w].upper() for n, w in ((2, 4), (2, 4), (4, 7), (4, 7), (4, 8))
    )


def token_from_header(value: str) -> str:
    """Extract the token from ``Bearer T``, ``token T`` or Basic ``user:T``; raise 401."""
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() in ("bearer", "token") and rest:
        return rest
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        _, sep, token = decoded.partition(":")
        if sep and token:
            return token
    raise bad_credentials()


def bad_credentials() -> HttpError:
    """GitHub's 401; never with a ``WWW-Authenticate`` challenge."""
    return HttpError.github(401, "Bad credentials")


def identify(request: web.Request, config: ServerConfig) -> Caller:
    """Authenticate ``request``: anonymous, a known token, or 401 Bad credentials."""
    ip = request.remote or "127.0.0.1"
    header = request.headers.get("Authorization")
    if header is None:
        return Caller(None, None, False, ip)
    token = token_from_header(header)
    login = config.tokens.get(token)
    if login is None:
        raise bad_credentials()
    return Caller(token, login, token in config.read_only_tokens, ip)


async def read_json_object(request: web.Request) -> JSON:
    """The request's JSON body as an object, or GitHub's 400 answers."""
    raw = await request.read()
    services(request).counters.bytes_received += len(raw)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HttpError.github(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise HttpError.github(400, "Body should be a JSON object")
    return data


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with GitHub's exact ``Content-Type``."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def fault_of(request: web.Request) -> Fault | None:
    """The fault the middleware picked for this request, if any."""
    return request.get(FAULT)


def now() -> float:
    """Wall-clock seconds as the server believes them; rate-limit resets are epoch based."""
    return wall_time()
