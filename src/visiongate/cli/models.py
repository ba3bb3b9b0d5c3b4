"""``visiongate models``: the catalog as a table (and ``models pull`` for local weights)."""

from __future__ import annotations

import argparse
import os

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
    from visiongate.cli import pull

    pull.register(actions)


def run(args: argparse.Namespace) -> int:
    from visiongate.runtime import build_catalog
    from visiongate.settings import load_settings

    settings = load_settings(args.config)
    catalog = build_catalog(settings, dict(os.environ))
    rows = [("MODEL", "PROVIDER", "UPSTREAM", "AVAILABLE", "IMAGES", "$IN/M", "$OUT/M", "NOTE")]
    for entry in catalog.models.values():
        provider = catalog.provider_of(entry)
        if provider.configured:
            note = ""
        else:
            note = f"set {provider.api_key_env}" if provider.api_key_env else "not configured"
        if entry.retired:
            note = (note + "; " if note else "") + f"retired {entry.retired} -> {entry.successor}"
        rows.append(
            (
                entry.id,
                entry.provider,
                entry.upstream,
                "yes" if provider.configured else "no",
                str(entry.image.max_images),
                f"{entry.price_input:g}",
                f"{entry.price_output:g}",
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0
