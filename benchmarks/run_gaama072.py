"""One gaama 0.7.2 transfer, run by the side virtualenv's Python (stdlib + gaama only).

gaama 0.7.2 hard-codes ``https://api.github.com`` and ``https://uploads.github.com`` as
module constants of ``gaama.github``; they are pointed at the local server here, nothing else
is changed. It authenticates with Basic ``username:token``, which the server accepts.
Downloads are written to the current directory (0.7.2 ignores ``path`` for plain assets),
so the harness runs this inside the target folder. Prints ``{"seconds": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gaama.github as gaama_github  # type: ignore[import-not-found]
from gaama import GaAMA  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["download", "publish"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--uploads-url", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--dir", default=".")
    parser.add_argument("files", nargs="*")
    args = parser.parse_intermixed_args()
    gaama_github.API_BASE_URL = args.api_url
    gaama_github.UPLOADS_BASE_URL = args.uploads_url
    owner, name = args.repo.split("/")
    client = GaAMA("bench", args.token, owner, name)
    os.chdir(args.dir)
    start = time.perf_counter()
    if args.command == "download":
        client.download(args.tag, args.dir)
    else:
        # zip_files=False: the default would also upload a zip of everything, doubling bytes.
        client.publish(args.tag, [os.path.basename(f) for f in args.files], zip_files=False)
    print(json.dumps({"seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
