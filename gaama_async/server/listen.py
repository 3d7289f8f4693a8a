"""Where the four origins listen: pure decisions, applied by ``app.ReleaseServer``.

github.com serves its API, uploads, storage and web origins from four host names on one
port. The default layout copies that on loopback: 127.0.0.1 to 127.0.0.4 are all local on
Linux, so each origin gets an address of its own and all share one port. Clients that key
on the host (PyGithub's origin checks, connection pools, proxies' NO_PROXY lists) then see
four hosts, as in production. Any other ``--host`` keeps the older plan: one address, four
ports.
"""

from __future__ import annotations

import errno

from .config import ServerConfig

LOOPBACK_SPREAD = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
# A free port on 127.0.0.1 can be taken on another loopback address; retry that many times.
SPREAD_ATTEMPTS = 8


def spreads_over_loopback(config: ServerConfig) -> bool:
    """Whether the origins take one loopback address each (see the module docstring)."""
    return config.spread_loopback and not config.enterprise and config.host == "127.0.0.1"


def origin_hosts(config: ServerConfig) -> tuple[str, str, str, str]:
    """The address each origin (API, uploads, storage, web) binds."""
    if spreads_over_loopback(config):
        return LOOPBACK_SPREAD
    return (config.host,) * 4


def origin_ports(config: ServerConfig, api_port: int) -> tuple[int, int, int, int]:
    """The port each origin binds once the API got ``api_port``: spread origins share it
    unless configured otherwise, and 0 means any free port."""
    uploads, storage, web = config.uploads_port, config.storage_port, config.web_port
    if spreads_over_loopback(config):
        uploads, storage, web = uploads or api_port, storage or api_port, web or api_port
    return api_port, uploads, storage, web


def port_collision(error: OSError, config: ServerConfig) -> bool:
    """Whether a failed bind is worth another try on fresh ports: the API's port came free
    on 127.0.0.1 but was taken on a sibling address, and no port was asked for."""
    return (
        error.errno == errno.EADDRINUSE and config.api_port == 0 and spreads_over_loopback(config)
    )


def bind_host_shown(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host
