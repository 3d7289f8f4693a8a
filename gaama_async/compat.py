"""The drop-in for code written for gaama 0.7.2: ``from gaama_async.compat import GaAMA``.

gaama 0.7.2 published a ``{tag}.zip`` bundle beside the files unless told not to, and its
``download`` always unpacked ``.zip`` assets. A drop-in has to keep those defaults, or a
migrated training script silently stops producing the bundle that readers still on 0.7.2
unpack. New code should not pay for them (twice the storage, twice the upload), so
``gaama_async.GaAMA`` defaults both off and this class, identical otherwise, turns them on.
"""

from __future__ import annotations

from . import client

__all__ = ["GaAMA"]


class GaAMA(client.GaAMA):
    """``gaama_async.GaAMA`` with gaama 0.7.2's defaults: ``zip_files=True`` in ``publish``,
    ``extract_zips=True`` in ``download``. Methods are coroutines: ``await`` them."""

    zip_files_by_default = True
    extract_zips_by_default = True
