"""A raw HTTP/1.1 client on a socket, for faults that only the transport shows.

aiohttp turns a reset, a short body and a clean close into similar exceptions; these tests
must see the bytes that arrived and how the connection ended: a FIN (``error`` None) or an
RST (``ConnectionResetError``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio


class _Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.error: Exception | None = None
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self.closed.set()


@dataclass(frozen=True)
class RawAnswer:
    """What came back: the status line and headers, the body bytes, how the socket ended."""

    status: int
    headers: dict[str, str]
    body: bytes
    error: Exception | None


async def raw_get(url: str, headers: dict[str, str] | None = None) -> RawAnswer:
    """GET ``url`` with ``Connection: close`` and read until the server ends the connection."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {"User-Agent": "raw-tests", **(headers or {})}.items()]
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_connection(_Recorder, parts.hostname, parts.port or 80)
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    with anyio.fail_after(10):
        await recorder.closed.wait()
    head, _, body = bytes(recorder.data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return RawAnswer(int(status_line.split()[1]), fields, body, recorder.error)
