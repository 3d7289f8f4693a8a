"""Injected faults: declared by tests (or ``gaama serve --fault``), matched per request.

The CLI form is ``ACTION[@ROUTE][,key=value...]``, e.g. ``cut@storage,asset=model.bin``.
``ROUTE`` is an fnmatch pattern on route names (default ``*``): ``api.list_releases``,
``api.get_release``, ``api.get_release_by_tag``, ``api.latest_release``, ``api.create_release``,
``api.update_release``, ``api.delete_release``, ``api.list_assets``, ``api.get_asset``,
``api.download_asset`` (``get_asset`` with ``Accept: application/octet-stream``),
``api.update_asset``, ``api.delete_asset``, ``api.get_repo``, ``api.update_repo``,
``api.rate_limit``, ``api.get_ref`` (``git/ref/R``, ``git/refs/R``), ``api.matching_refs``
(``git/matching-refs/R``, ``git/refs``), ``api.delete_ref``, ``api.root``,
``api.current_user``, ``api.generate_notes``, ``api.archive`` (tarball and zipball),
``upload``, ``storage`` (both signed paths), ``web.download`` and ``web.archive`` (the archive
host); the ``/repositories/{id}/...`` twins of API routes share their names. Faults are
matched in declaration order; the first one that applies to the route and passes its
``probability`` draw wins the request.

Options: ``asset=GLOB`` (only requests about an asset of that name: storage and web
downloads, the API asset routes, an upload's ``name``), ``times=N|forever`` (default 1),
``probability=P`` (seeded by ``--seed``), ``status=CODE``, ``retry_after=SECONDS``,
``after_bytes=N`` (offset into the body sent) and ``delay=SECONDS``.

Actions, what each reproduces, and where it applies (API = the JSON API routes, DIRECT =
``api.download_asset`` when the server streams bytes itself, as GHES does):

* ``status`` (all): an error answer with ``status`` (default 502), GitHub JSON on the API and
  uploads hosts, XML ``ServerBusy`` on storage and the web host.
* ``secondary_limit`` (API, uploads): 403 or 429 with the secondary-limit message,
  ``Retry-After`` only with ``retry_after``.
* ``primary_limit`` (API, uploads): the budget is exhausted until ``retry_after`` (60 s).
* ``slow`` (all): the answer starts ``delay`` seconds late.
* ``cut`` (storage, DIRECT, uploads): the connection is aborted after ``after_bytes`` body bytes
  (uploads: after reading that many); a proxy's limit or a dropped connection.
* ``reset`` (storage, DIRECT): a TCP RST after ``after_bytes`` bytes (the peer sees ECONNRESET),
  as a load balancer that kills connections sends.
* ``short`` (storage, DIRECT): ``Content-Length`` announces the whole body, ``after_bytes``
  bytes come, then a clean close (FIN): a truncated answer no error marks.
* ``corrupt`` (storage, DIRECT): the byte at ``after_bytes`` is inverted; bad RAM or a broken
  middlebox.
* ``stall`` (storage, DIRECT): the body pauses ``delay`` seconds after ``after_bytes`` bytes.
* ``ignore_range`` (storage, DIRECT): a Range request answered 200 with the whole body, as some
  proxies and CDNs do.
* ``change`` (storage, DIRECT): from this hit on the blob has a new ETag and Last-Modified, and
  an ``If-Range`` with the old ETag gets 200 and the whole body; the bytes stay the same (a
  rewrite of identical content, e.g. a move between storage backends).
* ``expire`` (storage): 403 ``AuthenticationFailed``, as for a signed URL past its expiry.
* ``missing`` (storage): 404 XML ``BlobNotFound``, as when the blob is gone or not yet
  replicated to the node that answers.
* ``redirect`` (storage): one more 302 to a second signed URL on the storage origin, as a CDN
  hop; ``times=forever`` makes a redirect loop.
* ``html`` (API, DIRECT, storage, web): 200 ``text/html`` with an HTML error page instead of
  the answer, as a captive portal or a broken proxy sends.
* ``starter`` (uploads): the body is read, a ``starter`` placeholder asset is left behind and
  the answer is ``status`` (spec 6.9.4).
* ``stall_upload`` (uploads): the server stops reading the body after ``after_bytes`` bytes and
  never answers; it hangs up when the client does, or after ``delay`` seconds (0: never).
* ``moved`` (API routes under ``/repos/{owner}/{repo}``): the repository was renamed: 301 (307
  for writes) to ``/repositories/{id}/...`` with GitHub's "Moved Permanently" JSON.
* ``clock_skew`` (all): from this hit on the server's clock is off by ``delay`` seconds
  (negative: behind), as ``ServerConfig.clock_offset``: Date headers, rate-limit resets,
  signed-URL expiries and new JSON timestamps all shift.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

FaultAction = Literal[
    "status",
    "secondary_limit",
    "primary_limit",
    "cut",
    "corrupt",
    "stall",
    "slow",
    "starter",
    "expire",
    "reset",
    "short",
    "ignore_range",
    "change",
    "missing",
    "redirect",
    "html",
    "stall_upload",
    "moved",
    "clock_skew",
]

# Where each action applies (see the module docstring); body-shaping ones only where a
# body flows, rate limits only on the GitHub hosts, storage's own errors only on storage.
GENERIC_ACTIONS: frozenset[str] = frozenset(
    {"status", "secondary_limit", "primary_limit", "slow", "clock_skew"}
)
API_ACTIONS: frozenset[str] = GENERIC_ACTIONS | {"html", "moved"}
BODY_ACTIONS: frozenset[str] = frozenset(
    {"cut", "corrupt", "stall", "reset", "short", "ignore_range", "change"}
)
DOWNLOAD_ACTIONS: frozenset[str] = API_ACTIONS | BODY_ACTIONS
# Blob storage and the web host have no rate limits, so only these apply there.
STORAGE_ACTIONS: frozenset[str] = BODY_ACTIONS | {
    "status", "slow", "expire", "missing", "redirect", "html", "clock_skew",
}  # fmt: skip
WEB_ACTIONS: frozenset[str] = frozenset({"status", "slow", "html", "clock_skew"})
UPLOAD_ACTIONS: frozenset[str] = GENERIC_ACTIONS | {"cut", "starter", "stall_upload"}


@dataclass
class Fault:
    """One fault: ``action`` on requests whose route name matches the fnmatch ``route``.

    ``asset`` narrows it to requests about an asset whose name matches that fnmatch pattern;
    a request about no asset, or about another one, is never hit. ``times`` is how many
    requests it hits (None: forever); ``probability`` makes it random, drawn from the
    FaultSet's seeded generator. ``hits`` counts the requests it has hit so far.
    """

    action: FaultAction
    route: str = "*"
    times: int | None = 1
    status: int = 502
    retry_after: float | None = None
    after_bytes: int = 0
    delay: float = 0.0
    probability: float = 1.0
    asset: str | None = None
    hits: int = field(default=0, compare=False)

    def aims_at(self, route: str, asset: Callable[[], str | None]) -> bool:
        """Whether this fault's route and asset patterns match the request.

        ``asset`` is only called when the fault names an asset: finding the asset a request
        is about costs a store lookup that unscoped faults never need.
        """
        if not fnmatchcase(route, self.route):
            return False
        if self.asset is None:
            return True
        name = asset()
        return name is not None and fnmatchcase(name, self.asset)


def _no_asset() -> str | None:
    return None


class FaultSet:
    """The faults a server applies; the first matching, applicable fault wins a request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._random = random.Random(0)

    def add(self, fault: Fault) -> Fault:
        """Append ``fault`` (matched after the ones already present)."""
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    def seed(self, seed: int) -> None:
        """Reseed the generator behind ``probability`` so chaos runs are reproducible."""
        self._random = random.Random(seed)

    def __len__(self) -> int:
        return len(self._faults)

    def take(
        self,
        route: str,
        applicable: Iterable[str],
        *,
        asset: Callable[[], str | None] = _no_asset,
    ) -> Fault | None:
        """Return and consume one use of the first fault that hits this request.

        ``asset`` tells (lazily) the name of the asset the request is about, None if none.
        """
        allowed = frozenset(applicable)
        for fault in list(self._faults):
            if fault.action not in allowed or not fault.aims_at(route, asset):
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            fault.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None


