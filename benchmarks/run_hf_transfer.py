"""One hf_transfer download (the Rust downloader huggingface_hub uses), in its own process.

``python -m benchmarks.run_hf_transfer URL FILE``: 16 parallel ranges of 16 MiB, no retries
(a failure is a result). TLS trusts ``SSL_CERT_FILE``, which the harness sets for HTTPS.
"""

from __future__ import annotations

import sys

import hf_transfer

MIB = 1024 * 1024


def main() -> None:
    url, filename = sys.argv[1], sys.argv[2]
    hf_transfer.download(url=url, filename=filename, max_files=16, chunk_size=16 * MIB)


if __name__ == "__main__":
    main()
