"""``visiongate db upgrade``: bring the accounts database to the latest schema.

``serve`` does this by itself at start-up; the command is for deployments that migrate
as a separate step (before rolling out replicas) and for checking which version a
database is at. ``open_database`` is shared by the other accounting commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["open_database", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("db", help="manage the accounts database")
    actions = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="apply pending schema migrations")
    add_config_arg(upgrade)
    upgrade.set_defaults(func=run_upgrade)


@contextlib.asynccontextmanager
async def open_database(config: str | None) -> AsyncIterator[AsyncEngine]:
    """The migrated database that ``serve`` with the same settings would use."""
    from visiongate.accounting.database import open_engine
    from visiongate.accounting.migrations import upgrade
    from visiongate.settings import load_settings

    settings = load_settings(config)
    engine = open_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def run_upgrade(args: argparse.Namespace) -> int:
    from visiongate.accounting.database import display_url, open_engine
    from visiongate.accounting.migrations import LATEST, current_version, upgrade
    from visiongate.settings import load_settings

    async def go() -> None:
        url = load_settings(args.config).resolved_database_url
        engine = open_engine(url)
        try:
            before = await current_version(engine)
            applied = await upgrade(engine)
        finally:
            await engine.dispose()
        where = display_url(url)
        if applied:
            print(f"{where}: schema version {before} -> {LATEST} (applied {applied})")
        else:
            print(f"{where}: schema version {LATEST}, up to date")

    asyncio.run(go())
    return 0
