"""The ``{tag}.zip`` bundle that gaama 0.7.2 published beside the files (``zip_files=True``).

Consumers still running gaama 0.7.2 unpack that bundle into their ``path``, so publishers
migrating to gaama_async keep producing it until every reader has moved. Model files are
gigabytes: the bundle is streamed through a temporary file, never held in memory, and the
temporary file is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio

from ._files import in_pool


def bundle_name(tag: str) -> str:
    """``{tag}.zip`` as 0.7.2 named it; a ``/`` in a tag cannot be part of a file name."""
    return tag.replace("/", "-").replace("\\", "-") + ".zip"


def write_bundle(archive: Path, files: Sequence[Path]) -> None:
    """Write ``files`` into ``archive`` under their base names; blocking, run it in the pool.

    Members are stored uncompressed, as 0.7.2 did: weights barely compress, and storing is
    what keeps a multi-GiB bundle fast. Base names (not the paths given) make the members
    the very names ``download`` writes, and never ``../`` names that extraction refuses.
    ``zipfile`` copies each file in small chunks, so memory stays constant.
    """
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for file in files:
            bundle.write(file, arcname=file.name)


def _temporary_folder(near: Path) -> str:
    """A private folder beside the files when writable (same disk, which evidently has room;
    ``/tmp`` is often RAM-backed), else in the system temporary folder."""
    try:
        return tempfile.mkdtemp(prefix=".gaama-bundle-", dir=near)
    except OSError:
        return tempfile.mkdtemp(prefix="gaama-bundle-")


@contextlib.asynccontextmanager
async def zip_bundle(tag: str, files: Sequence[Path]) -> AsyncIterator[Path]:
    """Yield a temporary ``{tag}.zip`` holding ``files``; it is deleted on leaving."""
    folder = Path(await in_pool(_temporary_folder, files[0].parent))
    try:
        archive = folder / bundle_name(tag)
        await in_pool(write_bundle, archive, files)
        yield archive
    finally:
        with anyio.CancelScope(shield=True):
            await in_pool(shutil.rmtree, folder, True)
