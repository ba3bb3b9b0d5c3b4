"""Write README's catalog table from the shipped catalog, so the two cannot drift.

    .venv/bin/python scripts/catalog_table.py          # rewrite the block in README.md
    .venv/bin/python scripts/catalog_table.py --check  # exit 1 if README is out of date

The table sits between ``<!-- catalog:start -->`` and ``<!-- catalog:end -->``; everything
outside the markers is left alone. ``tests/unit/core/test_readme_catalog.py`` fails when
the block and ``src/visiongate/data/models.toml`` disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visiongate.core.catalog import Catalog, ModelEntry, load_catalog

START = "<!-- catalog:start -->"
END = "<!-- catalog:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"
_HEADER = (
    "| model | provider | context | max output | images | $ in / out per M | PDF | "
    "shutdown | successor | source (as of) |\n"
    "| --- | --- | --: | --: | --: | --: | --- | --- | --- | --- |"
)


def _tokens(value: int) -> str:
    return f"{value:,}" if value else "?"


def _price(entry: ModelEntry) -> str:
    if entry.price_input is None or entry.price_output is None:
        return "?"
    return f"{entry.price_input:g} / {entry.price_output:g}"


def _row(entry: ModelEntry) -> str:
    host = entry.source.split("/")[2] if entry.source else "?"
    cells = [
        f"`{entry.id}`",
        entry.provider,
        _tokens(entry.context_window),
        _tokens(entry.max_output_tokens),
        str(entry.image.max_images),
        _price(entry),
        "native" if entry.pdf_native else "-",
        entry.retired or "-",
        f"`{entry.successor}`" if entry.successor else "-",
        f"[{host}]({entry.source}) ({entry.as_of})" if entry.source else "-",
    ]
    return "| " + " | ".join(cells) + " |"


def render(catalog: Catalog) -> str:
    """The block between the markers, markers included."""
    rows = [_row(e) for e in catalog.models.values()]
    return "\n".join([START, _HEADER, *rows, END])


def replace_block(readme: str, block: str) -> str:
    start, end = readme.index(START), readme.index(END) + len(END)
    return readme[:start] + block + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on drift")
    args = parser.parse_args(argv)
    text = README.read_text("utf-8")
    updated = replace_block(text, render(load_catalog(environ={})))
    if args.check:
        if updated != text:
            print("README.md's catalog table is out of date: run scripts/catalog_table.py")
            return 1
        return 0
    README.write_text(updated, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
