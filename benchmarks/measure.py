"""Results of measured runs: one run, one case (a peer in a scenario), medians and ratios."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from .process import Measured

MIB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """One measured run of one peer.

    ``wall`` is the client process from spawn to exit; ``resolve`` is harness-side work done
    for that peer inside the timed section (resolving signed URLs, creating a draft), so the
    peer's time is ``wall + resolve``. ``given`` is harness-side work done for the peer before
    the timed section and not charged (aria2c's many signed URLs, handed over for free): it is
    reported so a reader sees what the peer was spared. ``inner`` is gaama's own in-process
    transfer time.
    """

    wall: float
    resolve: float = 0.0
    given: float = 0.0
    inner: float | None = None
    cpu: float = 0.0
    rss_mib: float = 0.0
    error: str = ""

    @property
    def seconds(self) -> float:
        """The time charged to the peer."""
        return self.wall + self.resolve


def run_from(
    measured: Measured, *, resolve: float = 0.0, given: float = 0.0, error: str = ""
) -> Run:
    """A :class:`Run` from a measured process; a non-zero exit becomes the error."""
    if measured.returncode != 0 and not error:
        tail = (measured.stderr.strip() or measured.stdout.strip())[-400:]
        error = f"exit {measured.returncode}: {tail}"
    inner = None
    for line in measured.stdout.splitlines():
        if line.startswith('{"seconds"'):
            inner = float(json.loads(line)["seconds"])
    return Run(
        wall=measured.wall,
        resolve=resolve,
        given=given,
        inner=inner,
        cpu=measured.cpu,
        rss_mib=measured.max_rss_kib / 1024,
        error=error,
    )


@dataclass
class Case:
    """One peer in one scenario and profile: its runs, or why it could not run."""

    scenario: str
    profile: str
    peer: str
    payload_bytes: int
    runs: list[Run] = field(default_factory=list)
    missing: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def good(self) -> list[Run]:
        """Runs that completed and were verified."""
        return [r for r in self.runs if not r.error]

    @property
    def ok(self) -> bool:
        return not self.missing and bool(self.good) and len(self.good) == len(self.runs)

    def median_seconds(self) -> float | None:
        good = self.good
        return statistics.median(r.seconds for r in good) if good else None

    def throughput(self) -> float | None:
        """MiB/s over the median time."""
        seconds = self.median_seconds()
        if not seconds or not self.payload_bytes:
            return None
        return self.payload_bytes / MIB / seconds

    def peak_rss(self) -> float | None:
        """The largest peak RSS over the runs, MiB."""
        good = self.good
        return max(r.rss_mib for r in good) if good else None

    def median_inner(self) -> float | None:
        inner = [r.inner for r in self.good if r.inner is not None]
        return statistics.median(inner) if inner else None

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "profile": self.profile,
            "peer": self.peer,
            "payload_bytes": self.payload_bytes,
            "missing": self.missing,
            "runs": [{**r.__dict__, "seconds": r.seconds} for r in self.runs],
            "median_seconds": self.median_seconds(),
            "median_inner_seconds": self.median_inner(),
            "throughput_mib_s": self.throughput(),
            "peak_rss_mib": self.peak_rss(),
            "extra": self.extra,
        }
