"""The network settings a user's environment gives: proxies and the CA bundle (pure).

Corporate networks reach GitHub through a forward proxy and re-sign TLS with their own CA;
every peer (gh, curl, requests, huggingface_hub) reads the same variables, so we do too, with
requests' and curl's rules:

* ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for http URLs, ``ALL_PROXY`` for either;
  the lowercase spelling wins over the uppercase one; a proxy without a scheme is
  ``http://``; ``user:password@`` in it becomes ``Proxy-Authorization``.
* ``NO_PROXY``: comma- or space-separated; ``*`` bypasses every host; ``example.com`` and
  ``.example.com`` match the host and its subdomains; ``HOST:PORT`` only that port; an IP
  network such as ``10.0.0.0/8`` or ``127.0.0.0/8`` every address in it (requests does, and
  curl since 7.86); ``[::1]`` an IPv6 address. Matching is on the URL's host as written, no
  DNS lookup.
* The CA bundle: every file named by ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and
  ``SSL_CERT_FILE`` (PEM certificates; together they replace the system's store), and
  ``SSL_CERT_DIR`` (a folder). All of them, not the first: machines often set one to the
  system bundle and another to the corporate CA, and each peer reads a different one.

aiohttp's own ``trust_env=True`` is not used: it has no CIDR ``NO_PROXY`` and it also sends
``~/.netrc`` credentials to any host, storage included, where our token rule says nothing
but the API and uploads hosts get credentials.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from yarl import URL

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True, slots=True)
class Proxy:
    """Where to send a request instead, and the credentials the proxy wants (if any)."""

    url: str
    login: str | None = None
    password: str | None = None


def _variable(env: Mapping[str, str], name: str) -> str:
    """``name`` in lowercase, else uppercase (requests' and curl's order), stripped."""
    return (env.get(name.lower()) or env.get(name.upper()) or "").strip()


def proxy_for(url: str | URL, env: Mapping[str, str]) -> Proxy | None:
    """The proxy for ``url`` under ``env``, or None to connect directly."""
    target = URL(url)
    scheme = target.scheme
    if scheme not in ("http", "https") or not target.host:
        return None
    configured = _variable(env, f"{scheme}_proxy") or _variable(env, "all_proxy")
    if not configured or bypassed(target.host, target.port, _variable(env, "no_proxy")):
        return None
    return parse_proxy(configured)


def parse_proxy(value: str) -> Proxy:
    """``proxy:3128``, ``http://proxy:3128`` or ``http://user:secret@proxy:3128``."""
    parsed = URL(value if "://" in value else f"http://{value}")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"proxy {value!r} is not an http:// URL such as http://proxy:3128")
    login = unquote(parsed.raw_user) if parsed.raw_user else None
    password = unquote(parsed.raw_password) if parsed.raw_password else None
    return Proxy(str(parsed.with_user(None).with_path("")), login, password)


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY``'s value sends ``host`` (on ``port``) past the proxy."""
    host = host.strip("[]").lower().rstrip(".")
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if entry and _matches(host, port, entry):
            return True
    return False


def _matches(host: str, port: int | None, entry: str) -> bool:
    if entry == "*":
        return True
    name, wanted_port = _split_port(entry)
    if wanted_port is not None and wanted_port != port:
        return False
    network = _network(name)
    if network is not None:
        address = _address(host)
        return address is not None and address.version == network.version and address in network
    name = name.lstrip("*").lstrip(".").rstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` or ``[v6]:port`` → (host, port); a bare IPv6 address has no port."""
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return address, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _network(name: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(name, strict=False)
    except ValueError:
        return None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TrustStore:
    """The CA certificates to verify TLS with: bundle files, each with the variable that
    named it (for error messages), and/or a folder; none at all means the system's store."""

    cafiles: tuple[tuple[str, str], ...] = ()
    capath: str | None = None

    @property
    def default(self) -> bool:
        return not self.cafiles and self.capath is None

    def names_only(self, cafile: str | None, capath: str | None) -> bool:
        """Whether it names exactly the bundle file ``cafile`` and the folder ``capath`` (or
        no folder where ``capath`` is None): those OpenSSL loads by default, when passed
        from ``ssl.get_default_verify_paths()``. Containers often set ``SSL_CERT_FILE`` and
        friends to the system's own store."""
        return {path for _, path in self.cafiles} == {cafile} and self.capath == capath


def trust_store(env: Mapping[str, str]) -> TrustStore:
    """Every CA bundle the environment names, each file once, in requests' order."""
    cafiles: list[tuple[str, str]] = []
    for name in CA_BUNDLE_VARIABLES:
        path = env.get(name, "").strip()
        if path and path not in (p for _, p in cafiles):
            cafiles.append((name, path))
    return TrustStore(tuple(cafiles), env.get("SSL_CERT_DIR", "").strip() or None)
