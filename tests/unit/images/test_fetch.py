"""The SSRF boundary, proven against real loopback servers."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.support.background import BackgroundApp
from tests.unit.images.helpers import make_settings
from tests.unit.images.servers import BOMB_ENCODINGS, HITS, PNG, image_host
from visiongate.errors import ImageError
from visiongate.images.fetch import (
    AddressPolicy,
    BlockedAddress,
    GuardedResolver,
    ImageFetcher,
    is_public_address,
    numeric_ipv4,
    parse_http_url,
)

pytestmark = pytest.mark.timeout(60)
PARAM = "messages[0].content[1].image_url.url"


@pytest.fixture(scope="module")
def host() -> Iterator[BackgroundApp]:
    with BackgroundApp(image_host(), host="127.0.0.1") as srv:
        yield srv


@pytest.fixture(scope="module")
def host2() -> Iterator[BackgroundApp]:
    """A second host on 127.0.0.2 (Linux routes all of 127/8 to lo)."""
    with BackgroundApp(image_host(), host="127.0.0.2") as srv:
        yield srv


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def host6() -> Iterator[BackgroundApp]:
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    with BackgroundApp(image_host(), host="::1") as srv:
        yield srv


async def fetch(url: str, resolver: AbstractResolver | None = None, **settings: object) -> bytes:
    fetcher = ImageFetcher(make_settings(**settings), resolver=resolver)
    try:
        return await fetcher.fetch(url, PARAM)
    finally:
        await fetcher.close()


async def refused(
    url: str, resolver: AbstractResolver | None = None, **settings: object
) -> ImageError:
    with pytest.raises(ImageError) as info:
        await fetch(url, resolver, **settings)
    assert info.value.param == PARAM
    return info.value


# ---------------------------------------------------------------- the address rule


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1",
        "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
        "2002:7f00:1::", "64:ff9b::a9fe:a9fe", "2001:db8::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]
)
def test_public_addresses_are_admitted(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_the_allowlist_admits_hosts_and_networks() -> None:
    policy = AddressPolicy(allowlist=["images.internal", "*.corp.example", "10.1.0.0/16", "::1"])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.admits("images.internal", loopback)
    assert policy.admits("IMAGES.INTERNAL.", loopback)
    assert policy.admits("cdn.corp.example", loopback)
    assert not policy.admits("corp.example.evil", loopback)
    assert not policy.admits("other.internal", loopback)
    assert policy.admits("x", ipaddress.ip_address("10.1.200.3"))
    assert policy.admits("x", ipaddress.ip_address("::ffff:10.1.200.3"))
    assert not policy.admits("x", ipaddress.ip_address("10.2.0.1"))
    assert policy.admits("x", ipaddress.ip_address("::1"))
    assert AddressPolicy(allow_private=True).admits("x", loopback)


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com/_x",
        "/etc/passwd",
        "images/cat.png",
        "javascript:alert(1)",
        "http://",
        "http:///a.png",
        "http://exa mple.com/a.png",
        "http://[::1/a.png",
    ],
)
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(ImageError) as info:
        parse_http_url(url, PARAM)
    assert (info.value.code, info.value.param) == ("invalid_image_url", PARAM)


# ---------------------------------------------------------------- literals, real sockets


async def test_a_public_looking_fetch_works_when_private_hosts_are_allowed(
    host: BackgroundApp,
) -> None:
    assert await fetch(f"{host.url}/img.png", allow_private_image_hosts=True) == PNG


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/img.png",
        "http://0.0.0.0:{port}/img.png",  # Linux connects 0.0.0.0 to the local host
        "http://[::ffff:127.0.0.1]:{port}/img.png",
        "http://[::ffff:7f00:1]:{port}/img.png",
    ],
)
async def test_loopback_literals_are_blocked_though_a_server_listens(
    host: BackgroundApp, template: str
) -> None:
    before = host.app[HITS]["/img.png"]
    error = await refused(template.format(port=host.port))
    assert error.code == "image_url_blocked"
    assert host.app[HITS]["/img.png"] == before  # never connected


async def test_ipv6_loopback_literal_is_blocked(host6: BackgroundApp) -> None:
    assert await fetch(f"{host6.url}/img.png", allow_private_image_hosts=True) == PNG
    error = await refused(f"{host6.url}/img.png")
    assert error.code == "image_url_blocked"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/a.png",
        "http://[fe80::1]/a.png",
        "http://[fd00::1]/a.png",
        "http://100.64.0.1/a.png",
    ],
)
async def test_private_link_local_and_multicast_literals_are_blocked(url: str) -> None:
    error = await refused(url, image_fetch_timeout=2.0)
    assert error.code == "image_url_blocked"


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/a.png",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/a.png",  # hex
        "http://0x7F.1/a.png",
        "http://017700000001/a.png",  # octal
        "http://0177.0.0.1/a.png",
        "http://127.1/a.png",  # short dotted
        "http://127.0.1/a.png",
        "http://127.0.0.1./a.png",  # a trailing dot
        "http://0/a.png",  # 0.0.0.0
        "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",  # 169.254.169.254
        "http://10.1/a.png",
    ],
)
async def test_numeric_host_forms_are_the_addresses_they_stand_for(url: str) -> None:
    error = await refused(url, image_fetch_timeout=2.0)
    assert error.code == "image_url_blocked", error.message


@pytest.mark.parametrize("url", ["http://4294967296/a.png", "http://256.1.1.1/a.png"])
async def test_numeric_hosts_out_of_range_are_invalid(url: str) -> None:
    error = await refused(url)
    assert error.code == "invalid_image_url"


def test_numeric_forms_parse_as_inet_aton_does() -> None:
    for host in ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "1.2.3", "0x01020304", "8"]:
        assert numeric_ipv4(host) == ipaddress.IPv4Address(socket.inet_aton(host)), host
    assert numeric_ipv4("example.com") is None
    assert numeric_ipv4("1.2.3.4.5") is None
    assert numeric_ipv4("1e3") is None
    assert numeric_ipv4("08.1") is None  # not octal: a name, as the resolver says too


# ---------------------------------------------------------------- names, resolved


async def test_a_name_resolving_to_loopback_is_blocked(host: BackgroundApp) -> None:
    error = await refused(f"http://localhost:{host.port}/img.png")
    assert error.code == "image_url_blocked"
    assert "resolves" in error.message


async def test_hex_ipv4_names_resolve_and_are_blocked(host: BackgroundApp) -> None:
    error = await refused(f"http://0x7f.1:{host.port}/img.png")
    assert error.code == "image_url_blocked"


async def test_allowlist_by_host_name(host: BackgroundApp) -> None:
    url = f"http://localhost:{host.port}/img.png"
    assert await fetch(url, image_host_allowlist=["localhost"]) == PNG
    error = await refused(url, image_host_allowlist=["otherhost"])
    assert error.code == "image_url_blocked"


async def test_allowlist_by_cidr(host: BackgroundApp) -> None:
    assert await fetch(f"{host.url}/img.png", image_host_allowlist=["127.0.0.0/8"]) == PNG
    assert await fetch(f"{host.url}/img.png", image_host_allowlist=["127.0.0.1"]) == PNG
    error = await refused(f"{host.url}/img.png", image_host_allowlist=["10.0.0.0/8"])
    assert error.code == "image_url_blocked"


class FixedResolver(AbstractResolver):
    """Answers every name with fixed addresses, like a DNS server under test control."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_the_resolver_drops_refused_addresses_and_keeps_the_rest() -> None:
    guarded = GuardedResolver(AddressPolicy(), FixedResolver("10.0.0.5", "8.8.8.8", "::1"))
    results = await guarded.resolve("mixed.example", 443)
    assert [r["host"] for r in results] == ["8.8.8.8"]
    with pytest.raises(BlockedAddress):
        await GuardedResolver(AddressPolicy(), FixedResolver("127.0.0.1")).resolve("x", 80)


