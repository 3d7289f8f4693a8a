"""TLS for ``gaama serve --tls``: a local certificate authority, kept with the server's state.

GitHub is only ever reached over HTTPS, and real clients (gh, PyGithub, go-github) verify
certificates, so an offline stand-in must present one they can be told to trust without
turning verification off. trustme makes the CA and the leaf certificate; the CA is written
once under ``ROOT/tls`` and reused on every restart, so an ``SSL_CERT_FILE`` exported once
stays valid. A leaf is issued afresh at each start for the names this run serves.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILE = "ca.pem"
_CA_KEY_FILE = "ca-key.pem"
# Names every certificate covers, besides the bound host and any public host.
ALWAYS_COVERED = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServerTLS:
    """The server side's SSL context and the CA file clients should trust (None when the
    certificate came from ``--cert``/``--key``: its issuer is the user's business)."""

    context: ssl.SSLContext
    ca_file: Path | None


def certificate_names(hosts: Iterable[str]) -> list[str]:
    """The identities a leaf certificate lists: ``hosts`` then the always-covered names,
    without duplicates, empties or the wildcard bind addresses no client dials."""
    names: list[str] = []
    for host in [*hosts, *ALWAYS_COVERED]:
        bare = host.strip("[]")
        if bare and bare not in ("0.0.0.0", "::") and bare not in names:
            names.append(bare)
    return names


def generated_tls(state_dir: Path, hosts: Iterable[str]) -> ServerTLS:
    """A context serving a fresh leaf for ``hosts``, signed by the CA kept in ``state_dir``."""
    ca = _local_ca(state_dir)
    leaf = ca.issue_cert(*certificate_names(hosts), common_name="gaama release server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return ServerTLS(context, state_dir / CA_FILE)


def given_tls(cert: Path, key: Path) -> ServerTLS:
    """A context serving the user's own certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return ServerTLS(context, None)


def _local_ca(state_dir: Path) -> trustme.CA:
    """The CA in ``state_dir``, created on first use; its key is readable by the owner only."""
    cert_path, key_path = state_dir / CA_FILE, state_dir / _CA_KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="gaama local release server")
    _write_private(key_path, ca.private_key_pem.bytes())
    _write_private(cert_path, ca.cert_pem.bytes())
    return ca


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
