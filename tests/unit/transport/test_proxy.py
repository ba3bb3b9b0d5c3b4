"""Provider calls through an HTTP proxy: absolute form for http, a CONNECT tunnel for
https (TLS to the target inside it), proxy credentials from the URL and never shown; and
which proxy the environment picks (HTTPS_PROXY / HTTP_PROXY / NO_PROXY)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.support.proxy import TestProxy
from tests.unit.transport.test_client import certificate, echo, serving
from visiongate.core.catalog import load_catalog
from visiongate.core.proxies import bypassed, proxy_for
from visiongate.transport import HttpClient, TransportError
from visiongate.transport.proxy import Proxy

pytestmark = pytest.mark.timeout(30)
__all__ = ["certificate"]  # the fixture, shared with test_client


async def test_http_goes_in_absolute_form_with_the_proxy_credentials() -> None:
    with TestProxy(credentials=("alice", "s3cr%t")) as proxy:
        async with serving(echo) as (server, url):
            http = HttpClient(connect_timeout=2, read_timeout=5, proxy=proxy.url_with_credentials())
            response = await http.post(url, b'{"a":1}', {"authorization": "Bearer k"})
            assert await response.read() == b'{"a":1}'
            await http.close()
    assert [(s.method, s.target) for s in proxy.seen] == [("POST", url)]
    assert proxy.seen[0].authorization == "Basic YWxpY2U6czNjciV0"
    # The target got an origin-form request without the proxy's credentials.
    assert server.requests[0].startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert b"proxy-authorization" not in server.requests[0].lower()


async def test_https_goes_through_a_connect_tunnel_with_tls_to_the_target(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    with TestProxy() as proxy:
        async with serving(echo, tls=served) as (server, url):
            http = HttpClient(
                connect_timeout=2,
                read_timeout=5,
                ssl_context=ssl.create_default_context(cafile=str(cert)),
                proxy=proxy.url,
            )
            for _ in range(2):  # the tunnel is kept alive and reused like any connection
                assert await (await http.post(url, b"secret", {})).read() == b"secret"
            await http.close()
    port = url.split(":")[2].split("/")[0]
    assert [(s.method, s.target) for s in proxy.seen] == [("CONNECT", f"127.0.0.1:{port}")]
    assert server.connections == 1


async def test_a_proxy_that_wants_credentials_is_a_clear_error_without_them() -> None:
    with TestProxy(credentials=("alice", "pw")) as proxy:
        async with serving(echo) as (_, url):
            tunnel_url = url.replace("http://", "https://")
            wrong = f"http://alice:wrong-password@127.0.0.1:{proxy.port}"
            http = HttpClient(connect_timeout=2, read_timeout=5, proxy=wrong)
            with pytest.raises(TransportError) as info:
                await http.post(tunnel_url, b"{}", {})
            assert "asks for credentials" in str(info.value)
            assert "wrong-password" not in str(info.value)
            await http.close()


def test_proxy_urls_are_parsed_and_never_shown_with_credentials() -> None:
    proxy = Proxy.parse("http://bob:pa%3Ass@proxy.corp:3128")
    assert (proxy.host, proxy.port) == ("proxy.corp", 3128)
    assert "pa" not in repr(proxy) and str(proxy) == "http://proxy.corp:3128"
    assert Proxy.parse("proxy.corp:8080").port == 8080
    with pytest.raises(ValueError, match="http://host:port") as info:
        Proxy.parse("socks5://bob:secret@proxy.corp:1080")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("https://api.openai.com/v1", {"HTTPS_PROXY": "http://p:1"}, "http://p:1"),
        ("https://api.openai.com/v1", {"https_proxy": "http://p:1"}, "http://p:1"),
        ("https://api.openai.com/v1", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://vllm.local:8000/v1", {"HTTP_PROXY": "http://p:1"}, "http://p:1"),
        ("http://vllm.local:8000/v1", {"ALL_PROXY": "http://p:2"}, "http://p:2"),
        ("https://api.openai.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ("https://api.openai.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "openai.com"}, None),
        ("https://api.openai.com", {"HTTPS_PROXY": "http://p:1", "no_proxy": ".openai.com"}, None),
        ("https://api.openai.com", {"HTTPS_PROXY": "x", "NO_PROXY": "notopenai.com"}, "x"),
        ("http://10.1.2.3:8000", {"HTTP_PROXY": "x", "NO_PROXY": "10.0.0.0/8"}, None),
        ("http://10.1.2.3:8000", {"HTTP_PROXY": "x", "NO_PROXY": "10.1.2.3:9000"}, "x"),
        ("http://10.1.2.3:8000", {"HTTP_PROXY": "x", "NO_PROXY": "10.1.2.3:8000"}, None),
        ("http://[::1]:8000", {"HTTP_PROXY": "x", "NO_PROXY": "::1"}, None),
    ],
)
def test_the_environment_picks_the_proxy_as_the_sdks_do(
    url: str, environ: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(url, environ) == expected


def test_bypass_matches_names_not_substrings() -> None:
    assert bypassed("a.b.example.com", 443, "example.com")
    assert not bypassed("badexample.com", 443, "example.com")


def test_each_provider_gets_its_proxy_from_the_environment() -> None:
    environ = {
        "OPENAI_API_KEY": "k",
        "HTTPS_PROXY": "http://proxy.corp:3128",
        "NO_PROXY": "generativelanguage.googleapis.com",
    }
    catalog = load_catalog(
        {"providers": {"anthropic": {"proxy": ""}}}, environ={**environ, "GEMINI_API_KEY": "k"}
    )
    assert catalog.providers["openai"].proxy == "http://proxy.corp:3128"
    assert catalog.providers["google"].proxy is None  # NO_PROXY
    assert catalog.providers["anthropic"].proxy is None  # turned off in its table
