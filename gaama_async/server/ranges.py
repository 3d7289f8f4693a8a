"""Pure decisions about byte ranges for the storage origin (RFC 9110 subset)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """What to send: ``status`` 200 or 206 with bytes ``start`` .. ``start + length - 1``."""

    status: int
    start: int
    length: int

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` value of a 206 answer."""
        return f"bytes {self.start}-{self.start + self.length - 1}/{size}"


class Unsatisfiable(Exception):
    """The range lies outside the blob: answer 416 with ``Content-Range: bytes */SIZE``."""


def plan(range_header: str | None, if_range: str | None, etag: str, size: int) -> Plan:
    """Decide the answer to a GET with optional ``Range`` and ``If-Range`` headers.

    A malformed or multi-range header is ignored (full 200), as Azure and S3 do; an
    ``If-Range`` that does not match the current ETag also means the full body.
    """
    full = Plan(200, 0, size)
    if range_header is None or (if_range is not None and if_range.strip() != etag):
        return full
    unit, _, spec = range_header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return full
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return full
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise Unsatisfiable
            start = max(0, size - suffix)
            end = size - 1
        else:
            start = int(first)
            end = size - 1 if last == "" else min(int(last), size - 1)
    except ValueError:
        return full
    if start < 0 or start >= size or end < start:
        raise Unsatisfiable
    return Plan(206, start, end - start + 1)
