"""The proxy and CA-bundle rules read from the environment (pure, no network)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from gaama_async._http import ssl_context
from gaama_async._netenv import Proxy, TrustStore, bypassed, proxy_for, trust_store

PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://api.github.com/x", {"HTTPS_PROXY": PROXY}, PROXY),
        ("https://api.github.com/x", {"HTTP_PROXY": PROXY}, None),  # http's proxy only
        ("http://127.0.0.1:8/x", {"HTTP_PROXY": PROXY}, PROXY),
        ("https://api.github.com/x", {"ALL_PROXY": PROXY}, PROXY),
        ("https://api.github.com/x", {"https_proxy": PROXY, "HTTPS_PROXY": "http://b:1"}, PROXY),
        ("https://api.github.com/x", {"HTTPS_PROXY": "proxy.corp:3128"}, PROXY),
        ("https://api.github.com/x", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, None),
        ("https://api.github.com/x", {"HTTPS_PROXY": PROXY, "NO_PROXY": "github.com"}, None),
        ("https://api.github.com/x", {"HTTPS_PROXY": PROXY, "no_proxy": ".github.com"}, None),
        ("https://notgithub.com/x", {"HTTPS_PROXY": PROXY, "NO_PROXY": "github.com"}, PROXY),
        ("http://127.0.0.3:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.0/8"}, None),
        ("http://10.1.2.3:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.0/8"}, PROXY),
        ("http://127.0.0.3:81/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.3:80"}, PROXY),
        ("http://127.0.0.3:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "a, 127.0.0.3:80"}, None),
        ("http://[::1]:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "::1"}, None),
        ("http://[::1]:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "[::1]:80"}, None),
        ("http://[::1]:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "::/0"}, None),
        ("http://[::1]:80/x", {"HTTP_PROXY": PROXY, "NO_PROXY": "0.0.0.0/0"}, PROXY),
    ],
)
def test_which_proxy_a_url_takes(url: str, env: dict[str, str], expected: str | None) -> None:
    found = proxy_for(url, env)
    assert (found.url if found else None) == expected


def test_proxy_credentials_become_proxy_authorization() -> None:
    found = proxy_for("https://x.org/", {"HTTPS_PROXY": "http://me:p%40ss@proxy:8080"})
    assert found == Proxy("http://proxy:8080", "me", "p@ss")


def test_a_proxy_that_is_not_http_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an http:// URL"):
        proxy_for("https://x.org/", {"HTTPS_PROXY": "socks5://proxy:1080"})


def test_no_proxy_ignores_blank_entries_and_case() -> None:
    assert bypassed("API.GitHub.com", 443, " , GITHUB.COM ,")
    assert not bypassed("github.community", 443, "github.com")


def test_every_ca_bundle_variable_counts_in_requests_order(tmp_path: Path) -> None:
    env = {"SSL_CERT_FILE": "/c", "CURL_CA_BUNDLE": "/a", "REQUESTS_CA_BUNDLE": "/a"}
    both = (("REQUESTS_CA_BUNDLE", "/a"), ("SSL_CERT_FILE", "/c"))  # each file once
    assert trust_store(env) == TrustStore(both)
    assert trust_store({"SSL_CERT_FILE": "/c", "SSL_CERT_DIR": "/d"}).capath == "/d"
    assert trust_store({}) == TrustStore()
    assert ssl_context(TrustStore()) is True


def test_a_missing_ca_bundle_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"REQUESTS_CA_BUNDLE names .*nope\.pem"):
        ssl_context(trust_store({"REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")}))


def test_a_store_naming_just_the_system_default_is_the_default(tmp_path: Path) -> None:
    """Containers set SSL_CERT_FILE and friends to the system's own bundle: aiohttp's
    default context (built at import) then trusts the same, and is not built again."""
    defaults = ssl.get_default_verify_paths()
    if defaults.cafile is None:
        pytest.skip("this system has no default CA bundle file")
    env = {"SSL_CERT_FILE": defaults.cafile, "CURL_CA_BUNDLE": defaults.cafile}
    if defaults.capath is not None:
        env["SSL_CERT_DIR"] = defaults.capath
    assert trust_store(env).names_only(defaults.cafile, defaults.capath)
    assert ssl_context(trust_store(env)) is True
    # Anything more or less is a store of its own.
    extra = tmp_path / "corporate.pem"
    extra.write_text(Path(defaults.cafile).read_text())
    assert isinstance(
        ssl_context(trust_store({**env, "REQUESTS_CA_BUNDLE": str(extra)})), ssl.SSLContext
    )
    assert not TrustStore((("SSL_CERT_FILE", "/a"),), None).names_only("/a", "/certs")
    assert not TrustStore((("SSL_CERT_FILE", "/a"),), "/d").names_only("/a", "/certs")
    assert TrustStore((("SSL_CERT_FILE", "/a"),), "/certs").names_only("/a", "/certs")
