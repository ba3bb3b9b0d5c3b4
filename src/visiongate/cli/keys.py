"""``visiongate keys create|list|revoke``: manage client API keys in the accounts database.

The commands read the same settings as ``serve`` (``--config``, ``VISIONGATE_DATABASE_URL``),
so they act on the database the servers use; a revocation reaches every server within
``key_cache_ttl`` (about a second).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Sequence

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    add_config_arg(create)
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--models", help="allowed model patterns, e.g. 'gpt-4o*,local/*'")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute (images included)")
    create.add_argument("--budget-usd", type=float, help="total spend after which it is refused")
    create.add_argument("--expires", help="lifetime, e.g. 30d, 12h, 90m")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=run_create)

    listing = actions.add_parser("list", help="list keys with limits, spend and last use")
    add_config_arg(listing)
    listing.add_argument("--active", action="store_true", help="leave out revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)

    revoke = actions.add_parser("revoke", help="revoke a key (by id, prefix or the key)")
    add_config_arg(revoke)
    revoke.add_argument("key", help="the id or prefix shown by `keys list`")
    revoke.set_defaults(func=run_revoke)


def _fail(message: str) -> int:
    print(f"visiongate keys: {message}", file=sys.stderr)
    return 2


def run_create(args: argparse.Namespace) -> int:
    from visiongate.accounting.keys import parse_duration
    from visiongate.accounting.keystore import KeySpec, KeyStore
    from visiongate.cli.db import open_database

    try:
        expires = parse_duration(args.expires) if args.expires else None
    except ValueError as exc:
        return _fail(f"--expires: {exc}")
    models = None
    if args.models is not None:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    spec = KeySpec(args.name, models, args.rpm, args.tpm, args.budget_usd, expires)
    try:
        spec.validate()
    except ValueError as exc:
        message, field = exc.args
        return _fail(f"--{field.replace('_', '-')}: {message}")

    async def go() -> tuple[str, dict[str, object]]:
        async with open_database(args.config) as engine:
            key, record = await KeyStore(engine).create(spec)
        return key, record.to_dict()

    key, record = asyncio.run(go())
    if args.json:
        print(json.dumps({"key": key, **record}, indent=2))
        return 0
    print(f"Created key {record['id']} ({record['name']}): {_limits(record)}")
    print("Copy it now: it is stored hashed and cannot be shown again.")
    print()
    print(f"    {key}")
    print()
    return 0


def run_list(args: argparse.Namespace) -> int:
    from visiongate.accounting.keystore import KeyStore
    from visiongate.cli.db import open_database

    async def go() -> list[dict[str, object]]:
        async with open_database(args.config) as engine:
            records = await KeyStore(engine).list(include_revoked=not args.active)
        return [r.to_dict() for r in records]

    records = asyncio.run(go())
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("No keys yet: create one with `visiongate keys create --name NAME`.")
        return 0
    header = ("ID", "PREFIX", "NAME", "STATE", "MODELS", "LIMITS", "SPENT", "REQUESTS", "LAST USE")
    rows: list[tuple[str, ...]] = [header]
    for r in records:
        rows.append(
            (
                str(r["id"]),
                f"{r['prefix']}…",
                str(r["name"]),
                str(r["state"]),
                ",".join(r["models"]) if r["models"] else "*",  # type: ignore[arg-type]
                _limits(r),
                f"${r['spent_usd']:.4f}",
                str(r["requests"]),
                _when(r["last_used_at"]),  # type: ignore[arg-type]
            )
        )
    _print_table(rows)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from visiongate.accounting.keystore import KeyNotFound, KeyStore
    from visiongate.cli.db import open_database

    async def go() -> dict[str, object]:
        async with open_database(args.config) as engine:
            return (await KeyStore(engine).revoke(args.key)).to_dict()

    try:
        record = asyncio.run(go())
    except KeyNotFound as exc:
        return _fail(str(exc))
    print(f"Revoked {record['id']} ({record['name']}, {record['prefix']}…).")
    return 0


def _limits(record: dict[str, object]) -> str:
    parts = []
    if record["rpm"] is not None:
        parts.append(f"{record['rpm']} rpm")
    if record["tpm"] is not None:
        parts.append(f"{record['tpm']} tpm")
    if record["budget_usd"] is not None:
        parts.append(f"${record['budget_usd']:g} budget")
    if record["expires_at"] is not None:
        parts.append(f"expires {_when(record['expires_at'])}")  # type: ignore[arg-type]
    return ", ".join(parts) or "no limits"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
