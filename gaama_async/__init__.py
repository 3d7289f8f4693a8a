"""gaama_async: GitHub Releases as a model registry, with an asyncio client.

Publish files as release assets and download them again, concurrently, streamed, verified::

    async with GaAMA(repo="acme/models") as client:
        await client.publish("v1", ["model.safetensors", "tokenizer.json"])
        paths = await client.download("v1", "models/")
"""

from ._aliasdoc import Alias, AliasMove
from ._config import Limits, Pacing, Timeouts
from ._retry import RetryPolicy
from ._verifyplan import FileMismatch, VerifyReport
from ._version import __version__
from .client import DownloadSpec, GaAMA
from .errors import (
    AssetConflictError,
    AuthenticationError,
    DownloadError,
    GaamaError,
    IntegrityError,
    LocalFileError,
    NotFoundError,
    PublishError,
    RateLimitError,
    TransferError,
)
from .manifest import Manifest, ManifestEntry
from .models import Asset, Release
from .progress import ProgressCallback, ProgressEvent

__all__ = [
    "Alias",
    "AliasMove",
    "Asset",
    "AssetConflictError",
    "AuthenticationError",
    "DownloadError",
    "DownloadSpec",
    "FileMismatch",
    "GaAMA",
    "GaamaError",
    "IntegrityError",
    "Limits",
    "LocalFileError",
    "Manifest",
    "ManifestEntry",
    "NotFoundError",
    "Pacing",
    "ProgressCallback",
    "ProgressEvent",
    "PublishError",
    "RateLimitError",
    "Release",
    "RetryPolicy",
    "Timeouts",
    "TransferError",
    "VerifyReport",
    "__version__",
]
