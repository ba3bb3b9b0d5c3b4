"""Routes: a name clients send as ``model`` that stands for several deployments.

A ``[routes."name"]`` table (or the same table in ``VISIONGATE_ROUTES`` as JSON) lists
``targets`` (catalog models, each a deployment: a provider account and an upstream name),
how traffic is spread over them (``strategy``), the ``fallbacks`` tried in order when no
target can answer, how often a target is retried, and when a failing target is taken out
for a while (``cooldown``). Parsed and checked once at start-up: a typo names the route
and the key. What the policy does with it lives in ``service/routing.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from visiongate.core.cache_config import CacheConfig, cache_config

__all__ = [
    "DEFAULT_FALLBACK_ON",
    "STRATEGIES",
    "CooldownPolicy",
    "Route",
    "Target",
    "parse_routes",
]

STRATEGIES = frozenset({"weighted", "ordered", "least-busy", "lowest-latency"})
# Refusals that another model may not give: tried on the fallbacks, not returned at once.
DEFAULT_FALLBACK_ON = frozenset({"context_length_exceeded", "content_filter"})
_ROUTE_KEYS = frozenset(
    {"targets", "strategy", "fallbacks", "retries", "cooldown", "fallback_on", "cache"}
)
_TARGET_KEYS = frozenset({"model", "weight"})


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment of a route: a catalog model id and its share of the traffic."""

    model: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """``failures`` failed calls within ``window_s`` take a deployment out for ``seconds``."""

    failures: int = 3
    window_s: float = 60.0
    seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Route:
    """A name that stands for ``targets`` (tried by ``strategy``) and then ``fallbacks``.

    ``retries`` is the number of extra calls to the same target for a retryable failure;
    None takes the gateway's ``upstream_retries``. ``implicit`` routes are the ones the
    gateway builds itself for a plain model id (one target, no fallbacks) or a retired
    model that follows its successor. ``cache`` is the route's answer cache table (for an
    implicit route the model's own applies: ``service/cache.py``).
    """

    name: str
    targets: tuple[Target, ...]
    strategy: str = "weighted"
    fallbacks: tuple[str, ...] = ()
    retries: int | None = None
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)
    fallback_on: frozenset[str] = DEFAULT_FALLBACK_ON
    implicit: bool = False
    cache: CacheConfig | None = None


_DEFAULT_COOLDOWN = CooldownPolicy()


def parse_routes(raw: Mapping[str, Any], models: Collection[str]) -> dict[str, Route]:
    """The routes of the ``[routes.*]`` tables, checked against the catalog's ``models``
    (ids and aliases).

    Raises ValueError naming the route for unknown keys, an unknown strategy, a target
    that is not a catalog model, a fallback that is neither a model nor a route, or a
    weight, retry count or cooldown figure out of range.
    """
    routes = {name: _route(name, table, models) for name, table in raw.items()}
    for route in routes.values():
        for fallback in route.fallbacks:
            if fallback not in models and fallback not in routes:
                raise ValueError(
                    f"route {route.name!r}: fallback {fallback!r} is neither a model nor a route"
                )
    return routes


def _route(name: str, table: Any, models: Collection[str]) -> Route:
    where = f"route {name!r}"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: expected a table")
    unknown = set(table) - _ROUTE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_ROUTE_KEYS)}")
    raw_targets = table.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ValueError(f"{where}: targets must be a non-empty list of models")
    targets = tuple(_target(where, item, models) for item in raw_targets)
    strategy = str(table.get("strategy", "weighted"))
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: strategy {strategy!r}; expected one of {sorted(STRATEGIES)}")
    fallbacks = table.get("fallbacks", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise ValueError(f"{where}: fallbacks must be a list of model or route names")
    retries = table.get("retries")
    if retries is not None and (not isinstance(retries, int) or not 0 <= retries <= 10):
        raise ValueError(f"{where}: retries must be an integer from 0 to 10")
    fallback_on = table.get("fallback_on", sorted(DEFAULT_FALLBACK_ON))
    if not isinstance(fallback_on, list) or not all(isinstance(c, str) for c in fallback_on):
        raise ValueError(f"{where}: fallback_on must be a list of error codes")
    return Route(
        name=name,
        targets=targets,
        strategy=strategy,
        fallbacks=tuple(fallbacks),
        retries=retries,
        cooldown=_cooldown(where, table.get("cooldown", {})),
        fallback_on=frozenset(fallback_on),
        cache=cache_config(table["cache"], where) if "cache" in table else None,
    )


def _target(where: str, item: Any, models: Collection[str]) -> Target:
    if isinstance(item, str):
        item = {"model": item}
    if not isinstance(item, Mapping) or set(item) - _TARGET_KEYS or "model" not in item:
        raise ValueError(f'{where}: a target is a model id or {{ model = "…", weight = N }}')
    model = str(item["model"])
    if model not in models:
        raise ValueError(f"{where}: target {model!r} is not a catalog model")
    weight = item.get("weight", 1)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        raise ValueError(f"{where}: the weight of {model!r} must be a number above 0")
    return Target(model, float(weight))


def _cooldown(where: str, table: Any) -> CooldownPolicy:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: cooldown must be a table")
    unknown = set(table) - {"failures", "window_s", "seconds"}
    if unknown:
        raise ValueError(f"{where}: unknown cooldown keys {sorted(unknown)}")
    policy = CooldownPolicy(
        failures=table.get("failures", _DEFAULT_COOLDOWN.failures),
        window_s=float(table.get("window_s", _DEFAULT_COOLDOWN.window_s)),
        seconds=float(table.get("seconds", _DEFAULT_COOLDOWN.seconds)),
    )
    if not isinstance(policy.failures, int) or policy.failures < 1:
        raise ValueError(f"{where}: cooldown.failures must be an integer of at least 1")
    if policy.window_s <= 0 or policy.seconds < 0:
        raise ValueError(f"{where}: cooldown.window_s must be above 0 and seconds at least 0")
    return policy
