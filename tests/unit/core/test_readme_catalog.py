"""README's catalog table is the catalog: generated from models.toml, compared here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from visiongate.core.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[3]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "catalog_table", ROOT / "scripts/catalog_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_catalog() -> None:
    script = _script()
    readme = (ROOT / "README.md").read_text("utf-8")
    block = readme[readme.index(script.START) : readme.index(script.END) + len(script.END)]
    assert block == script.render(load_catalog(environ={})), (
        "README.md's catalog table differs from models.toml: run scripts/catalog_table.py"
    )


def test_a_changed_entry_changes_the_table() -> None:
    script = _script()
    shipped = script.render(load_catalog(environ={}))
    changed = load_catalog({"models": {"gpt-5.5": {"price_output": 31.0}}}, environ={})
    assert script.render(changed) != shipped
    assert "| 5 / 31 |" in script.render(changed)
