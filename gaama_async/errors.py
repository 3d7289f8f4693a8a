"""The exception tree.

Every error the library raises on purpose is a ``GaamaError``::

    GaamaError
     ├── AuthenticationError   401, or 403 that is not a rate limit
     ├── NotFoundError         404: unknown repository, tag, release or asset
     ├── RateLimitError        primary or secondary rate limit, past the wait we accept
     ├── AssetConflictError    an asset of that name exists with other content
     ├── IntegrityError        bytes whose size or sha256 do not match what was promised
     ├── LocalFileError        the local disk refused: full, not writable, or a folder that is
     │                         not safe to write in (a planted link)
     ├── TransferError         a transient fault (5xx, dropped connection, timeout) that
     │                         outlasted every retry
     ├── PublishError          a publish that could not complete (kept from gaama 0.7.2)
     └── DownloadError         a download that could not complete (kept from gaama 0.7.2)

Messages are one sentence saying what happened and what to do. They never contain a token.
"""

from __future__ import annotations


class GaamaError(Exception):
    """Base class of every error gaama_async raises on purpose."""

    def __init__(self, message: str, *, status: int | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        #: GitHub's decoded error body, when the error came from an HTTP answer.
        self.details = details

    def __str__(self) -> str:
        return self.message


class AuthenticationError(GaamaError):
    """The token is missing, wrong, expired, or lacks the permission the call needs."""


class NotFoundError(GaamaError):
    """The repository, tag, release or asset does not exist (or is private to this token)."""


class RateLimitError(GaamaError):
    """GitHub's rate limit was hit and lifting it would take longer than we accept to wait."""

    def __init__(
        self, message: str, *, status: int | None = None, reset_at: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.reset_at = reset_at


class AssetConflictError(GaamaError):
    """An asset with the same stored name but different content is already on the release."""


class IntegrityError(GaamaError):
    """Bytes read or stored do not match the expected size or sha256."""


class LocalFileError(GaamaError):
    """The local disk refused the work: no space left, or a folder not safe to write in.

    Nothing on GitHub is wrong; free space or fix the folder, then run the call again.
    """


class TransferError(GaamaError):
    """A transient fault (5xx, dropped connection, timeout, short body) outlasted the retries.

    Running the same call again is the remedy: downloads resume from what is on disk.
    """


class PublishError(GaamaError):
    """A publish could not complete; the message names the file and the reason."""


class DownloadError(GaamaError):
    """A download could not complete; the message names the asset and the reason."""
