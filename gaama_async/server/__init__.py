"""A local, GitHub-compatible release server for tests, benchmarks and offline use.

It emulates the four hosts a release client talks to — the REST API, the uploads host,
signed blob storage and the web host — quirks included (spec section 13), with on-disk
persistence, injected faults and request counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServerConfig
from .counters import Counters, RequestRecord
from .faults import Fault, FaultSet

if TYPE_CHECKING:
    from .app import ReleaseServer

__all__ = ["Counters", "Fault", "FaultSet", "ReleaseServer", "RequestRecord", "ServerConfig"]


def __getattr__(name: str) -> Any:
    """``ReleaseServer`` on first use: the app pulls in aiohttp's server and graphql-core
    (0.3 s), which ``gaama download`` would otherwise pay for at every start, because the
    CLI's parser reads ``gaama serve``'s flags from this package."""
    if name == "ReleaseServer":
        from .app import ReleaseServer

        return ReleaseServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
