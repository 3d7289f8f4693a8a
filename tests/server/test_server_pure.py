"""Pure decisions of the server, tested without sockets: ranges and pagination."""

from __future__ import annotations

import pytest

from gaama_async.server.pagination import choose_page, link_header
from gaama_async.server.ranges import Plan, Unsatisfiable, plan

ETAG = '"0x8DABC"'


@pytest.mark.parametrize(
    ("header", "if_range", "expected"),
    [
        (None, None, Plan(200, 0, 100)),
        ("bytes=0-9", None, Plan(206, 0, 10)),
        ("bytes=90-", None, Plan(206, 90, 10)),
        ("bytes=-10", None, Plan(206, 90, 10)),
        ("bytes=-500", None, Plan(206, 0, 100)),
        ("bytes=50-500", None, Plan(206, 50, 50)),
        ("bytes=0-9", ETAG, Plan(206, 0, 10)),
        ("bytes=0-9", '"0xOTHER"', Plan(200, 0, 100)),
        ("bytes=0-1,5-6", None, Plan(200, 0, 100)),
        ("items=0-1", None, Plan(200, 0, 100)),
        ("bytes=abc", None, Plan(200, 0, 100)),
    ],
)
def test_range_plans(header: str | None, if_range: str | None, expected: Plan) -> None:
    assert plan(header, if_range, ETAG, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        plan(header, None, ETAG, 100)


def test_content_range() -> None:
    assert Plan(206, 10, 5).content_range(100) == "bytes 10-14/100"


def _rels(query: dict[str, str], total: int) -> list[str] | None:
    link = link_header("http://x/repositories/1/releases", choose_page(query, total))
    return None if link is None else [p.split('rel="')[1][:-1] for p in link.split(", ")]


def test_link_rel_order() -> None:
    assert _rels({}, 30) is None
    assert _rels({}, 0) is None
    assert _rels({}, 31) == ["next", "last"]
    assert _rels({"page": "2"}, 91) == ["prev", "next", "last", "first"]
    assert _rels({"page": "2"}, 60) == ["prev", "first"]
    assert _rels({"page": "9"}, 60) == ["prev", "first"]


def test_per_page_default_cap_and_carry() -> None:
    assert choose_page({}, 10).per_page == 30
    assert choose_page({"per_page": "500"}, 10).per_page == 100
    junk = choose_page({"per_page": "junk", "page": "-3"}, 10)
    assert (junk.per_page, junk.page) == (30, 1)
    link = link_header("http://x/r", choose_page({"per_page": "2"}, 5))
    assert (
        link
        == '<http://x/r?per_page=2&page=2>; rel="next", <http://x/r?per_page=2&page=3>; rel="last"'
    )