_FAULT_FIELDS: dict[str, Callable[[str], object]] = {
    "asset": str,
    "status": int,
    "times": int,
    "retry_after": float,
    "after_bytes": int,
    "delay": float,
    "probability": float,
}


def parse_fault(spec: str) -> Fault:
    """Read a fault from the CLI form ``ACTION[@ROUTE][,key=value...]`` (see the module doc).

    Example: ``cut@storage,asset=model.bin,after_bytes=1048576,times=forever,probability=0.2``.
    ``times=forever`` (or ``none``) means no limit; an ``asset`` pattern cannot hold a comma.
    """
    head, *options = spec.split(",")
    action, _, route = head.partition("@")
    actions: tuple[str, ...] = FaultAction.__args__  # type: ignore[attr-defined]
    if action not in actions:
        raise ValueError(
            f"unknown fault action {action!r} in {spec!r}; actions: {', '.join(actions)}"
        )
    fault = Fault(action, route=route or "*")  # type: ignore[arg-type]
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in _FAULT_FIELDS:
            raise ValueError(f"bad fault option {option!r}; keys: {', '.join(_FAULT_FIELDS)}")
        no_value = key != "asset" and value in ("forever", "none")
        parsed = None if no_value else _FAULT_FIELDS[key](value)
        setattr(fault, key, parsed)
    return fault
