"""Which base URLs a response names: decided per request, never from the bind address alone.

A client that reached the server as ``https://ghes.local`` through a TLS front must be handed
``https://ghes.local/api/uploads/...`` as its ``upload_url``, or it uploads to an address it
holds no token for; ``Link`` headers and redirects likewise. The rules, in order:

1. ``ServerConfig.public_url`` wins when set. In the enterprise layout it is the one base
   URL; in the default layout it names the web host (``https://gaama.test``), and the others
   are its ``api.``, ``uploads.`` and ``objects.`` siblings, as on github.com.
2. Else the request says: ``X-Forwarded-Proto``/``X-Forwarded-Host`` behind a proxy, else the
   connection's scheme and the ``Host`` header. The enterprise layout derives all four origins
   from it. In the default layout a request to ``api.NAME`` (``uploads.NAME``,
   ``objects.NAME``) implies the sibling names; any other host changes only the origin it
   reached, and the others keep their bound addresses.

Everything here is pure; ``service.request_origins`` feeds it a request's facts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

OriginName = Literal["api", "uploads", "storage", "web"]

ENTERPRISE_API = "/api/v3"
ENTERPRISE_UPLOADS = "/api/uploads"
ENTERPRISE_STORAGE = "/storage"
# GHES serves GraphQL at /api/graphql: a mount at /api holding the /graphql route.
ENTERPRISE_GRAPHQL_MOUNT = "/api"
# The first label of each origin's host on github.com (``objects.githubusercontent.com``
# stands for storage); the web origin is the bare name.
SIBLING_LABELS: dict[OriginName, str] = {
    "api": "api.",
    "uploads": "uploads.",
    "storage": "objects.",
}


@dataclass(frozen=True)
class Origins:
    """Base URLs of the four origins (no trailing slash)."""

    api: str
    uploads: str
    storage: str
    web: str


@dataclass(frozen=True)
class RequestFacts:
    """What a request says about how the client reached us."""

    origin: OriginName
    scheme: str
    host: str | None
    forwarded_proto: str | None = None
    forwarded_host: str | None = None


def enterprise_origins(base: str) -> Origins:
    """The GHES layout on one base URL: API, uploads and storage under fixed paths."""
    base = base.rstrip("/")
    return Origins(
        base + ENTERPRISE_API, base + ENTERPRISE_UPLOADS, base + ENTERPRISE_STORAGE, base
    )


def sibling_origins(scheme: str, domain: str) -> Origins:
    """github.com's naming on ``domain``: ``api.``, ``uploads.``, ``objects.`` and bare."""
    return Origins(
        f"{scheme}://api.{domain}",
        f"{scheme}://uploads.{domain}",
        f"{scheme}://objects.{domain}",
        f"{scheme}://{domain}",
    )


def public_origins(public_url: str, *, enterprise: bool) -> Origins:
    """The origins a configured public URL implies (rule 1)."""
    if enterprise:
        return enterprise_origins(public_url)
    parts = urlsplit(public_url)
    return sibling_origins(parts.scheme, parts.netloc)


def request_origins(
    bound: Origins, facts: RequestFacts, *, enterprise: bool, public_url: str | None
) -> Origins:
    """The origins to name in the answer to one request (rules 1 and 2)."""
    if public_url:
        return public_origins(public_url, enterprise=enterprise)
    scheme = _first(facts.forwarded_proto) or facts.scheme
    host = _first(facts.forwarded_host) or facts.host
    if not host:
        return bound
    if enterprise:
        return enterprise_origins(f"{scheme}://{host}")
    label = SIBLING_LABELS.get(facts.origin)
    if label and host.lower().startswith(label) and len(host) > len(label):
        return sibling_origins(scheme, host[len(label) :])
    reached = f"{scheme}://{host}"
    if getattr(bound, facts.origin) == reached:
        return bound
    return replace(bound, **{facts.origin: reached})


def _first(header: str | None) -> str | None:
    """The first (client-side) value of a possibly comma-joined forwarding header."""
    if header is None:
        return None
    value = header.split(",")[0].strip()
    return value or None
