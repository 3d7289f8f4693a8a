"""A local, GitHub-compatible release server for tests, benchmarks and offline use.

It emulates the four hosts a release client talks to — the REST API, the uploads host,
signed blob storage and the web host — quirks included (spec section 13), with on-disk
persistence, injected faults and request counters.
"""

from .app import ReleaseServer
from .config import ServerConfig
from .counters import Counters, RequestRecord
from .faults import Fault, FaultSet

__all__ = ["Counters", "Fault", "FaultSet", "ReleaseServer", "RequestRecord", "ServerConfig"]
