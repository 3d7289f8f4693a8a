"""What the ``gaama`` command says and returns for an error: one line and an exit code.

Pure: ``cli.main`` catches every error at the edge and asks this module what to print. The
exit code comes from the most specific error in the chain (``raise ... from``), so a
``DownloadError`` caused by a full disk still exits 8 and names the disk. Messages use the
CLI's words (``--dir``, ``--port``, ``--api-url``), are one line, and never hold a token.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from ._responses import describe_transport_error
from .errors import (
    AssetConflictError,
    AuthenticationError,
    GaamaError,
    IntegrityError,
    LocalFileError,
    NotFoundError,
    RateLimitError,
    TransferError,
)

GENERIC = 1
USAGE = 2
LOCAL = 8
TRANSFER = 9


class UsageError(Exception):
    """A bad argument found after parsing (e.g. by the client's constructor): exit 2."""


# First match wins. Network errors come before OSError: aiohttp's connection errors and
# TimeoutError are OSErrors too, but they are not a local file problem.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (UsageError, USAGE),
    (AuthenticationError, 3),
    (NotFoundError, 4),
    (AssetConflictError, 5),
    (IntegrityError, 6),
    (RateLimitError, 7),
    (LocalFileError, LOCAL),
    (TransferError, TRANSFER),
    (aiohttp.ClientConnectionError, TRANSFER),
    (aiohttp.ClientPayloadError, TRANSFER),
    (TimeoutError, TRANSFER),
    (ConnectionError, TRANSFER),
    (OSError, LOCAL),
    (GaamaError, GENERIC),
]

#: The exit codes and their meaning, for ``--help`` and the README's table.
EXIT_CODE_MEANINGS: list[tuple[int, str]] = [
    (0, "ok"),
    (1, "failed"),
    (2, "bad usage"),
    (3, "authentication"),
    (4, "not found"),
    (5, "asset conflict"),
    (6, "integrity"),
    (7, "rate limited"),
    (8, "local file error"),
    (9, "network or transfer failed (run again)"),
    (130, "interrupted (SIGINT)"),
    (141, "stdout closed by its reader"),
    (143, "terminated (SIGTERM)"),
]


# The library's advice names its keyword arguments; on the command line they are flags.
CLI_WORDS: list[tuple[str, str]] = [
    ("pass overwrite=True", "pass --overwrite"),
    ("overwrite=True", "--overwrite"),
    ("raise max_rate_limit_wait", "pass a larger --max-wait"),
    ("max_rate_limit_wait", "--max-wait"),
    ("max_concurrency", "--concurrency"),
    ("max_api_concurrency", "--api-concurrency"),
]


@dataclass(frozen=True, slots=True)
class Scene:
    """What the command was doing, so a message can name things in the CLI's words.

    ``folder`` is the folder the command writes into and ``flag`` the option that named it
    (``--dir`` for download, ``--root`` for serve); ``address`` is where serve listens.
    """

    api_url: str | None = None
    folder: str | None = None
    flag: str | None = None
    address: str | None = None
    token_variable: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """The one line to print (without the ``gaama: error:`` prefix) and the exit code."""

    message: str
    code: int


def exit_code_for(error: BaseException) -> int | None:
    """The code of ``error``'s own type, or None for an exception we did not expect (a bug)."""
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), None)


def describe(error: BaseException, scene: Scene, *, secrets: Sequence[str] = ()) -> Failure:
    """Decide the exit code and the one-line message for ``error``."""
    error = innermost(error)
    failure = _classify(error, scene)
    return Failure(one_line(redact(failure.message, secrets)), failure.code)


def _classify(error: BaseException, scene: Scene) -> Failure:
    code = exit_code_for(error)
    if code is None:
        return Failure(_bug(error), GENERIC)
    chain = [error, *_causes(error)]
    if isinstance(error, GaamaError) and any(
        isinstance(c, aiohttp.ClientConnectorCertificateError) for c in chain
    ):
        return Failure(str(error), GENERIC)  # the library's hint names the CA variables
    decider = error
    if code == GENERIC:
        # A generic failure may wrap a more specific cause; that cause decides.
        decider = next((c for c in chain if exit_code_for(c) not in (None, GENERIC)), error)
    code = exit_code_for(decider) or GENERIC
    refused = next((c for c in chain if isinstance(c, aiohttp.ClientConnectorError)), None)
    if code == TRANSFER and refused is not None:
        return Failure(connect_message(refused, scene), code)
    if code == LOCAL and isinstance(decider, OSError):
        return Failure(os_error_message(decider, scene), code)
    if isinstance(error, (GaamaError, UsageError)):
        return Failure(_token_named(in_cli_words(str(error)), scene), code)
    # A raw network error that escaped the library: say what it was and what to do.
    return Failure(f"{describe_transport_error(error)} while talking to GitHub; run again", code)


