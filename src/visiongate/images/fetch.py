"""Fetching image URLs: the gateway's SSRF boundary.

Every address the gateway connects to for an image passes :meth:`AddressPolicy.admits`:

* host names are resolved by :class:`GuardedResolver`, which drops every non-public
  address from the system resolver's answer; the HTTP client (``transport/``,
  the same one the provider adapters use) then connects only to one of the addresses
  that were checked, so a DNS answer that changes between a check and the connect (DNS
  rebinding) cannot reach an internal address;
* IP-literal hosts are checked by :class:`ImageFetcher` before every hop;
* redirects are followed by hand (at most ``max_image_redirects``), each new URL checked
  the same way, so a public URL cannot bounce the gateway onto ``169.254.169.254``.

The body is read as it arrives and abandoned as soon as it passes ``max_image_bytes``;
one deadline (``image_fetch_timeout``) covers resolution, every hop and the body.
Connections to an image host are kept alive and reused, like the providers'
(docs/performance.md has what moving off aiohttp saved).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any, Protocol

from yarl import URL

from visiongate.errors import ImageError
from visiongate.settings import Settings
from visiongate.transport import BodyTooLarge, HttpClient, Response, TransportError

__all__ = [
    "AddressPolicy",
    "BlockedAddress",
    "GuardedResolver",
    "ImageFetcher",
    "Resolver",
    "SystemResolver",
    "UnresolvedHost",
    "is_public_address",
    "numeric_ipv4",
    "parse_http_url",
]

ResolveResult = dict[str, Any]  # "host" is the address; aiohttp's resolver result shape


class Resolver(Protocol):
    """A name resolver: the addresses of ``host``, each as ``{"host": address, ...}``."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]: ...

    async def close(self) -> None: ...


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Images are compressed already: asking for gzip would only open the door to a
# decompression bomb (the client also stops decoding at max_image_bytes).
_HEADERS = {
    "user-agent": "visiongate-image-fetcher/1",
    "accept": "image/*",
    "accept-encoding": "identity",
}


class _HostRefused(Exception):
    """Raised from the client's ``resolve`` hook. Deliberately not an OSError, which the
    HTTP client reports as a failed connection: the fetcher maps each kind itself."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class BlockedAddress(_HostRefused):
    """The host resolves only to addresses the policy refuses (or is such a literal)."""


class UnresolvedHost(_HostRefused):
    """The host name has no address."""


class SystemResolver:
    """``getaddrinfo`` in the event loop's executor, addresses in the system's order."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        seen: dict[str, ResolveResult] = {}
        for fam, _, proto, _, sockaddr in infos:
            address = str(sockaddr[0]).partition("%")[0]  # no IPv6 zone: not checkable
            seen.setdefault(
                address, {"hostname": host, "host": address, "port": port, "family": fam,
                          "proto": proto, "flags": 0}
            )  # fmt: skip
        return list(seen.values())

    async def close(self) -> None:
        return None


