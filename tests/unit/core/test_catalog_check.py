"""``compare``: the catalog beside one provider's list, judged on a date the test gives."""

from __future__ import annotations

from datetime import date

from visiongate.core.catalog import load_catalog
from visiongate.core.catalog_check import compare

CATALOG = load_catalog(environ={})
DAY = date(2026, 12, 7)


def _listed(*names: str, vision: bool | None = None) -> list[tuple[str, bool | None]]:
    return [(n, vision) for n in names]


def _anthropic_ids() -> list[str]:
    """What a healthy Anthropic list would hold for the catalog's models served on DAY."""
    return [
        m.upstream
        for m in CATALOG.models.values()
        if m.provider == "anthropic" and not m.retired_on(DAY)
    ]


def test_all_served_models_listed_is_clean() -> None:
    drift = compare(CATALOG, CATALOG.providers["anthropic"], _listed(*_anthropic_ids()), DAY)
    assert drift.missing == [] and drift.new == [] and drift.listed_retired == []
    assert {m.id for m in drift.gone} >= {"claude-3-opus-20240229", "claude-3-opus-latest"}


def test_a_served_model_gone_is_missing() -> None:
    ids = [i for i in _anthropic_ids() if i != "claude-opus-5"]
    drift = compare(CATALOG, CATALOG.providers["anthropic"], _listed(*ids), DAY)
    assert [m.id for m in drift.missing] == ["claude-opus-5"]


def test_dated_snapshot_stands_for_its_alias_both_ways() -> None:
    ids = [i for i in _anthropic_ids() if i != "claude-haiku-4-5"]
    ids.append("claude-haiku-4-5-20251001")
    drift = compare(CATALOG, CATALOG.providers["anthropic"], _listed(*ids), DAY)
    assert drift.missing == [] and drift.new == []


def test_new_vision_models_by_pattern_and_ignored_ones() -> None:
    served = [
        m.upstream
        for m in CATALOG.models.values()
        if m.provider == "openai" and not m.retired_on(DAY)
    ]
    listed = _listed(*served, "gpt-5.6", "gpt-5.6-2026-11-01", "gpt-4o-audio-preview")
    listed += _listed("dall-e-3", "text-embedding-3-large", "gpt-5.5-pro")
    drift = compare(CATALOG, CATALOG.providers["openai"], listed, DAY)
    assert drift.missing == []
    assert drift.new == ["gpt-5.5-pro", "gpt-5.6", "gpt-5.6-2026-11-01"]


def test_a_list_that_says_modalities_decides_itself() -> None:
    listed = _listed("qwen/qvq-72b-preview", "qwen/qwen2.5-vl-72b-instruct", vision=True)
    listed += [("acme/new-vl", True), ("acme/text-only", False)]
    drift = compare(CATALOG, CATALOG.providers["openrouter"], listed, DAY)
    assert drift.new == ["acme/new-vl"] and drift.missing == []


def test_retired_but_still_listed_is_reported_and_the_date_decides() -> None:
    served = [m.upstream for m in CATALOG.models.values() if m.provider == "google"]
    before = date(2026, 11, 30)
    on_day = compare(CATALOG, CATALOG.providers["google"], _listed(*served), DAY)
    assert "gemini-2.5-pro" in {m.id for m in on_day.listed_retired}
    earlier = compare(CATALOG, CATALOG.providers["google"], _listed(*served), before)
    assert "gemini-2.5-pro" not in {m.id for m in earlier.listed_retired}
    gone = [n for n in served if n != "gemini-2.5-pro"]
    assert [
        m.id for m in compare(CATALOG, CATALOG.providers["google"], _listed(*gone), before).missing
    ] == ["gemini-2.5-pro"]
    assert compare(CATALOG, CATALOG.providers["google"], _listed(*gone), DAY).missing == []
