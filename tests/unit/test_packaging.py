"""The package declares what it imports, and nothing it only tests with.

``aiohttp`` was a runtime dependency only tests used, ``yarl`` was imported but came in
only through it, and package data named a ``fonts/*`` folder that does not exist.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "visiongate"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\s\[<>=~!;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def _imported_top_levels(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"visiongate"}


def _requirements_of(dists: set[str]) -> set[str]:
    """What the declared distributions themselves require (one level down)."""
    found: set[str] = set()
    for dist in dists:
        try:
            found |= _names([r for r in requires(dist) or [] if "extra ==" not in r])
        except PackageNotFoundError:
            continue
    return found


def test_every_import_of_the_package_is_declared() -> None:
    """Declared, or pinned by what is declared (starlette by fastapi; numpy, jinja2 and tqdm
    by the OCR and local-model packages that bring them). Before, yarl came in only through
    aiohttp, a dependency the package itself never imported."""
    declared = _names(PROJECT["dependencies"]) | _names(PROJECT["optional-dependencies"]["local"])
    allowed = declared | _requirements_of(declared - {"aiohttp"})
    dists = packages_distributions()
    missing = []
    for module in sorted(_imported_top_levels(SRC)):
        owners = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not owners & allowed:
            missing.append(f"{module} (from {sorted(owners)})")
    assert missing == []


def test_test_only_packages_are_not_runtime_dependencies() -> None:
    runtime = _names(PROJECT["dependencies"])
    assert "aiohttp" not in runtime
    assert "aiohttp" in _names(PROJECT["optional-dependencies"]["test"])


def test_package_data_globs_match_files() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    globs = tomllib.loads(text)["tool"]["setuptools"]["package-data"]["visiongate"]
    for pattern in globs:
        assert list(SRC.glob(pattern)), f"package data {pattern!r} matches nothing"