def _token_named(text: str, scene: Scene) -> str:
    """The library names GITHUB_TOKEN; say the variable the token really came from, or
    that none was set."""
    if "GITHUB_TOKEN" not in text:
        return text
    if scene.token_variable is None:
        return text.replace("check that GITHUB_TOKEN holds", "set GITHUB_TOKEN (or GH_TOKEN) to")
    return text.replace("GITHUB_TOKEN", scene.token_variable)


def _bug(error: BaseException) -> str:
    return (
        f"unexpected {type(error).__name__}: {error} "
        "(a bug in gaama: please report it; -v or GAAMA_DEBUG=1 shows the traceback)"
    )


def innermost(error: BaseException) -> BaseException:
    """The error inside task groups' ExceptionGroups (the first, if several failed)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The errors that led to ``error``, nearest first.

    Only ``raise ... from`` causes: that is how the library says "because of". An error
    merely being handled when another was raised (``__context__``) may be unrelated.
    """
    seen = {id(error)}
    current = error.__cause__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current = innermost(current)
        yield current
        current = current.__cause__


def connect_message(error: aiohttp.ClientConnectorError, scene: Scene) -> str:
    """Connection refused, host unknown, ...: name the host and port that did not answer."""
    reason = _reason(error.os_error)
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        return (
            f"cannot connect to the proxy {error.host}:{error.port}: {reason}; check "
            "HTTPS_PROXY/HTTP_PROXY (and NO_PROXY for hosts to reach directly), then run again"
        )
    if scene.api_url and _same_origin(scene.api_url, error.host, error.port):
        return (
            f"cannot connect to {scene.api_url}: {reason}; check --api-url "
            "and that the server is running, then run again"
        )
    return (
        f"cannot connect to {error.host}:{error.port}: {reason}; "
        "check that the server is running, then run again"
    )


def _same_origin(url: str, host: str, port: int | None) -> bool:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname == host and (parts.port or default) == port


def _reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if error.errno is None or error.errno <= 0:
        return error.strerror or str(error)
    return os.strerror(error.errno).lower()


def os_error_message(error: OSError, scene: Scene) -> str:
    """Say what went wrong on the local disk (or port) in words a user can act on."""
    name = _filename(error)
    number = error.errno
    if number == errno.EADDRINUSE:
        return (
            f"cannot listen on {_address(error, scene)}: address already in use; "
            "check that the port is free or pass --port"
        )
    if name is None and scene.address and number in (errno.EACCES, errno.EADDRNOTAVAIL):
        reason = os.strerror(number).lower()
        return f"cannot listen on {_address(error, scene)}: {reason}; pass another --port or --host"
    inside = scene.folder is not None and (name is None or _within(name, scene.folder))
    where = scene.folder if inside and scene.folder is not None else name or "a local file"
    advice = f" or pass another {scene.flag}" if inside and scene.flag else ""
    if number in (errno.EACCES, errno.EPERM):
        if inside:
            return f"cannot write in {where}: permission denied; fix its permissions{advice}"
        return f"cannot read {where}: permission denied; fix its permissions"
    if number in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device holding {where}; free some space{advice}"
    if number == errno.EROFS:
        return f"{where} is on a read-only file system; remount it read-write{advice}"
    if number == errno.ENOENT:
        return f"{name or 'a file or folder'} does not exist"
    if number == errno.EEXIST:
        return f"{name} already exists and is not a folder" + (
            f"; pass {scene.flag} a folder" if scene.flag and inside else ""
        )
    if number == errno.ENOTDIR:
        return f"{name}: part of this path is a file, not a folder" + (
            f"; pass {scene.flag} a folder" if scene.flag and inside else ""
        )
    if number == errno.EISDIR:
        return f"{name} is a folder, not a file"
    if number in (errno.EMFILE, errno.ENFILE):
        return "too many open files; pass a lower --concurrency"
    reason = error.strerror or str(error)
    return f"{where}: {reason}" if name or inside else f"local file error: {reason}"


def _filename(error: OSError) -> str | None:
    name = error.filename
    if name is None or isinstance(name, int):
        return None
    return os.fsdecode(name)


def _within(name: str, folder: str) -> bool:
    path, root = os.path.abspath(name), os.path.abspath(folder)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _address(error: OSError, scene: Scene) -> str:
    """asyncio names the address it failed to bind ("... address ('127.0.0.1', 8080): ...")."""
    found = re.search(r"\('([^']*)', (\d+)", error.strerror or "")
    return f"{found[1]}:{found[2]}" if found else scene.address or "the port"


def in_cli_words(text: str) -> str:
    """The library's advice, with its keyword arguments named as the CLI's flags."""
    for library, cli in CLI_WORDS:
        text = text.replace(library, cli)
    return text


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (the token) replaced, for messages printed at the edge."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def one_line(text: str) -> str:
    """Messages are one line: a multi-line text is joined, its blank lines dropped."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or "failed"
