"""The routing policy: which deployments a request may go to, in what order, and what a
failed call means.

A request names a route (``[routes."name"]``) or a model; a model is an implicit route of
one target. :class:`Router` turns that name into a :class:`Plan`: the route's targets in
the order its strategy gives, without those cooling down (unless all are: then the least
recently failed), followed lazily by its fallbacks and the request's own, each a model or
a route. :func:`classify` says what a failure means, by the error's class, the upstream
status and code, never by message text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from visiongate.core.catalog import Catalog, ModelEntry
from visiongate.core.routes import Route, Target
from visiongate.errors import GatewayError, ModelNotFound, Overloaded, UpstreamError
from visiongate.providers.base import Provider
from visiongate.service.cooldowns import Cooldowns
from visiongate.service.load import Load
from visiongate.settings import Settings

__all__ = [
    "CREDENTIALS",
    "FALLBACK",
    "FATAL",
    "RETRY",
    "Candidate",
    "Plan",
    "Router",
    "backoff_s",
    "classify",
]

RETRY = "retry"  # this target again (up to the route's retries), then the next one
CREDENTIALS = "credentials"  # the provider refused our key or account: cool it, next target
FALLBACK = "fallback"  # a refusal another model may not give: straight to the fallbacks
FATAL = "fatal"  # the request itself is wrong: the client gets it at once

_CREDENTIAL_STATUSES = frozenset({401, 402, 403})
_MAX_RETRY_AFTER_S = 20.0


def classify(error: GatewayError, route: Route) -> str:
    """What a failed call means for the rest of the plan (the module's constants)."""
    status = error.upstream_status
    if status in _CREDENTIAL_STATUSES:
        return CREDENTIALS
    if error.code in route.fallback_on:
        return FALLBACK
    if status is not None:
        return RETRY if status == 429 or status >= 500 else FATAL
    # Connection errors, timeouts and nonsense answers carry no status: the deployment
    # failed, not the request. A local engine's full queue is the same.
    if isinstance(error, UpstreamError | Overloaded) or error.status == 504:
        return RETRY
    return FATAL


def backoff_s(attempt: int, error: GatewayError) -> float:
    """How long to wait before calling the same target again: what the upstream asked
    for (capped), else exponential from 0.25 s with a little jitter."""
    if error.retry_after_s is not None:
        return min(error.retry_after_s, _MAX_RETRY_AFTER_S)
    jitter = random.uniform(0, 0.1)  # noqa: S311 - spreads retries; not a secret
    return min(0.25 * (2**attempt) + jitter, _MAX_RETRY_AFTER_S)


@dataclass(slots=True)
class Candidate:
    """One deployment a request may be sent to, and the route whose policy applies."""

    model: ModelEntry
    provider: Provider
    route: Route
    fallback: str | None = None  # the fallback it was reached by; None for a target


class Router:
    """Builds plans from the catalog's routes and models; holds the cooldown and load
    state the strategies read."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        cooldowns: Cooldowns,
        load: Load,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.providers = providers
        self.cooldowns = cooldowns
        self.load = load
        self._implicit: dict[str, Route] = {}
        self._targets: dict[str, list[tuple[str, Target]]] = {}  # canonical ids, per route
        # Deployments found once: the catalog and the providers do not change while the
        # gateway runs, and this lookup is on every request's path.
        self._deployments: dict[str, tuple[ModelEntry, Provider]] = {}

    def route(self, name: str) -> Route:
        """The route for a name clients send: a configured route, or an implicit one for
        a catalog model or alias. Raises ModelNotFound."""
        route = self.catalog.routes.get(name)
        if route is not None:
            return route
        route = self._implicit.get(name)
        if route is None:
            entry = self.catalog.resolve(name)
            if entry is None:
                raise ModelNotFound(
                    f"The model {name!r} does not exist. GET /v1/models lists the models this "
                    "gateway serves.",
                    param="model",
                )
            route = Route(name=entry.id, targets=(Target(entry.id),), implicit=True)
            self._implicit[name] = route
        return route

    def knows(self, name: str) -> bool:
        return name in self.catalog.routes or self.catalog.resolve(name) is not None

    def deployment(self, model_id: str) -> tuple[ModelEntry, Provider]:
        """The catalog entry and provider for a model id.

        Raises ModelNotFound for an unknown id, or for a known one whose provider has no
        credentials — naming the variable to set. With ``follow_successors`` a retired
        model is sent to its successor (the response keeps the requested id).
        """
        found = self._deployments.get(model_id)
        if found is None:
            found = self._deployments[model_id] = self._deployment(model_id)
        return found

    def _deployment(self, model_id: str) -> tuple[ModelEntry, Provider]:
        entry = self.catalog.resolve(model_id)
        if entry is None:
            raise ModelNotFound(f"The model {model_id!r} does not exist.", param="model")
        provider_entry = self.catalog.provider_of(entry)
        provider = self.providers.get(entry.provider)
        if provider is None or not provider_entry.configured:
            var = provider_entry.api_key_env or f"[providers.{provider_entry.name}] api_key"
            raise ModelNotFound(
                f"The model {model_id!r} is served by {provider_entry.name}, which is not "
                f"configured on this gateway: the operator must set {var}.",
                param="model",
            )
        if self.settings.follow_successors and entry.retired and entry.successor:
            # To the end of the chain: a successor retired in its turn is passed over.
            chain = self.catalog.successor_chain(entry)
            last = chain[-1].upstream if chain else entry.successor
            entry = replace(entry, upstream=last, successor=last)
        return entry, provider

    def plan(self, route: Route, extra_fallbacks: Sequence[str] = ()) -> Plan:
        return Plan(self, route, (*route.fallbacks, *extra_fallbacks))

    async def ordered(self, route: Route) -> list[str]:
        """The route's target model ids in the order to try them, cooling ones left out
        (all cooling: only the least recently failed)."""
        targets = self._target_pairs(route)
        if route.implicit or (len(targets) == 1 and not route.fallbacks):
            return [targets[0][0]]  # nothing to choose from: no state to read
        cooling = await self.cooldowns.cooling([name for name, _ in targets])
        up = [(name, t) for name, t in targets if name not in cooling] if cooling else targets
        if not up:
            return [min(cooling, key=cooling.__getitem__)]
        if route.strategy == "ordered" or len(up) == 1:
            return [name for name, _ in up]
        if route.strategy == "weighted":
            return _weighted_order(up)
        names = [name for name, _ in up]
        if route.strategy == "least-busy":
            figures: list[float | None] = list(await self.load.busy(names))
        else:  # lowest-latency; an unmeasured target first, so it gets measured
            figures = await self.load.latency(names)
        keyed = sorted((f or 0.0, i) for i, f in enumerate(figures))
        return [names[i] for _, i in keyed]

    def first_target(self, route: Route) -> str:
        """The canonical model id of the route's first target as configured."""
        return self._target_pairs(route)[0][0]

    def _target_pairs(self, route: Route) -> list[tuple[str, Target]]:
        targets = self._targets.get(route.name)
        if targets is None or targets[0][1] is not route.targets[0]:
            targets = self._targets[route.name] = [
                (self._canonical(t.model), t) for t in route.targets
            ]
        return targets

    def _canonical(self, model_id: str) -> str:
        entry = self.catalog.resolve(model_id)
        return entry.id if entry is not None else model_id


def _weighted_order(targets: Sequence[tuple[str, Target]]) -> list[str]:
    """Targets drawn one by one by weight without replacement: the first is each one's
    share of the traffic, the rest the order to fail over in."""
    left = list(targets)
    out: list[str] = []
    while len(left) > 1:
        point = random.random() * sum(t.weight for _, t in left)  # noqa: S311 - load spreading
        for i, (name, target) in enumerate(left):
            point -= target.weight
            if point < 0 or i == len(left) - 1:
                out.append(name)
                del left[i]
                break
    return out + [name for name, _ in left]


class Plan:
    """The candidates of one request, produced one at a time: the route's targets, then
    each fallback (a model, or a route's targets) in order. A deployment comes once."""

    def __init__(self, router: Router, route: Route, fallbacks: Sequence[str]) -> None:
        self.router = router
        self.route = route
        self._fallbacks = list(fallbacks)
        self._queue: list[tuple[str, Route, str | None]] = []
        self._seen: set[str] = set()
        self._started = False
        self.skipped: list[GatewayError] = []  # why candidates were passed over, in order

    @property
    def may_fall_back(self) -> bool:
        """Whether a candidate other than the first may come (images must then be kept
        as sent, to be fitted again for another model)."""
        return len(self.route.targets) > 1 or bool(self._fallbacks)

    async def next(self, *, fallbacks_only: bool = False) -> Candidate | None:
        """The next deployment to try, or None when none is left. ``fallbacks_only``
        drops what is left of the current route's targets first."""
        if not self._started:
            self._started = True
            route = self.route
            if route.implicit:  # one target, nothing to order: no state to read
                self._queue = [(self.router.first_target(route), route, None)]
            else:
                self._queue = [(m, route, None) for m in await self.router.ordered(route)]
        if fallbacks_only:
            self._queue = []  # what is left of this route: a refusal it would repeat
        while True:
            while self._queue:
                model_id, route, via = self._queue.pop(0)
                if model_id in self._seen:
                    continue
                self._seen.add(model_id)
                try:
                    entry, provider = self.router.deployment(model_id)
                except ModelNotFound as exc:
                    self.skipped.append(exc)
                    continue
                return Candidate(entry, provider, route, via)
            if not self._fallbacks:
                return None
            await self._expand(self._fallbacks.pop(0))

    async def _expand(self, name: str) -> None:
        route = self.router.catalog.routes.get(name)
        if route is not None:
            self._queue = [(m, route, name) for m in await self.router.ordered(route)]
            return
        model_id = self.router._canonical(name)
        cooling = await self.router.cooldowns.cooling([model_id])
        if model_id in cooling:
            return  # a fallback model cooling down is passed over
        self._queue = [(model_id, self.route, name)]
