"""What the playground's handler serves, over real sockets: the page and its files with
their security headers, the redirect from ``/``, and nothing else (no other file, no
method but GET and HEAD, no key needed for the page and none accepted in its place)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import requests

from tests.support.gateway import GatewayProcess

pytestmark = pytest.mark.timeout(60)

STATIC = resources.files("visiongate.playground").joinpath("static")
FILES = sorted(entry.name for entry in STATIC.iterdir() if entry.is_file())


def _url(name: str) -> str:
    return "/playground" if name == "index.html" else f"/playground/{name}"


def _check_security_headers(response: requests.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_root_redirects_to_the_playground(gateway: GatewayProcess) -> None:
    response = requests.get(gateway.root + "/", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["location"] == "playground"
    followed = requests.get(gateway.root + "/", timeout=10)
    assert followed.url == gateway.root + "/playground"
    assert "<title>visiongate playground</title>" in followed.text
    slash = requests.get(gateway.root + "/playground/", timeout=10)
    assert slash.url == gateway.root + "/playground"


@pytest.mark.parametrize("name", FILES)
def test_every_file_is_served_with_the_security_headers(gateway: GatewayProcess, name: str) -> None:
    response = requests.get(gateway.root + _url(name), timeout=10)
    assert response.status_code == 200
    assert response.content == STATIC.joinpath(name).read_bytes()
    kind = {"html": "text/html", "js": "text/javascript", "css": "text/css"}[name.split(".")[-1]]
    assert response.headers["content-type"] == f"{kind}; charset=utf-8"
    _check_security_headers(response)
    again = requests.get(
        gateway.root + _url(name), headers={"If-None-Match": response.headers["etag"]}, timeout=10
    )
    assert again.status_code == 304
    assert again.content == b""
    head = requests.head(gateway.root + _url(name), timeout=10)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(response.content))


def test_the_page_loads_nothing_from_elsewhere_and_weighs_under_200_kb(
    gateway: GatewayProcess,
) -> None:
    total = 0
    for name in FILES:
        body = requests.get(gateway.root + _url(name), timeout=10).text
        total += len(body.encode())
        for url in re.findall(r"""(?:src|href|import|from)\s*=?\s*["']([^"']+)["']""", body):
            assert not re.match(r"^(https?:)?//", url), f"{name} refers to {url}"
    assert total < 200_000, total
    imports = set()
    for name in FILES:
        text = STATIC.joinpath(name).read_text()
        imports |= set(re.findall(r'from "\./([\w-]+\.js)"', text))
    assert imports <= set(FILES)


@pytest.mark.parametrize(
    "path",
    [
        "/playground/handler.py",
        "/playground/__init__.py",
        "/playground/static/app.js",
        "/playground/../data/models.toml",
        "/playground/%2e%2e/data/models.toml",
        "/playground/app.js/",
        "/playground/nope.js",
        "/playgroundx",
    ],
)
def test_only_the_shipped_files_can_be_named(gateway: GatewayProcess, path: str) -> None:
    response = requests.get(gateway.root + path, timeout=10, allow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_other_methods_are_not_served(gateway: GatewayProcess) -> None:
    response = requests.post(gateway.root + "/playground", data=b"x", timeout=10)
    assert response.status_code in (404, 405)
    assert "<html" not in response.text


def test_the_page_needs_no_key_but_the_api_still_does(gateway: GatewayProcess) -> None:
    assert requests.get(gateway.root + "/playground", timeout=10).status_code == 200
    models = requests.get(gateway.root + "/v1/models", timeout=10)
    assert models.status_code == 401
    assert models.json()["error"]["code"] == "invalid_api_key"