async def test_connections_go_only_to_the_checked_addresses(host: BackgroundApp) -> None:
    # "rebind.test" answers with a blocked and an admitted address; the fetch succeeds,
    # so aiohttp connected to the address the guard returned, not to a fresh lookup.
    resolver = FixedResolver("10.9.9.9", "127.0.0.1")
    url = f"http://rebind.test:{host.port}/img.png"
    assert await fetch(url, resolver, image_host_allowlist=["127.0.0.1/32"]) == PNG
    assert resolver.calls == 1
    error = await refused(url, FixedResolver("10.9.9.9", "127.0.0.1"))
    assert error.code == "image_url_blocked"


# ---------------------------------------------------------------- redirects


async def test_a_redirect_to_a_blocked_host_is_refused(
    host: BackgroundApp, host2: BackgroundApp
) -> None:
    target = f"http://127.0.0.1:{host.port}/img.png"
    url = f"{host2.url}/redirect?to={target}"
    before = host.app[HITS]["/img.png"]
    error = await refused(url, image_host_allowlist=["127.0.0.2"])
    assert error.code == "image_url_blocked"
    assert host.app[HITS]["/img.png"] == before
    # The same chain is fine once both hosts are allowed: the refusal was the hop's.
    assert await fetch(url, image_host_allowlist=["127.0.0.2", "127.0.0.1"]) == PNG


