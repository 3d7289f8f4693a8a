"""The harness's handle on the server process: start, profiles, counters, stop."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

MIB = 1024 * 1024

# The "CDN-like" profile: 20 ms on every API and storage answer, 20 MiB/s per
# storage connection. "loopback" adds nothing; "https" is loopback on a TLS server (its own
# process: TLS is not switched at run time), as github.com is HTTPS end to end.
PROFILES: dict[str, dict[str, float | None]] = {
    "loopback": {"latency": 0.0, "bandwidth": None},
    "cdn": {"latency": 0.02, "bandwidth": 20.0 * MIB},
    "https": {"latency": 0.0, "bandwidth": None},
}


@dataclass(frozen=True)
class Urls:
    """Where the server listens; ``control`` is the benchmark's own origin."""

    api: str
    uploads: str
    storage: str
    control: str
    ca_file: str = ""  # the CA that signed a TLS server's certificate


class BenchServer:
    """The release server in a child process (``benchmarks.server_main``)."""

    def __init__(
        self, root: Path, token: str, *, max_asset_size: int | None = None, tls: bool = False
    ) -> None:
        self.root = root
        self.tls = tls
        self.token = token
        self.max_asset_size = max_asset_size
        self._proc: subprocess.Popen[str] | None = None
        self.urls = Urls("", "", "", "", "")

    def start(self) -> None:
        """Spawn the server and wait for the line that carries its URLs."""
        cmd = [sys.executable, "-m", "benchmarks.server_main"]
        cmd += ["--root", str(self.root), "--token", self.token]
        if self.max_asset_size is not None:
            cmd += ["--max-asset-size", str(self.max_asset_size)]
        if self.tls:
            cmd.append("--tls")
        repo_root = Path(__file__).resolve().parent.parent
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=repo_root)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server exited before printing its URLs")
        self.urls = Urls(**json.loads(line))

    def stop(self) -> None:
        """SIGTERM, then wait; state stays under ``root``."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
            self._proc = None

    def _control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        method = "GET" if body is None and path == "/counters" else "POST"
        request = urllib.request.Request(self.urls.control + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def set_profile(self, name: str) -> None:
        """Apply a network profile to every later request."""
        self._control("/config", dict(PROFILES[name]))

    def reset_counters(self) -> None:
        """Zero the server's request and byte counters."""
        self._control("/reset", {})

    def counters(self) -> dict[str, Any]:
        """Requests, storage requests, bytes sent and received since the last reset."""
        return self._control("/counters")

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
