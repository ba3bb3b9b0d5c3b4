"""The catalog beside a provider's own list: what went missing upstream, what is new.

Pure: the caller fetches the list (``providers/model_lists.py``) and passes the day to
judge retirements by, so the result depends on nothing but its arguments.

Matching is by the name the gateway sends (``upstream``). An undated alias matches its
dated snapshots (``claude-haiku-4-5`` ↔ ``claude-haiku-4-5-20251001``, ``gpt-5.5`` ↔
``gpt-5.5-2026-04-23``): providers list one or the other, and either means the model is
served.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase

from visiongate.core.catalog import Catalog, ModelEntry, ProviderEntry

__all__ = ["Drift", "compare"]

_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(slots=True)
class Drift:
    """One provider's catalog against its list.

    ``missing``: served by the catalog (no shutdown date reached) but not listed — the
    reason ``models check`` exits 1. ``gone``: retired and not listed, as announced.
    ``listed_retired``: retired by the catalog's date yet still listed. ``new``: vision
    models listed that the catalog lacks.
    """

    provider: str
    listed: int = 0
    missing: list[ModelEntry] = field(default_factory=list)
    gone: list[ModelEntry] = field(default_factory=list)
    listed_retired: list[ModelEntry] = field(default_factory=list)
    new: list[str] = field(default_factory=list)


def _undated(name: str) -> str:
    return _DATED.sub("", name)


def compare(
    catalog: Catalog,
    provider: ProviderEntry,
    listed: Sequence[tuple[str, bool | None]],
    today: date,
) -> Drift:
    """``listed``: (id, takes images or None if the list does not say) per listed model.

    Listed ids the list marks as vision models, or that match the provider's
    ``options.vision_ids`` patterns when it does not say, and match none of
    ``options.ignore_ids``, count as vision models.
    """
    entries = [m for m in catalog.models.values() if m.provider == provider.name]
    ids = {name for name, _ in listed}
    undated = {_undated(name) for name in ids}
    drift = Drift(provider.name, listed=len(ids))
    for entry in entries:
        present = entry.upstream in ids or entry.upstream in undated
        retired = entry.retired_on(today)
        if not present:
            (drift.gone if retired else drift.missing).append(entry)
        elif retired:
            drift.listed_retired.append(entry)
    known = {m.upstream for m in entries}
    vision_ids = _patterns(provider.options.get("vision_ids"))
    ignore_ids = _patterns(provider.options.get("ignore_ids"))
    for name, vision in listed:
        if name in known or _undated(name) in known:
            continue
        if _matches(name, ignore_ids):
            continue
        if vision is True or (vision is None and _matches(name, vision_ids)):
            drift.new.append(name)
    drift.new = sorted(set(drift.new))
    return drift


def _patterns(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise ValueError(f"expected a list of id patterns, got {value!r}")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)
