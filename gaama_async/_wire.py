"""Storage reads on worker threads: blocking HTTP/1.1 GETs whose bodies go straight from the
socket into a reused buffer and from there to the file, without the event loop.

Why: profiling a 1 GiB download (py-spy) showed the event loop thread as the bottleneck.
aiohttp hands every socket read to Python as a fresh ``bytes`` and walks it through its
protocol, parser, stream reader and our batching, all holding the GIL, while the worker threads
that write and hash waited for it: about 2 CPU-seconds per GiB on little more than one core.
Here each connection is served by one worker thread that loops ``recv_into`` a preallocated
buffer and ``pwrite``s it: both system calls release the GIL, so sixteen connections use every
core, and the Python work per MiB is a few bytecodes (``curl``'s loop, in fact).

Only storage is read this way (signed URLs: no token, no rate limits, no JSON); the API stays
on aiohttp. ``http.client`` parses the status line and headers (and chunked bodies); redirects
are followed like aiohttp does (at most ``MAX_REDIRECTS``). Idle keep-alive connections are
kept per origin in ``WirePool``. Every call makes one try; transport failures become
``TransientError`` as in ``_responses``.

A blocking read cannot be cancelled, so ``interruptible`` shuts the socket down when the task
waiting for it is cancelled: the read returns at once and the thread is free again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import os
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread
from multidict import CIMultiDict
from yarl import URL

from ._responses import mapped_transport_errors
from ._retry import TransientError

T = TypeVar("T")
MAX_REDIRECTS = 10  # as aiohttp
REDIRECTS = frozenset({301, 302, 303, 307, 308})
BUFFER_SIZE = 1 << 20  # one connection's receive buffer: written to disk once full
MAX_IDLE = 32  # idle connections kept per origin
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, which Python names only from 3.10 on some builds
Writer = Callable[[memoryview, int], None]
Origin = tuple[str, str, int]


class _Connection(http.client.HTTPConnection):
    """One keep-alive connection with its own receive buffer, over TLS when ``context`` is
    given. The connect timeout applies to connecting, the read timeout to every read after."""

    def __init__(
        self, origin: Origin, context: ssl.SSLContext | None, connect: float, read: float
    ) -> None:
        _, host, port = origin
        super().__init__(host, port, timeout=connect)
        self.origin = origin
        self.context = context
        self.read_timeout = read
        self.buffer = memoryview(bytearray(BUFFER_SIZE))
        self.raw: socket.socket | None = None  # kept for interrupt() after a Connection: close
        self.splicing = context is None and hasattr(os, "splice")  # until the kernel refuses
        self._pipe: tuple[int, int] | None = None

    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        if self.context is not None:
            self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)
        else:  # the kernel's own read timeout, for bodies read in blocking mode (recv_all)
            seconds = int(self.read_timeout)
            microseconds = int((self.read_timeout - seconds) * 1_000_000)
            timeval = struct.pack("@ll", seconds, microseconds)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self.sock.settimeout(self.read_timeout)
        self.raw = self.sock

    def splice_into(self, fd: int, offset: int, length: int) -> int:
        """Blocking: move up to ``length`` bytes from a plain socket into file ``fd`` at
        ``offset`` inside the kernel (``splice`` through a pipe), not through our buffer:
        one copy of the bytes instead of two, measured at 5-20% less CPU per GiB here.
        Returns the bytes written, 0 at the end of the stream. The socket's side may raise
        transport errors (``TimeoutError`` when ``SO_RCVTIMEO`` expires); the file's side
        raises ``FileSideError``."""
        sock = self.sock
        assert sock is not None and self.context is None
        read_end, write_end = self._pipe or self._open_pipe()
        sock.setblocking(True)
        try:
            moved = os.splice(sock.fileno(), write_end, length)
        except BlockingIOError as exc:  # SO_RCVTIMEO expired before the first byte
            raise TimeoutError("timed out") from exc
        finally:
            sock.settimeout(self.read_timeout)
        left = moved
        try:
            while left:
                count = os.splice(read_end, fd, left, offset_dst=offset + moved - left)
                left -= count
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                self.close()  # the pipe holds bytes that belong to no file now
                raise FileSideError(exc) from exc
            self.splicing = False  # a file system that takes no splice: copy what is piped
            self._copy_from_pipe(fd, offset + moved - left, left)
        return moved

    def _copy_from_pipe(self, fd: int, offset: int, length: int) -> None:
        assert self._pipe is not None
        try:
            while length:
                count = os.readv(self._pipe[0], [self.buffer[: min(length, BUFFER_SIZE)]])
                os.pwrite(fd, self.buffer[:count], offset)
                offset, length = offset + count, length - count
        except OSError as exc:
            self.close()
            raise FileSideError(exc) from exc

    def _open_pipe(self) -> tuple[int, int]:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # 1 MiB per trip; the default is 64 KiB
            fcntl.fcntl(write_end, F_SETPIPE_SZ, BUFFER_SIZE)
        self._pipe = read_end, write_end
        return self._pipe

    def close(self) -> None:
        super().close()
        pipe, self._pipe = self._pipe, None
        for end in pipe or ():
            os.close(end)

    def recv_all(self, view: memoryview) -> int:
        """Blocking: fill ``view`` from a plain socket in one system call (``MSG_WAITALL``);
        fewer bytes only at the end of the stream, a timeout or an interrupt. (A TLS socket:
        ``_recv_all_tls``.)

        Why: a read with a Python timeout is a poll and a non-blocking ``recv`` that returns
        what has arrived (64-256 KiB on loopback), each a trip through Python code and the
        GIL; a blocking ``MSG_WAITALL`` read of 1 MiB is one trip, with the kernel's
        ``SO_RCVTIMEO`` (set in ``connect``) as the timeout.
        """
        if self.context is not None:
            return self._recv_all_tls(view)
        sock = self.sock
        assert sock is not None
        sock.setblocking(True)
        try:
            return sock.recv_into(view, len(view), socket.MSG_WAITALL)
        except BlockingIOError as exc:  # SO_RCVTIMEO expired before the first byte
            raise TimeoutError("timed out") from exc
        finally:
            sock.settimeout(self.read_timeout)

    def _recv_all_tls(self, view: memoryview) -> int:
        """Blocking: fill ``view`` from a TLS socket, one record (16 KiB at most) per read,
        in a loop that calls the socket's SSL object itself; fewer bytes only at the end of
        the stream or when a read fails after some arrived (the next read raises).

        Why: TLS gives no ``MSG_WAITALL``, so a GiB is some 65,000 reads, and each trip
        through ``SSLSocket.recv_into`` (or the buffered file over it) runs several Python
        frames holding the GIL that sixteen threads share. Measured, 1 GiB over TLS from the
        local server, 16 threads writing and hashing: SSLSocket.recv_into 2.2-2.6 s, the SSL
        object's ``read`` 1.6-1.8 s (curl: 1.8-2.1 s). ``_sslobj`` is private to ``ssl``;
        where it is missing, the public ``recv_into`` does the same, more slowly.
        """
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        sslobj = getattr(sock, "_sslobj", None)
        read = sslobj.read if sslobj is not None else _recv_into(sock)
        filled, size = 0, len(view)
        try:
            while filled < size:
                count = read(size - filled, view[filled:])
                if not count:
                    break
                filled += count
        except ssl.SSLEOFError:
            pass  # an end without close_notify, which SSLSocket.read also takes as the end
        except OSError:
            if not filled:
                raise
        return filled

    def interrupt(self) -> None:
        """Wake a read blocked in another thread (its socket reports end of stream)."""
        if self.raw is not None:
            with contextlib.suppress(OSError):  # socket's own shutdown: no TLS close_notify
                socket.socket.shutdown(self.raw, socket.SHUT_RDWR)


class FileSideError(Exception):
    """Writing received bytes to the file failed (``splice``'s file side): a disk fault,
    not a transport one. Carries the ``OSError``."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class WirePool:
    """Idle storage connections per origin, shared by the worker threads of one client."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        user_agent: str,
        context: ssl.SSLContext | None = None,
    ) -> None:
        """``context``: the one the API session verifies with (the CA bundles the environment
        names); None: the system's store, made on first use."""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = context
        self._closed = False

    def _ssl(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:  # honours SSL_CERT_FILE, as aiohttp's default does
                self._context = ssl.create_default_context()
            return self._context

    def take(self, origin: Origin) -> tuple[_Connection, bool]:
        """An idle connection to ``origin`` (and True), or a new one (and False)."""
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        context = self._ssl() if origin[0] == "https" else None
        return _Connection(origin, context, self.connect_timeout, self.read_timeout), False

    def give_back(self, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(connection.origin, [])
            if not self._closed and len(idle) < MAX_IDLE:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for group in self._idle.values() for c in group]
            self._idle.clear()
        for connection in idle:
            connection.close()


class WireResponse:
    """A storage answer whose body is read on a worker thread, straight into the file."""

    def __init__(
        self, pool: WirePool, connection: _Connection, answer: http.client.HTTPResponse
    ) -> None:
        self.pool = pool
        self.status = answer.status
        self.headers: CIMultiDict[str] = CIMultiDict(answer.getheaders())
        self.length = answer.length  # body bytes left when known (Content-Length)
        self._connection: _Connection | None = connection
        self._answer = answer
        self._drained = False  # the header parser's read-ahead is taken: read the socket

    def receive(
        self,
        write: Writer,
        offset: int,
        limit: int,
        after_write: Callable[[int], object],
        fd: int | None = None,
    ) -> tuple[int, BaseException | None]:
        """Blocking: read up to ``limit`` body bytes, ``write`` them at ``offset`` onwards, and
        return how many were written, with the transport error that stopped it, if any (the
        bytes before a break are written and counted: a resume continues after them).
        ``after_write(size)`` runs after each buffer written (accounting and hashing). With
        the file's descriptor ``fd``, plain-HTTP bodies are spliced into it instead."""
        connection = self._connection
        assert connection is not None
        buffer, written = connection.buffer, 0
        while written < limit:
            spliced = None if fd is None else self._splice(fd, offset + written, limit - written)
            if spliced is not None:
                moved, error = spliced
                written += moved
                if moved:
                    after_write(moved)
                if error is not None or moved == 0:
                    return written, error
                continue
            filled, error = self._fill(buffer[: min(len(buffer), limit - written)])
            if filled:
                write(buffer[:filled], offset + written)
                written += filled
                after_write(filled)
            if error is not None or filled == 0:
                return written, error
        return written, None

    def _fill(self, buffer: memoryview) -> tuple[int, BaseException | None]:
        """Fill ``buffer`` from the body; stops early at its end or at a transport error."""
        filled = 0
        try:
            while filled < len(buffer):
                count = self._read_into(buffer[filled:])
                if count == 0:
                    break
                filled += count
        except (OSError, http.client.HTTPException) as exc:
            return filled, exc
        return filled, None

    def _splice(self, fd: int, offset: int, limit: int) -> tuple[int, BaseException | None] | None:
        """One trip of ``splice_into`` within the body's length, as ``_fill`` answers; None
        where splicing does not apply (TLS, a chunked body, the header parser's read-ahead
        still to take, a kernel that refused) and the buffer must be used."""
        connection, answer = self._connection_now(), self._answer
        if not (connection.splicing and self._drained) or answer.chunked or self.length is None:
            return None
        if self.length <= 0:
            return 0, None
        try:
            moved = connection.splice_into(fd, offset, min(limit, self.length))
        except FileSideError:
            raise
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOSYS):  # this socket cannot be spliced
                connection.splicing = False
                return None
            return 0, exc
        if moved == 0:
            return 0, http.client.IncompleteRead(b"", self.length)
        self.length -= moved
        return moved, None

    def _read_into(self, view: memoryview) -> int:
        answer = self._answer
        if answer.chunked or self.length is None:
            return answer.readinto(view)  # http.client decodes; rare for storage
        if self.length <= 0:
            return 0
        assert answer.fp is not None
        view = view[: self.length]
        if self._drained:
            count = self._connection_now().recv_all(view)
        else:  # the first read takes what the header parser buffered
            count = answer.fp.readinto1(view)
            self._drained = True
        if count == 0:
            raise http.client.IncompleteRead(b"", self.length)
        self.length -= count
        return count

    def _connection_now(self) -> _Connection:
        assert self._connection is not None
        return self._connection

    def interrupt(self) -> None:
        if self._connection is not None:
            self._connection.interrupt()

    def close(self) -> None:
        """Blocking: keep the connection for the next request if the body was read to its
        end and the server keeps it open; close it otherwise."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        answer = self._answer
        reusable = self.length == 0 and not answer.chunked and not answer.will_close
        answer.close()
        if reusable:
            self.pool.give_back(connection)
        else:
            connection.close()


def _recv_into(sock: ssl.SSLSocket) -> Callable[[int, memoryview], int]:
    """``sock.recv_into`` with the SSL object's ``read(size, buffer)`` signature."""
    return lambda size, buffer: sock.recv_into(buffer, size)


def _origin(url: URL) -> Origin:
    scheme = url.scheme or "http"
    return scheme, url.host or "", url.port or (443 if scheme == "https" else 80)


def _request(
    pool: WirePool, url: URL, headers: Mapping[str, str], meanwhile: Callable[[], object]
) -> tuple[_Connection, http.client.HTTPResponse]:
    """Send one GET and run ``meanwhile`` while the answer is on its way; a reused
    connection the server closed meanwhile is replaced once."""
    while True:
        connection, reused = pool.take(_origin(url))
        try:
            connection.request("GET", url.raw_path_qs, headers={**pool.headers, **headers})
            try:
                meanwhile()
            finally:
                meanwhile = _nothing  # once, even when the request is sent again
            return connection, connection.getresponse()
        except ssl.SSLCertVerificationError:
            connection.close()
            raise
        except (OSError, http.client.HTTPException):
            connection.close()
            if not reused:
                raise
        except BaseException:
            connection.close()
            raise


def _nothing() -> None:
    return None


def _open(
    pool: WirePool, url: str, headers: Mapping[str, str], meanwhile: Callable[[], object]
) -> WireResponse:
    """Blocking: GET ``url``, following redirects; the answer with its body unread."""
    target = URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        connection, answer = _request(pool, target, headers, meanwhile)
        meanwhile = _nothing
        response = WireResponse(pool, connection, answer)
        location = answer.getheader("Location")
        if answer.status not in REDIRECTS or not location:
            return response
        response.length = None  # not reused: the body of a redirect is not read
        response.close()
        target = target.join(URL(location))
    raise TransientError("redirected too many times")


class WireCall:
    """The answer a blocking call opened (``open_blocking``), so a cancel can interrupt it."""

    def __init__(self) -> None:
        self.response: WireResponse | None = None

    def interrupt(self) -> None:
        if self.response is not None:
            self.response.interrupt()


def open_blocking(
    pool: WirePool,
    url: str,
    headers: Mapping[str, str],
    call: WireCall,
    meanwhile: Callable[[], object] = _nothing,
) -> WireResponse:
    """Blocking, for a function run by ``on_wire``: GET ``url``, following redirects, and
    run ``meanwhile`` (once) while the first answer is on its way. Its errors must not be
    ``OSError``s: ``on_wire`` reads those as failures to connect."""
    call.response = _open(pool, url, headers, meanwhile)
    return call.response


async def on_wire(blocking: Callable[[WireCall], T], url: str, what: str) -> T:
    """Run ``blocking`` on a worker thread: it may open storage answers (``open_blocking``)
    and read them, all in one trip. Transport failures it raises become ``TransientError``
    naming ``what``; a cancel of the waiting task interrupts its reads."""
    call = WireCall()
    with mapped_transport_errors(what):
        try:
            work = partial(anyio.to_thread.run_sync, blocking, call)
            return await interruptible(work, call.interrupt)
        except (ConnectionError, TimeoutError, ssl.SSLError, http.client.HTTPException):
            raise  # mapped just above
        except OSError as exc:  # cannot connect: no such host, no route
            host = URL(url).host
            raise TransientError(f"cannot connect to {host} ({exc.strerror or exc})") from exc


async def interruptible(call: Callable[[], Awaitable[T]], interrupt: Callable[[], None]) -> T:
    """Await ``call`` (a blocking read on a worker thread); if the task is cancelled
    meanwhile, ``interrupt`` the read so the thread returns now, not after a read timeout."""
    finished = False
    result: list[T] = []
    failure: list[BaseException] = []

    async def watch() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            if not finished:
                interrupt()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            result.append(await call())
        except Exception as exc:  # raised below, outside the group, so not in a group
            failure.append(exc)
        finally:
            finished = True
            group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return result[0]
