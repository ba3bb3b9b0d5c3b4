"""``visiongate models check``: each configured provider's own model list beside the catalog.

Meant for cron or CI: the exit code is 1 when a model the catalog still serves (no shutdown
date reached) is missing from its provider's list, else 0. A provider that cannot be
reached, or answers with an error, is printed and does not change the exit code: one
flaky provider should not page anyone about the others. Providers are asked at once, each
through the gateway's own HTTP client with the settings' upstream timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from datetime import date

from visiongate.core.catalog import Catalog, ProviderEntry
from visiongate.core.catalog_check import Drift, compare
from visiongate.providers.model_lists import ListError, list_models, models_url
from visiongate.settings import Settings
from visiongate.transport import HttpClient

__all__ = ["run_check"]


def run_check(args: argparse.Namespace) -> int:
    from visiongate.runtime import build_catalog
    from visiongate.settings import load_settings

    settings = load_settings(args.config)
    catalog = build_catalog(settings, dict(os.environ))
    names = args.provider or sorted(catalog.providers)
    unknown = sorted(set(names) - set(catalog.providers))
    if unknown:
        print(f"unknown provider(s): {', '.join(unknown)}")
        return 2
    today = args.today or date.today()
    results = asyncio.run(_check_all(catalog, settings, names, today))
    failed = False
    for name in names:
        outcome = results[name]
        if isinstance(outcome, Drift):
            _print_drift(outcome)
            failed = failed or bool(outcome.missing)
        else:
            print(f"{name}: {outcome}")
    return 1 if failed else 0


async def _check_all(
    catalog: Catalog, settings: Settings, names: Sequence[str], today: date
) -> dict[str, Drift | str]:
    """Per provider: its Drift, or a line saying why it was skipped or could not be read."""
    client = HttpClient(
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=min(settings.upstream_timeout, 60.0),
    )
    try:
        pairs = await asyncio.gather(
            *(_check_one(catalog, catalog.providers[n], client, today) for n in names)
        )
    finally:
        await client.close()
    return dict(zip(names, pairs, strict=True))


async def _check_one(
    catalog: Catalog, provider: ProviderEntry, client: HttpClient, today: date
) -> Drift | str:
    if provider.kind == "local":
        return "skipped (in process, nothing to list)"
    if not any(m.provider == provider.name for m in catalog.models.values()):
        return "skipped (no catalog models)"
    if models_url(provider) is None:
        return "skipped (no model-list endpoint is known for this provider)"
    if not provider.configured:
        var = provider.api_key_env or f"[providers.{provider.name}] api_key"
        return f"skipped (not configured: set {var})"
    try:
        listed = await list_models(provider, client)
    except ListError as exc:
        return f"unreachable or refused: {exc}"
    return compare(catalog, provider, [(m.id, m.vision) for m in listed], today)


def _print_drift(drift: Drift) -> None:
    print(f"{drift.provider}: {drift.listed} model(s) listed upstream")
    sections = [
        ("MISSING upstream, still served by the catalog:", drift.missing, False),
        ("gone upstream as announced:", drift.gone, True),
        ("still listed after their shutdown date:", drift.listed_retired, False),
    ]
    for title, entries, with_successor in sections:
        if entries:
            print(f"  {title}")
        for entry in entries:
            line = _name(entry.id, entry.upstream)
            if entry.retired:
                line += f" (shut down {entry.retired})"
            if with_successor and entry.successor:
                line += f" -> {entry.successor}"
            print(f"    {line}")
    if drift.new:
        print("  vision models not in the catalog:")
        for name in drift.new:
            print(f"    {name}")
    if not (drift.missing or drift.gone or drift.listed_retired or drift.new):
        print("  catalog and list agree")


def _name(model_id: str, upstream: str) -> str:
    return model_id if model_id == upstream else f"{model_id} (sent as {upstream})"
