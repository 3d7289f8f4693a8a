"""The client's configuration as a few frozen value objects (as httpx has ``Timeout`` and
``Limits``), each checked once when it is built. ``GaAMA``'s simple keywords build them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

# Ranges in flight finish together, and the hash of the written prefix waits for the lowest
# of them: with 16 MiB ranges x 16 connections, some 240 MiB were left to hash after the last
# byte (0.2 s); with 4 MiB, each range's round trip cost more than that. Measured under the
# CDN-like profile (20 ms, 20 MiB/s per connection), 256 MiB, in-process: 4 MiB 1.15 s,
# 8 MiB 1.12 s, 16 MiB 1.18-1.31 s (3 alternating rounds of each, one process per download).
# (A file checked by block digests has no such wait: its ranges are longer, _ranges.range_size.)
DEFAULT_PART_SIZE = 8 * 1024 * 1024
# Measured (benchmarks/, CDN-like profile, 500 small assets): 16 connections overlap the API
# and storage round trips well enough to match aria2c -j16; 8 fell about 20% short. GitHub
# allows 100 concurrent requests, and a secondary limit halves this anyway.
DEFAULT_CONCURRENCY = 16
# Requests in flight to the API host at once. GitHub allows 100 concurrent requests per
# token (spec 10.2); one client stays far inside that (links resolved ahead are at most twice
# the transfers). Hosts that share one token share the 100: a fleet of N divides it.
DEFAULT_API_CONCURRENCY = 32
# GitHub refuses assets of "2 GB" or more, and whether that is 10**9 or 2**30 based is
# unverified: stay under both. Larger files are published as parts.
DEFAULT_MAX_ASSET_SIZE = 2 * 10**9 - 2**20
DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a client moves at once and in what pieces, and how many requests it has in
    flight to the API host (``max_api_concurrency``; hosts sharing a token share GitHub's
    100, so a fleet of N sets about 100 / N)."""

    max_concurrency: int = DEFAULT_CONCURRENCY
    part_size: int = DEFAULT_PART_SIZE
    max_asset_size: int = DEFAULT_MAX_ASSET_SIZE
    max_api_concurrency: int = DEFAULT_API_CONCURRENCY

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "part_size", "max_asset_size", "max_api_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait for a connection, and for the next bytes on an open one."""

    connect: float = 30.0
    read: float = 120.0

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a client honours GitHub's rate limits.

    ``max_rate_limit_wait`` is the total a client waits for rate limits over its life before
    it gives up with ``RateLimitError``; ``secondary_wait`` is the first wait after a
    secondary limit that names none; ``write_interval`` spaces writes after a small burst.
    """

    max_rate_limit_wait: float = 900.0
    secondary_wait: float = 60.0
    write_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class RepoRef:
    """One repository on one GitHub: where its API lives."""

    owner: str
    name: str
    api_url: str = DEFAULT_API_URL

    @classmethod
    def parse(cls, repo: str, api_url: str = DEFAULT_API_URL) -> RepoRef:
        """``owner/name`` into a reference; a clear ``ValueError`` for anything else."""
        owner, sep, name = repo.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ValueError(f"repo must look like 'owner/name', got {repo!r}")
        return cls(owner, name, api_url)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def url(self) -> str:
        """The repository's API URL, ``{api_url}/repos/{owner}/{name}``."""
        return f"{self.api_url}/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"
