"""Configuration of the local release server.

Mutable on purpose: tests and benchmarks turn knobs such as ``latency``, ``bandwidth`` or
``signed_url_ttl`` while the server runs, and every handler reads the live value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# GitHub documents "under 2 GB" per file; the exact byte cutoff is unverified (spec 14.4).
DEFAULT_MAX_ASSET_SIZE = 2 * 1024**3 - 1


@dataclass
class ServerConfig:
    """Everything that shapes how the emulator behaves; see the field comments."""

    root: Path
    host: str = "127.0.0.1"
    # With the default host, the default layout spreads its origins over 127.0.0.1 to
    # 127.0.0.4 on one port, so each has its own host name as on github.com (clients such as
    # PyGithub key on host names); False keeps them on one address, on four ports.
    spread_loopback: bool = True
    # The URL clients reach the server by, when a proxy or TLS front stands before it (see
    # ``public``); None: each answer names the host the request used.
    public_url: str | None = None
    # HTTPS: ``tls_cert``/``tls_key`` when given, else a certificate from a local CA kept in
    # ``root/tls`` (``ReleaseServer.ca_file``).
    tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Repositories that exist from the start, as "owner/name". Others answer GitHub's 404
    # unless ``auto_create`` makes them on first use (as the test suites do).
    repos: tuple[str, ...] = ()
    auto_create: bool = False
    # Valid tokens and the login each one authenticates as; any other token gets 401.
    tokens: dict[str, str] = field(default_factory=dict)
    # Tokens that may read but get 403 "Resource not accessible by personal access token" on writes.
    read_only_tokens: frozenset[str] = frozenset()
    # Every repository private: anonymous reads get 404, browser_download_url always 404.
    private: bool = False
    # The repository setting "immutable releases" (spec 7.3), for every repository: releases
    # published while it is on are locked (see ``immutable``). Live: turning it off later
    # does not unlock them, as on GitHub.
    immutable: bool = False
    max_asset_size: int = DEFAULT_MAX_ASSET_SIZE
    max_assets: int = 1000
    # Larger releases get a 404 for their tarball/zipball instead of an archive (``archives``).
    max_archive_size: int = 256 * 1024**2
    signed_url_ttl: float = 300.0
    # GitHub Enterprise Server layout on one origin; see ``serves_directly``
    # and ``limits_enabled`` for the defaults it changes.
    enterprise: bool = False
    # GHES style: the octet-stream API download answers 200 with the bytes instead of a 302.
    # None: the layout's default (302 on github.com, 200 in enterprise mode).
    direct_downloads: bool | None = None
    # Primary and secondary limits with their headers. None: the layout's default (on for
    # github.com, off in enterprise mode, as on a GHES instance whose admin did not enable them).
    rate_limits: bool | None = None
    rate_limit: int = 5000
    anonymous_rate_limit: int = 60
    rate_limit_window: float = 3600.0
    writes_per_minute: int = 80
    writes_per_hour: int = 500
    secondary_retry_after: float | None = 60.0
    max_concurrent_requests: int = 100
    latency: float = 0.0
    # Seconds a release or asset just written stays "not found" to reads (spec 9.3; ``lag``).
    read_after_write_lag: float = 0.0
    # Seconds the server's wall clock is ahead of real time (negative: behind); see ``clock``.
    clock_offset: float = 0.0
    bandwidth: float | None = None
    commit_date: str = "2024-01-02T03:04:05Z"
    # In enterprise mode the one origin binds ``api_port`` and the other three are unused.
    api_port: int = 0
    uploads_port: int = 0
    storage_port: int = 0
    web_port: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.read_only_tokens = frozenset(self.read_only_tokens)
        self.repos = tuple(self.repos)

    @property
    def serves_directly(self) -> bool:
        """Whether API downloads answer 200 with the bytes (live: tests flip the knobs)."""
        return self.enterprise if self.direct_downloads is None else self.direct_downloads

    @property
    def limits_enabled(self) -> bool:
        """Whether rate limits apply and ``X-RateLimit-*`` headers are sent."""
        return not self.enterprise if self.rate_limits is None else self.rate_limits
