"""Block digests: the publisher's hasher, the downloader's checker, the manifest's rules and
the range arithmetic around them. Pure: no server, no disk."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from gaama_async._blocks import (
    BLOCK_SIZE,
    MAX_BLOCKS,
    BlockChecker,
    BlockDigests,
    BlockError,
    BlockHasher,
    block_size_for,
)
from gaama_async._ranges import aligned_part_size, plan_segments, range_size, rewind
from gaama_async.manifest import Manifest, ManifestEntry, ManifestError, ManifestPart

MIB = 1024 * 1024


def digests(data: bytes, size: int) -> BlockDigests:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return BlockDigests(size, tuple(hashlib.sha256(c).hexdigest() for c in chunks))


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def test_block_size_grows_to_keep_at_most_max_blocks() -> None:
    assert block_size_for(BLOCK_SIZE) is None  # one block: the whole sha256 says it all
    assert block_size_for(BLOCK_SIZE + 1) == BLOCK_SIZE
    assert block_size_for(MAX_BLOCKS * BLOCK_SIZE) == BLOCK_SIZE
    assert block_size_for(MAX_BLOCKS * BLOCK_SIZE + 1) == 2 * BLOCK_SIZE
    assert block_size_for(2 * 1024**3 - 1) == BLOCK_SIZE  # any asset GitHub takes
    assert block_size_for(2 * 1024**3 + 1) == 2 * BLOCK_SIZE


@pytest.mark.parametrize("feed", [1, 1000, 65536, 300_000])
def test_hasher_gives_the_whole_digest_and_each_block_whatever_the_feed(feed: int) -> None:
    data = payload(5 * 65536 + 123)
    hasher = BlockHasher(65536)
    for start in range(0, len(data), feed):
        hasher.update(memoryview(data)[start : start + feed])
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert hasher.blocks() == digests(data, 65536)


def test_hasher_without_block_size_has_no_blocks() -> None:
    hasher = BlockHasher(None)
    hasher.update(b"abc")
    assert hasher.blocks() is None and hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_checker_reports_each_completed_block_and_which_hashed_wrong() -> None:
    data = bytearray(payload(4 * 65536 + 10))
    blocks = digests(bytes(data), 65536)
    data[2 * 65536 + 5] ^= 0xFF  # block 2 goes bad
    checker = BlockChecker(blocks, len(data), 0)
    results = []
    for start in range(0, len(data), 50_000):
        results += checker.update(data[start : start + 50_000])
    assert results == [(0, True), (1, True), (2, False), (3, True), (4, True)]


def test_checker_starting_inside_a_block_wants_its_head_first() -> None:
    data = payload(3 * 65536)
    checker = BlockChecker(digests(data, 65536), len(data), 65536 + 100)
    assert checker.head == (65536, 65536 + 100)
    assert checker.update(data[65536 : 65536 + 100]) == []  # the head, from disk
    assert checker.update(data[65536 + 100 :]) == [(1, True), (2, True)]


def test_checker_leaves_a_block_it_ends_inside_unreported() -> None:
    data = payload(2 * 65536)
    checker = BlockChecker(digests(data, 65536), len(data), 0)
    assert checker.update(data[: 65536 + 10]) == [(0, True)]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"size": 65536},
        {"size": 1000, "sha256": ["0" * 64]},  # smaller than a block may be
        {"size": 65536, "sha256": ["0" * 64]},  # two blocks needed
        {"size": 65536, "sha256": ["0" * 64, "x" * 64]},
    ],
)
def test_untrusted_blocks_that_cannot_describe_the_asset_are_refused(raw: object) -> None:
    with pytest.raises(BlockError):
        BlockDigests.from_json(raw, 65536 + 1)


def test_manifest_carries_blocks_of_whole_files_and_of_parts() -> None:
    data = payload(3 * 65536)
    blocks = digests(data, 65536)
    sha = hashlib.sha256(data).hexdigest()
    whole = ManifestEntry("w.bin", "w.bin", len(data), sha, blocks=blocks)
    parts = (
        ManifestPart("s.part001", 0, 2 * 65536, "a" * 64, digests(data[: 2 * 65536], 65536)),
        ManifestPart("s.part002", 2 * 65536, 65536, "b" * 64),
    )
    split = ManifestEntry("s.bin", None, len(data), sha, parts)
    parsed = Manifest.from_bytes(Manifest((whole, split)).to_bytes())
    assert parsed.by_name()["w.bin"].piece_blocks == (blocks,)
    assert parsed.by_name()["s.bin"].piece_blocks == (parts[0].blocks, None)


def test_a_manifest_without_blocks_still_reads() -> None:
    raw = b'{"format": 1, "files": [{"name": "a", "asset": "a", "size": 3, "sha256": "%s"}]}'
    [entry] = Manifest.from_bytes(raw.replace(b"%s", b"0" * 64)).files
    assert entry.blocks is None and entry.piece_blocks == (None,)


def test_a_manifest_with_bad_blocks_is_refused() -> None:
    entry = {"name": "a", "asset": "a", "size": 70000, "sha256": "0" * 64,
             "blocks": {"size": 65536, "sha256": ["0" * 64]}}  # fmt: skip
    with pytest.raises(ManifestError, match="blocks of 'a'"):
        Manifest.from_bytes(json.dumps({"format": 1, "files": [entry]}).encode())


def test_ranges_align_to_the_largest_block() -> None:
    assert aligned_part_size(8 * MIB, []) == 8 * MIB
    assert aligned_part_size(8 * MIB, [8 * MIB]) == 8 * MIB
    assert aligned_part_size(1 * MIB, [8 * MIB]) == 1 * MIB  # as asked: checked afterwards
    assert aligned_part_size(20 * MIB, [8 * MIB]) == 16 * MIB
    assert aligned_part_size(16 * MIB, [8 * MIB, 16 * MIB]) == 16 * MIB
    assert aligned_part_size(8 * MIB, [8 * MIB, 16 * MIB]) == 8 * MIB  # checked afterwards


def test_rewind_keeps_only_what_lies_before_the_bad_block() -> None:
    segments = plan_segments([100, 50], 30)  # piece 0: 0-30-60-90-100; piece 1: 0-30-50
    done = [s.length for s in segments]
    undone = rewind(segments, done, 0, 40, 70)
    assert done == [30, 10, 0, 10, 30, 20]  # 30-60 keeps 10, 60-90 nothing, 90-100 kept
    assert undone == 20 + 30
    assert rewind(segments, done, 1, 0, 20) == 30  # the other piece's first segment


def test_rewind_leaves_segments_that_never_reached_the_block() -> None:
    segments = plan_segments([100], 50)
    done = [10, 0]
    assert rewind(segments, done, 0, 20, 40) == 0 and done == [10, 0]


def test_a_block_checked_file_gets_about_two_ranges_per_connection_in_whole_blocks() -> None:
    assert range_size(8 * MIB, 1024 * MIB, 16, [8 * MIB]) == 32 * MIB
    assert range_size(8 * MIB, 1000 * MIB, 16, [8 * MIB]) == 32 * MIB  # 31.25 up to a block
    assert range_size(8 * MIB, 4096 * MIB, 16, [16 * MIB]) == 64 * MIB  # capped
    assert range_size(8 * MIB, 1024 * MIB, 16, []) == 8 * MIB  # checked whole: as asked
    assert range_size(8 * MIB, 64 * MIB, 16, [8 * MIB]) == 8 * MIB  # short file: as asked
    assert range_size(1 * MIB, 16 * MIB, 16, [8 * MIB]) == 1 * MIB  # under a block: as asked
    assert range_size(20 * MIB, 64 * MIB, 16, [8 * MIB]) == 16 * MIB  # aligned as before
