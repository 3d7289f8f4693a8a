"""What every workflow of one client shares: the HTTP layer, the repository, the limits,
the one connection limiter and the progress callback. ``GaAMA`` builds it once; the download
and publish workflows receive it, so they never reach back up into the facade."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import anyio

from ._config import Limits, RepoRef
from ._http import GitHubHTTP
from .progress import ProgressCallback


@dataclass(frozen=True, slots=True)
class Context:
    """One client's shared state, for one repository."""

    http: GitHubHTTP
    repo: RepoRef
    limits: Limits
    limiter: anyio.CapacityLimiter
    progress: ProgressCallback | None = None

    def for_repo(self, repo: RepoRef) -> Context:
        """The same session, limiter and gate, pointed at another repository."""
        return dataclasses.replace(self, repo=repo)
