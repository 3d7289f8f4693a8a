"""The drop-in for code written for gaama 0.7.2: ``from gaama_async.compat import GaAMA``.

gaama 0.7.2 published a ``{tag}.zip`` bundle beside the files unless told not to, and its
``download`` always unpacked ``.zip`` assets. A drop-in has to keep those defaults, or a
migrated training script silently stops producing the bundle that readers still on 0.7.2
unpack. New code should not pay for them (twice the storage, twice the upload), so
``gaama_async.GaAMA`` defaults both off and this class, identical otherwise, turns them on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import client
from .models import Release

__all__ = ["GaAMA"]


class GaAMA(client.GaAMA):
    """``gaama_async.GaAMA`` with gaama 0.7.2's defaults: ``zip_files=True`` in ``publish``,
    ``extract_zips=True`` in ``download``. Methods are coroutines: ``await`` them."""

    async def publish(
        self,
        tag: str | None = None,
        files: Iterable[str | os.PathLike[str]] = (),
        *,
        name: str | None = None,
        body: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
        overwrite: bool = False,
        zip_files: bool = True,
    ) -> Release:
        """As ``gaama_async.GaAMA.publish``, bundling ``{tag}.zip`` unless ``zip_files=False``."""
        return await super().publish(
            tag, files, name=name, body=body, draft=draft, prerelease=prerelease,
            overwrite=overwrite, zip_files=zip_files,
        )  # fmt: skip

    async def download(
        self,
        tag: str | None = None,
        path: str | os.PathLike[str] = ".",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        extract_zips: bool = True,
    ) -> list[Path]:
        """As ``gaama_async.GaAMA.download``, unpacking ``.zip`` assets safely into ``path``."""
        return await super().download(
            tag, path, include=include, exclude=exclude, extract_zips=extract_zips
        )
