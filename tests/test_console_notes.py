"""On a terminal, retries and resumes are printed above the live bars, not wiped by them."""

from __future__ import annotations

import logging
import os
import pty

from gaama_async._console import NOTES_LOGGER, ConsoleProgress
from gaama_async.progress import ProgressEvent


def test_a_note_during_live_bars_stays_on_the_terminal() -> None:
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        progress = ConsoleProgress(terminal)
        assert progress.live
        progress(ProgressEvent("start", "download", "model.bin", 1000))
        logging.getLogger(NOTES_LOGGER).warning("resuming 'model.bin' with 1.0 MiB on disk")
        progress(ProgressEvent("advance", "download", "model.bin", 1000, 1000))
        progress(ProgressEvent("done", "download", "model.bin", 1000))
        progress.finish(summary=True)
        shown = b""
        while b"downloaded 1 file" not in shown:
            shown += os.read(leader, 65536)
    os.close(leader)
    assert b"gaama: resuming 'model.bin' with 1.0 MiB on disk" in shown
    assert not logging.getLogger(NOTES_LOGGER).handlers  # the bars gave the notes back
