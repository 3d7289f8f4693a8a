"""Pagination of list endpoints: ``per_page``/``page`` and GitHub's ``Link`` header (spec 5)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    """Which slice to answer, and the numbers the ``Link`` header needs."""

    page: int
    per_page: int
    last: int
    explicit_per_page: bool

    def slice(self, items: Sequence[T]) -> list[T]:
        """The items on this page."""
        start = (self.page - 1) * self.per_page
        return list(items[start : start + self.per_page])


def _positive(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number >= 1 else default


def choose_page(query: Mapping[str, str], total: int) -> Page:
    """Read ``per_page`` (default 30, silently capped at 100) and ``page`` (default 1)."""
    per_page = min(_positive(query.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
    last = max(1, math.ceil(total / per_page))
    return Page(_positive(query.get("page"), 1), per_page, last, "per_page" in query)


def link_header(base_url: str, page: Page) -> str | None:
    """The ``Link`` value in GitHub's rel order, or None for a single page."""
    if page.last == 1 and page.page == 1:
        return None

    def url(number: int) -> str:
        per_page = f"per_page={page.per_page}&" if page.explicit_per_page else ""
        return f"<{base_url}?{per_page}page={number}>"

    rels: list[tuple[str, int]] = []
    if page.page > 1:
        rels.append(("prev", page.page - 1))
    if page.page < page.last:
        rels += [("next", page.page + 1), ("last", page.last)]
    if page.page > 1:
        rels.append(("first", 1))
    return ", ".join(f'{url(number)}; rel="{rel}"' for rel, number in rels)