def is_public_address(ip: IPAddress) -> bool:
    """True for a globally routable unicast address.

    IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo,
    NAT64 ``64:ff9b::/96``) are judged by the IPv4 address they carry.
    """
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public_address(embedded)
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class AddressPolicy:
    """Which (host, address) pairs the fetcher may connect to.

    ``allowlist`` holds host names (exact, or ``*.example.com`` for subdomains) and
    networks in CIDR form (a bare IP is a /32 or /128); these are admitted even though
    private. ``allow_private`` turns the guard off entirely.
    """

    def __init__(self, *, allow_private: bool = False, allowlist: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self._hosts: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in allowlist:
            item = raw.strip().lower()
            if not item:
                continue
            try:
                self._networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                if item.startswith("*."):
                    self._suffixes.append(item[1:].rstrip("."))
                else:
                    self._hosts.add(item.rstrip("."))

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(
            allow_private=settings.allow_private_image_hosts,
            allowlist=settings.image_host_allowlist,
        )

    def admits(self, host: str, ip: IPAddress) -> bool:
        """May the fetcher connect to ``ip``, reached through the name ``host``?"""
        if self.allow_private or self._host_listed(host):
            return True
        embedded = _embedded_ipv4(ip)
        for net in self._networks:
            if ip in net or (embedded is not None and embedded in net):
                return True
        return is_public_address(ip)

    def _host_listed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self._hosts or any(name.endswith(s) for s in self._suffixes)


class GuardedResolver:
    """Resolve with ``inner``, then return only the addresses the policy admits.

    Raises :class:`BlockedAddress` when none is left and :class:`UnresolvedHost` when
    the name has no address.
    """

    def __init__(self, policy: AddressPolicy, inner: Resolver | None = None) -> None:
        self._policy = policy
        self._inner: Resolver = inner if inner is not None else SystemResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        try:
            results = await self._inner.resolve(host, port, family)
        except OSError:
            raise UnresolvedHost(host) from None
        admitted = [r for r in results if self._admits(host, r["host"])]
        if not admitted:
            raise BlockedAddress(host)
        return admitted

    def _admits(self, host: str, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return self._policy.admits(host, ip)

    async def close(self) -> None:
        await self._inner.close()


def parse_http_url(url: str, param: str) -> URL:
    """Parse an http(s) image URL; anything else is ImageError ``invalid_image_url``."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise _bad_url(param, "it is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise _bad_url(param, "only http://, https:// and data:image/... URLs are accepted")
    host = parsed.host or ""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad_url(param, "its IPv6 host is malformed") from None
    elif not _HOST_NAME.fullmatch(host):
        raise _bad_url(param, "it has no valid host name")
    else:
        try:
            numeric = numeric_ipv4(host)
        except ValueError:
            raise _bad_url(param, "its numeric host is not an IPv4 address") from None
        if numeric is not None and str(numeric) != host:
            # "2130706433", "0x7f.1", "0177.0.0.1", "127.1": what resolvers and browsers
            # read as an IPv4 address is checked (and fetched) as that address.
            parsed = parsed.with_host(str(numeric))
    return parsed


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host written as numbers stands for, as ``inet_aton`` and the
    WHATWG URL standard read it: one to four parts, each decimal, octal (a leading ``0``)
    or hex (``0x``), the last filling the bytes left (``127.1`` is 127.0.0.1,
    ``2130706433`` too). None for a host name; ValueError for numbers out of range.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing dot
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host} is out of the IPv4 range")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base, allowed = part[2:], 16, "0123456789abcdefABCDEF"
    elif len(part) > 1 and part[0] == "0":
        digits, base, allowed = part[1:], 8, "01234567"
    else:
        digits, base, allowed = part, 10, "0123456789"
    if not digits:
        return 0 if base == 16 else None  # "0x" alone is 0, as in the URL standard
    if any(c not in allowed for c in digits):
        return None
    return int(digits, base)


class ImageFetcher:
    """Downloads image URLs through the guard, on kept-alive connections."""

    def __init__(
        self,
        settings: Settings,
        policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        """``resolver`` is the name resolver the guard wraps (the system's if None)."""
        self._settings = settings
        self._policy = policy if policy is not None else AddressPolicy.from_settings(settings)
        self._guard = GuardedResolver(self._policy, resolver)
        timeout = settings.image_fetch_timeout
        # The whole fetch has one deadline (fetch()); the client's own timeouts are that.
        # Direct, so the guard's resolve hook pins each connection to a checked address;
        # through VISIONGATE_IMAGE_PROXY the proxy resolves names itself and is trusted
        # (IP literals are still checked, _check_literal).
        proxy = settings.image_proxy or None
        self._client = HttpClient(
            connect_timeout=timeout,
            read_timeout=timeout,
            resolve=None if proxy else self._addresses,
            proxy=proxy,
        )

    @property
    def policy(self) -> AddressPolicy:
        return self._policy

    async def start(self) -> None:
        """Nothing to do: connections open on the first :meth:`fetch`."""

    async def close(self) -> None:
        await self._client.close()
        await self._guard.close()

    async def _addresses(self, host: str, port: int) -> list[str]:
        """Where the client may connect for ``host``: checked, every one."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return [r["host"] for r in await self._guard.resolve(host, port)]
        if not self._policy.admits(host, ip):  # checked before each hop too
            raise BlockedAddress(host)
        return [host]

    async def fetch(self, url: str, param: str, max_bytes: int | None = None) -> bytes:
        """The body of ``url``, following redirects; raises ImageError.

        Codes: ``invalid_image_url``, ``image_url_blocked``, ``image_fetch_failed``
        (unreachable, non-2xx, timeout, redirect loop or too many redirects) and
        ``image_too_large`` (past ``max_bytes``, by default ``max_image_bytes``; the
        document pipeline fetches PDFs with its own cap).
        """
        target = parse_http_url(url, param)
        timeout = self._settings.image_fetch_timeout
        cap = max_bytes if max_bytes is not None else self._settings.max_image_bytes
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(target, param, cap)
        except TimeoutError:
            raise _failed(param, target, f"it did not arrive within {timeout:g} s") from None
        except BlockedAddress as exc:
            raise _blocked(param, exc.host) from None
        except UnresolvedHost:
            raise _failed(param, target, "its host name does not resolve") from None
        except BodyTooLarge:
            raise _too_large(param, cap) from None
        except TransportError as exc:
            why = str(exc) if str(exc).startswith("TLS") else "its host refused or dropped it"
            raise _failed(param, target, why) from None
        except ValueError:  # a URL the client cannot address (checked by parse_http_url)
            raise _bad_url(param, "it is not a valid URL") from None

    async def _follow(self, target: URL, param: str, cap: int) -> bytes:
        seen = {target}
        for _ in range(self._settings.max_image_redirects + 1):
            self._check_literal(target, param)
            response = await self._client.get(str(target), _HEADERS, max_body=cap)
            try:
                if response.status in _REDIRECTS:
                    target = self._next_hop(response, target, param)
                    if target in seen:
                        raise _failed(param, target, "its redirects form a loop")
                    seen.add(target)
                    continue
                if not 200 <= response.status < 300:
                    raise _failed(param, target, f"its server answered HTTP {response.status}")
                return await self._read(response, param, cap)
            finally:
                # A redirect's or an error's body is not read: its connection is dropped
                # rather than parked half-read (a no-op after a whole read).
                response.release()
        limit = self._settings.max_image_redirects
        raise _failed(param, target, f"it redirects more than {limit} times")

    def _next_hop(self, response: Response, current: URL, param: str) -> URL:
        location = response.headers.get("location")
        if not location:
            raise _failed(param, current, "a redirect had no Location header")
        try:
            joined = current.join(URL(location))
        except (ValueError, TypeError):
            raise _failed(param, current, "a redirect pointed at an invalid URL") from None
        if joined.scheme not in ("http", "https"):
            raise _failed(param, current, "a redirect left http(s)")
        try:
            return parse_http_url(str(joined), param)
        except ImageError:
            raise _failed(param, current, "a redirect pointed at an invalid URL") from None

    def _check_literal(self, target: URL, param: str) -> None:
        """IP-literal hosts need no resolver: check them here, before every hop."""
        host = target.host or ""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:  # a name (numeric forms were made dotted by parse_http_url)
            return
        if not self._policy.admits(host, ip):
            raise _blocked(param, host, literal=True)

    async def _read(self, response: Response, param: str, cap: int) -> bytes:
        """The body; the client itself stops at ``cap`` (``BodyTooLarge``, after
        decoding), so only a declared length over it is checked here, up front."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _too_large(param, cap)
        return await response.read()


def _bad_url(param: str, why: str) -> ImageError:
    return ImageError(f"The image URL is not usable: {why}.", code="invalid_image_url", param=param)


def _blocked(param: str, host: str, *, literal: bool = False) -> ImageError:
    where = "is" if literal else "resolves only to"
    return ImageError(
        f"The image URL's host {host!r} {where} a private, loopback, link-local or otherwise "
        "non-public address, which the gateway does not fetch from; use a public URL or "
        "send the image inline as a data: URL.",
        code="image_url_blocked",
        param=param,
    )


def _failed(param: str, target: URL, why: str) -> ImageError:
    return ImageError(
        f"The image at host {target.host!r} could not be fetched: {why}. Check that the URL "
        "is public and serves the image, or send it inline as a data: URL.",
        code="image_fetch_failed",
        param=param,
    )


def _too_large(param: str, cap: int) -> ImageError:
    return ImageError(
        f"The image at this URL is larger than the gateway's limit of {cap} bytes; "
        "link or send a smaller image.",
        code="image_too_large",
        param=param,
    )
