"""Which kind of filesystem holds a file, for choices that only pay off on some of them.

Reserving a range with ``fallocate`` before writing it lays a file out contiguously on a
disk filesystem (ext4, xfs: unwritten extents, no data written) and makes a full disk fail
before its bytes are fetched. A filesystem that keeps files in memory (tmpfs, ramfs) has no
layout to keep, and there the call is a second pass over every page the writes allocate
anyway: measured on a 1 GiB download into ``/dev/shm``, 1.78 s with it and 1.65 s without
(medians of six alternating runs), about 0.1 s less system CPU. Up-front space is checked
either way (``_files._size_file``), and a write that still finds no room is a clear error.

The type comes from ``/proc/self/mountinfo``, matched on the file's device number; where it
cannot be read or matched (not Linux, btrfs subvolumes with their own device numbers), the
answer is "unknown", and callers keep the careful choice.
"""

from __future__ import annotations

import functools
import os

MOUNTINFO = "/proc/self/mountinfo"
IN_MEMORY = frozenset({"tmpfs", "ramfs"})


def keeps_files_in_memory(fd: int) -> bool:
    """Blocking: whether the open file ``fd`` lives on a filesystem held in memory."""
    return _type_of_device(os.fstat(fd).st_dev) in IN_MEMORY


@functools.lru_cache(maxsize=64)
def _type_of_device(device: int) -> str:
    """The filesystem type mounted as ``device``, or "" when unknown (cached: mounts of a
    device number do not change type while we run)."""
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    return filesystem_type(text, os.major(device), os.minor(device))


def filesystem_type(mountinfo: str, major: int, minor: int) -> str:
    """The type of the first mount of device ``major:minor`` in a ``mountinfo`` text, or "".

    A line reads ``ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE
    SUPER_OPTIONS``; the tags vary in number, so the type is the field after the lone ``-``.
    """
    wanted = f"{major}:{minor}"
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] != wanted or "-" not in fields[6:]:
            continue
        after = fields.index("-", 6) + 1
        if after < len(fields):
            return fields[after]
    return ""
