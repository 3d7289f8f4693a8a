"""Which drafts of a tag a publisher may remove: the in-progress marker and the lease (pure).

GitHub lets one tag have any number of drafts and finds drafts only by listing releases (spec
6.1, 6.5, 7.1), so every publisher of a tag sees every other publisher's draft. A publisher
therefore marks its own draft with a hidden HTML comment at the end of the body::

    <!-- gaama-publish id=9f3c… started=2026-12-01T19:30:00Z renewed=… host=box pid=4242 … -->

and renews ``renewed`` while it uploads. A draft is *abandoned*, and another publisher of the
tag removes it, when

* its lease ran out: not renewed for ``lease`` seconds, measured on the server's clock (the
  ``Date`` of GitHub's answers), because the clocks of two machines need not agree; or
* it was made on this very machine, in this pid namespace, by a process that no longer exists
  (a SIGKILLed ``gaama publish``), so the next publish there need not wait out the lease.
  Machine means Linux's boot id plus pid namespace, not the host name: two VMs called
  ``ubuntu`` share a host name and the initial pid namespace's number, never a boot id.

A draft without a marker is a user's (``publish(draft=True)`` leaves none) and is never removed.
"""

from __future__ import annotations

import calendar
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote

from .models import Release

#: Seconds a draft may go unrenewed before another publisher treats it as abandoned. Live
#: publishers renew four times per lease, so only a dead or frozen one ever reaches it.
DEFAULT_LEASE = 600.0
RENEWALS_PER_LEASE = 4
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
_MARK = re.compile(r"<!-- gaama-publish ([^<>]*?) -->")
_FIELD = re.compile(r"(\w+)=(\S+)")


@dataclass(frozen=True, slots=True)
class Machine:
    """One pid space: a Linux boot id and pid namespace (pids are comparable only within it)."""

    boot: str
    pid_namespace: str


@dataclass(frozen=True, slots=True)
class DraftMark:
    """Who made an in-progress draft, when (server clock, epoch seconds), and where."""

    id: str
    started: float
    renewed: float
    host: str
    pid: int
    machine: Machine | None

    def renewed_at(self, when: float) -> DraftMark:
        return replace(self, renewed=when)

    def text(self) -> str:
        """The marker as the HTML comment appended to the body (hidden when rendered)."""
        fields = {
            "id": self.id,
            "started": _stamp(self.started),
            "renewed": _stamp(self.renewed),
            "host": quote(self.host, safe=""),
            "pid": str(self.pid),
        }
        if self.machine is not None:
            fields |= {"boot": self.machine.boot, "pidns": self.machine.pid_namespace}
        return "<!-- gaama-publish " + " ".join(f"{k}={v}" for k, v in fields.items()) + " -->"


def new_mark(now: float, *, machine: Machine | None, pid: int, host: str) -> DraftMark:
    """A fresh marker with a random id, started ``now`` (server clock)."""
    return DraftMark(secrets.token_hex(8), now, now, host, pid, machine)


def with_mark(body: str | None, mark: DraftMark) -> str:
    """The user's body with the marker appended; publishing sends the user's body alone."""
    return f"{body}\n\n{mark.text()}" if body else mark.text()


def parse_mark(body: str | None) -> DraftMark | None:
    """The last marker in ``body``, or None (a user's draft, or a marker we cannot read)."""
    found = _MARK.findall(body or "")
    if not found:
        return None
    fields: dict[str, str] = dict(_FIELD.findall(found[-1]))
    try:
        started = _parse_stamp(fields["started"])
        renewed = _parse_stamp(fields.get("renewed") or fields["started"])
        pid = int(fields.get("pid", "0"))
    except (KeyError, ValueError):
        return None
    machine = None
    if fields.get("boot") and fields.get("pidns"):
        machine = Machine(fields["boot"], fields["pidns"])
    return DraftMark(fields.get("id", ""), started, renewed, unquote(fields.get("host", "")),
                     pid, machine)  # fmt: skip


def is_abandoned(
    mark: DraftMark,
    *,
    now: float,
    lease: float,
    here: Machine | None,
    alive: Callable[[int], bool],
) -> bool:
    """Whether the publisher behind ``mark`` is gone: lease run out, or dead on this machine."""
    if now - max(mark.started, mark.renewed) > lease:
        return True
    same_machine = here is not None and mark.machine == here
    # only asked on this machine (on Windows os.kill would end the process, not probe it)
    return same_machine and mark.pid > 0 and not alive(mark.pid)


def abandoned_drafts(
    releases: Iterable[Release],
    tag: str,
    *,
    now: float,
    lease: float,
    here: Machine | None,
    alive: Callable[[int], bool],
) -> list[Release]:
    """The marked drafts of ``tag`` whose publishers are gone; unmarked drafts never."""
    found = []
    for release in releases:
        mark = parse_mark(release.body) if release.draft and release.tag == tag else None
        if mark is not None and is_abandoned(mark, now=now, lease=lease, here=here, alive=alive):
            found.append(release)
    return found


def kept_drafts(releases: Iterable[Release], tag: str) -> list[Release]:
    """The drafts of ``tag`` a user kept (``publish(draft=True)``: no marker), newest first."""
    found = [r for r in releases if r.draft and r.tag == tag and parse_mark(r.body) is None]
    return sorted(found, key=lambda r: r.id, reverse=True)


def _stamp(when: float) -> str:
    return time.strftime(_STAMP, time.gmtime(when))


def _parse_stamp(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, _STAMP)))


# -- the edges: this process and machine, the server's clock ---------------------------------


def this_machine() -> Machine | None:
    """This process's pid space, or None where it cannot be told (not Linux): lease only."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text("ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    digits = "".join(c for c in namespace if c.isdigit())
    return Machine(boot, digits) if boot and digits else None


def this_mark(now: float) -> DraftMark:
    """A marker for a draft this process makes now."""
    return new_mark(now, machine=this_machine(), pid=os.getpid(), host=socket.gethostname())


def process_alive(pid: int) -> bool:
    """Whether ``pid`` exists here (a zombie counts until reaped; a reused pid waits the lease)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
