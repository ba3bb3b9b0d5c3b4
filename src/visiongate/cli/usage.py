"""``visiongate usage [--since 7d] [--by model|key|day]``: requests, tokens and spend.

Reads the accounts database the servers write to; records reach it within one flush
interval (``usage_flush_interval``, 1 s by default) of the request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("usage", help="report requests, tokens and spend")
    add_config_arg(p)
    p.add_argument("--since", default="7d", help="how far back, e.g. 24h, 7d (default 7d)")
    p.add_argument(
        "--by", choices=("model", "key", "day", "endpoint"), default="model", help="grouping"
    )
    p.add_argument("--key", dest="key_id", help="only this key id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from visiongate.accounting.keys import parse_duration
    from visiongate.accounting.reports import usage_report
    from visiongate.cli.db import open_database

    try:
        since = time.time() - parse_duration(args.since)
    except ValueError as exc:
        print(f"visiongate usage: --since: {exc}", file=sys.stderr)
        return 2

    async def go() -> list[dict[str, object]]:
        async with open_database(args.config) as engine:
            rows = await usage_report(engine, since, args.by, args.key_id)
        return [r.to_dict() for r in rows]

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"No requests in the last {args.since}.")
        return 0
    head = (args.by.upper(), "REQUESTS", "ERRORS", "PROMPT", "COMPLETION", "IMAGES", "COST USD")
    table: list[tuple[str, ...]] = [head]
    for r in rows:
        label = str(r["group"]) + (f" ({r['name']})" if r.get("name") else "")
        table.append(_cells(label, r))
    total = {
        k: sum(r[k] for r in rows)  # type: ignore[misc]
        for k in ("requests", "errors", "prompt_tokens", "completion_tokens", "images", "cost_usd")
    }
    table.append(_cells("TOTAL", total))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        print("  ".join([first, *rest]))
    return 0


def _cells(label: str, r: Mapping[str, object]) -> tuple[str, ...]:
    return (
        label,
        str(r["requests"]),
        str(r["errors"]),
        str(r["prompt_tokens"]),
        str(r["completion_tokens"]),
        str(r["images"]),
        f"{r['cost_usd']:.4f}",
    )
