"""``visiongate models``: the catalog as a table, ``models check`` against each provider's
own list (and ``models pull`` for local weights)."""

from __future__ import annotations

import argparse
import os
from datetime import date

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("models", help="list the model catalog")
    add_config_arg(p)
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    listing = actions.add_parser("list", help="print the catalog (the default)")
    add_config_arg(listing)
    listing.set_defaults(func=run)
    check = actions.add_parser(
        "check",
        help="compare the catalog with each configured provider's own model list",
        description="Asks every configured provider for its model list and prints, per "
        "provider, catalog models it no longer lists and vision models it lists that the "
        "catalog lacks. Exit code 1 when a model the catalog still serves is missing "
        "upstream; a provider that cannot be reached is reported and does not fail the run.",
    )
    add_config_arg(check)
    check.add_argument("--provider", action="append", help="check only this provider (repeatable)")
    check.add_argument(
        "--today", type=date.fromisoformat, help="judge shutdown dates as of this ISO date"
    )
    check.set_defaults(func=_check)
    from visiongate.cli import pull

    pull.register(actions)


def _check(args: argparse.Namespace) -> int:
    from visiongate.cli.models_check import run_check

    return run_check(args)


def run(args: argparse.Namespace) -> int:
    from visiongate.runtime import build_catalog
    from visiongate.settings import load_settings

    settings = load_settings(args.config)
    catalog = build_catalog(settings, dict(os.environ))
    today = date.today()
    rows = [
        ("MODEL", "PROVIDER", "UPSTREAM", "AVAILABLE", "IMAGES", "$IN/M", "$OUT/M", "SHUTDOWN"),
    ]
    notes = ["NOTE"]
    for entry in catalog.models.values():
        provider = catalog.provider_of(entry)
        if provider.configured:
            note = ""
        else:
            note = f"set {provider.api_key_env}" if provider.api_key_env else "not configured"
        if entry.retired:
            state = "retired" if entry.retired_on(today) else "shuts down"
            then = f" -> {entry.successor}" if entry.successor else ""
            note = (note + "; " if note else "") + f"{state} {entry.retired}{then}"
        rows.append(
            (
                entry.id,
                entry.provider,
                entry.upstream,
                "yes" if provider.configured else "no",
                str(entry.image.max_images),
                _price(entry.price_input),
                _price(entry.price_output),
                entry.retired or "-",
            )
        )
        notes.append(note)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row, note in zip(rows, notes, strict=True):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "  " + note)
    return 0


def _price(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