async def test_a_redirect_to_a_name_that_resolves_privately_is_refused(
    host: BackgroundApp, host2: BackgroundApp
) -> None:
    url = f"{host2.url}/redirect?to=http://localhost:{host.port}/img.png&status=307"
    error = await refused(url, image_host_allowlist=["127.0.0.2"])
    assert error.code == "image_url_blocked"


async def test_a_redirect_to_another_scheme_is_refused(host2: BackgroundApp) -> None:
    error = await refused(
        f"{host2.url}/redirect?to=file:///etc/passwd", image_host_allowlist=["127.0.0.2"]
    )
    assert error.code == "image_fetch_failed"


async def test_redirects_are_followed_up_to_the_limit(host: BackgroundApp) -> None:
    ok = {"allow_private_image_hosts": True, "max_image_redirects": 3}
    assert await fetch(f"{host.url}/hop/2", **ok) == PNG  # 3 redirects
    error = await refused(f"{host.url}/hop/3", **ok)  # 4 redirects
    assert error.code == "image_fetch_failed"
    assert "redirects more than 3" in error.message


async def test_a_redirect_loop_is_refused(host: BackgroundApp) -> None:
    error = await refused(f"{host.url}/loop", allow_private_image_hosts=True)
    assert error.code == "image_fetch_failed"
    assert "loop" in error.message


# ---------------------------------------------------------------- caps and failures


async def test_the_byte_cap_is_enforced_while_streaming(host: BackgroundApp) -> None:
    error = await refused(
        f"{host.url}/endless", allow_private_image_hosts=True, max_image_bytes=1_000_000
    )
    assert error.code == "image_too_large"


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    host: BackgroundApp,
) -> None:
    error = await refused(
        f"{host.url}/huge-declared", allow_private_image_hosts=True, max_image_bytes=100_000
    )
    assert error.code == "image_too_large"


async def test_a_gzip_bomb_is_refused_without_decoding_it_all(host: BackgroundApp) -> None:
    error = await refused(
        f"{host.url}/bomb", allow_private_image_hosts=True, max_image_bytes=1_000_000
    )
    assert error.code == "image_too_large"
    assert host.app[BOMB_ENCODINGS][-1] == "identity"  # gzip was not even asked for


@pytest.mark.parametrize("path", ["/slow", "/stall"])
async def test_a_slow_server_times_out(host: BackgroundApp, path: str) -> None:
    error = await refused(
        f"{host.url}{path}", allow_private_image_hosts=True, image_fetch_timeout=0.3
    )
    assert error.code == "image_fetch_failed"
    assert "within 0.3 s" in error.message


async def test_a_non_2xx_answer_is_a_fetch_failure(host: BackgroundApp) -> None:
    error = await refused(f"{host.url}/status/404", allow_private_image_hosts=True)
    assert error.code == "image_fetch_failed"
    assert "HTTP 404" in error.message


async def test_a_closed_port_is_a_fetch_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await refused(f"http://127.0.0.1:{port}/a.png", allow_private_image_hosts=True)
    assert error.code == "image_fetch_failed"
