"""What a request is about, so faults can be aimed at one asset and counted by it.

Every pipeline draws its fault here: a fault with ``asset=`` set only hits requests about
an asset of that name, and each hit is counted under ``(action, asset name)``. A download
reads ``gaama-manifest.json`` before any part, so a test that aims a fault at ``model.bin``
must not see it spent on the manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from aiohttp import web

from .._names import normalize_asset_name
from .faults import Fault
from .service import FAULT, Services
from .store import Store

# Routes whose path names an asset by id.
ASSET_ID_ROUTES = frozenset(
    {"api.get_asset", "api.download_asset", "api.update_asset", "api.delete_asset"}
)


def asset_name(request: web.Request, route: str, store: Store) -> str | None:
    """The name of the asset ``request`` is about, or None when it is about no asset.

    Storage: the blob's asset; the web host: the last segment of the download path; the API:
    the asset in the path (its name before a rename); uploads: the ``name`` query parameter
    as GitHub will store it (normalized, spec section 8).
    """
    match = request.match_info
    if route == "storage" and "blob" in match:
        asset = store.asset_by_blob(match["blob"])
        return None if asset is None else asset.name
    if route == "web.download" and "rest" in match:
        return match["rest"].rpartition("/")[2] or None
    if route in ASSET_ID_ROUTES and "asset_id" in match:
        found = store.asset_by_id(int(match["asset_id"]))
        return None if found is None else found.name
    if route == "upload":
        return normalize_asset_name(request.query.get("name", "")) or None
    return None


def take_fault(
    request: web.Request, svc: Services, route: str, applicable: Iterable[str]
) -> Fault | None:
    """Draw this request's fault (if any), count its hit and leave it on the request."""
    about = cache(lambda: asset_name(request, route, svc.store))
    fault = svc.faults.take(route, applicable, asset=about)
    if fault is not None:
        svc.counters.fault_hit(fault.action, about())
        request[FAULT] = fault
        if fault.action == "clock_skew":
            svc.config.clock_offset = fault.delay  # from this hit on, this request included
    return fault
