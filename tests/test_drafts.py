"""The in-progress marker and the abandoned-draft rule, with no server and no event loop."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from gaama_async._drafts import (
    DraftMark,
    Machine,
    abandoned_drafts,
    is_abandoned,
    new_mark,
    parse_mark,
    process_alive,
    this_machine,
    with_mark,
)
from gaama_async._ratelimit import server_clock
from gaama_async.models import Release

HERE = Machine("5d0f-boot", "4026531836")
ELSEWHERE = Machine("9a1c-boot", "4026531836")  # another VM: same initial pid namespace number
T0 = 1_800_000_000.0


def _mark(*, renewed: float = T0, pid: int = 4242, machine: Machine | None = HERE) -> DraftMark:
    return DraftMark("abc123", T0, renewed, "box", pid, machine)


def _never_alive(pid: int) -> bool:
    return False


def _always_alive(pid: int) -> bool:
    return True


def test_the_marker_survives_the_body_and_reads_back() -> None:
    mark = new_mark(T0, machine=HERE, pid=4242, host="my box")
    body = with_mark("Release notes\n\n<!-- a comment of the user -->", mark)

    assert body.startswith("Release notes\n\n")
    assert parse_mark(body) == mark
    assert "my%20box" in mark.text()  # no spaces: the fields stay key=value
    assert with_mark(None, mark) == mark.text()


def test_bodies_without_a_readable_marker_are_nobodys_drafts() -> None:
    assert parse_mark(None) is None
    assert parse_mark("user notes <!-- gaama-publish but not really -->") is None
    assert parse_mark("<!-- gaama-publish id=x started=yesterday -->") is None


def test_a_marker_without_machine_fields_is_judged_by_the_lease_alone() -> None:
    mark = parse_mark("<!-- gaama-publish id=x started=2027-01-15T08:00:00Z pid=7 -->")

    assert mark is not None and mark.machine is None and mark.renewed == mark.started
    now = mark.started + 60
    assert not is_abandoned(mark, now=now, lease=600, here=HERE, alive=_never_alive)
    assert is_abandoned(mark, now=now + 600, lease=600, here=HERE, alive=_always_alive)


@pytest.mark.parametrize(
    ("case", "mark", "now", "alive", "here", "abandoned"),
    [
        ("fresh, alive here", _mark(), T0 + 5, True, HERE, False),
        ("fresh, dead here", _mark(), T0 + 5, False, HERE, True),
        ("fresh, dead pid of another machine", _mark(machine=ELSEWHERE), T0 + 5, False, HERE,
         False),
        ("fresh, no machine known here", _mark(), T0 + 5, False, None, False),
        ("lease run out, alive here", _mark(), T0 + 601, True, HERE, True),
        ("renewed lately", _mark(renewed=T0 + 3000), T0 + 3100, True, ELSEWHERE, False),
        ("renewed, then silent past the lease", _mark(renewed=T0 + 3000), T0 + 3601, True,
         ELSEWHERE, True),
        ("our clock behind the server's", _mark(), T0 - 100, True, ELSEWHERE, False),
    ],
)  # fmt: skip
def test_which_drafts_are_abandoned(
    case: str, mark: DraftMark, now: float, alive: bool, here: Machine | None, abandoned: bool
) -> None:
    probe = _always_alive if alive else _never_alive
    assert is_abandoned(mark, now=now, lease=600, here=here, alive=probe) is abandoned, case


def _release(tag: str, *, draft: bool, body: str | None) -> Release:
    data: dict[str, Any] = {
        "id": abs(hash((tag, draft, body))) % 10**9,
        "tag_name": tag,
        "draft": draft,
        "body": body,
        "url": "u",
        "upload_url": "u{?name,label}",
    }
    return Release.from_json(data)


def test_only_marked_drafts_of_the_tag_are_ever_removed() -> None:
    stale = _mark().text()
    releases = [
        gone := _release("v1", draft=True, body=stale),
        _release("v1", draft=True, body="kept by the user with draft=True"),
        _release("v1", draft=True, body=None),
        _release("v1", draft=False, body=stale),  # published (a body copied from a draft)
        _release("v2", draft=True, body=stale),
    ]

    found = abandoned_drafts(releases, "v1", now=T0 + 10**6, lease=600, here=HERE,
                             alive=_never_alive)  # fmt: skip

    assert found == [gone]


def test_the_server_clock_comes_from_the_date_header() -> None:
    assert server_clock("Tue, 15 Nov 1994 08:12:31 GMT", 0.0) == 784887151.0
    assert server_clock(None, 12.5) == 12.5
    assert server_clock("not a date", 12.5) == 12.5


def test_this_process_is_alive_and_a_reaped_one_is_not() -> None:
    assert process_alive(os.getpid())
    with subprocess.Popen([sys.executable, "-c", ""]) as child:
        pass  # waited for on exit: reaped, no zombie
    assert not process_alive(child.pid)
    if os.path.exists("/proc/self/ns/pid"):
        assert this_machine() is not None
