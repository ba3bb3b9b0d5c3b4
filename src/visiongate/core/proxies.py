"""Which proxy a provider call goes through, by the environment's convention.

The official SDKs (httpx underneath) honour ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY``
for http URLs (``ALL_PROXY`` for either), upper or lower case, and skip the proxy for hosts
that ``NO_PROXY`` lists: ``*`` for every host, a name (which covers its subdomains; a
leading dot is allowed), an IP address or CIDR block, each optionally with ``:port``. The
gateway does the same for provider calls, so a deployment behind a corporate proxy needs
no setting of its own. Image fetches do not use these (images/fetch.py says why).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["proxy_for"]


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name.lower()) or environ.get(name.upper())
    return value.strip() if value and value.strip() else None


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL for a request to ``url`` under ``environ``, or None to go direct."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    proxy = _get(environ, f"{scheme}_proxy") or _get(environ, "all_proxy")
    if proxy is None:
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    if bypassed(parts.hostname, port, _get(environ, "no_proxy") or ""):
        return None
    return proxy


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (a comma-separated list) says to reach ``host`` directly."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, wanted_port = _split_port(entry)
        if wanted_port is not None and wanted_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6]:port
        inside, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None
