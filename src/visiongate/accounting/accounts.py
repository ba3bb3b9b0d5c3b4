"""The accounting facade the request path uses: authenticate, admit, settle, record.

It owns the database engine (migrated on start), the key store, the authentication cache,
the limiter (memory, or Redis when ``redis_url`` is set) and the usage writer, and turns
their answers into the gateway's errors.
"""

from __future__ import annotations

import hmac
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from visiongate.accounting.authn import Authenticator
from visiongate.accounting.database import display_url, open_engine
from visiongate.accounting.keys import Principal, hash_key, parse_bearer
from visiongate.accounting.keystore import KeyStore
from visiongate.accounting.limits import Decision, Limiter, MemoryLimiter, Ticket
from visiongate.accounting.migrations import upgrade
from visiongate.accounting.usage import UsageRecord, UsageWriter
from visiongate.core.catalog import ModelEntry
from visiongate.errors import AuthenticationError, ModelNotAllowed, PermissionDenied, RateLimited
from visiongate.settings import Settings

__all__ = ["Accounts", "Admission"]

log = logging.getLogger(__name__)


class Admission:
    """A request let through: by whom, how many tokens it reserved, the headers to return.

    The ``x-ratelimit-*`` headers are formatted when first read, from the limiter's
    decision, so a request that never sends them (an error before the response) skips it.
    """

    __slots__ = ("_decision", "_headers", "principal", "reserved_tokens", "ticket")

    def __init__(
        self, principal: Principal, reserved_tokens: int, decision: Decision | None = None
    ) -> None:
        self.principal = principal
        self.reserved_tokens = reserved_tokens
        self.ticket: Ticket | None = decision.ticket if decision is not None else None
        self._decision = decision
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = self._decision.headers() if self._decision is not None else {}
        return self._headers

    def __repr__(self) -> str:
        return (
            f"Admission(principal={self.principal!r}, reserved_tokens={self.reserved_tokens}, "
            f"ticket={self.ticket!r})"
        )


class Accounts:
    """Keys, limits and usage for one gateway process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: AsyncEngine | None = None
        self._keys: KeyStore | None = None
        self._usage: UsageWriter | None = None
        self._limiter: Limiter = MemoryLimiter()
        self._auth = Authenticator(
            settings.api_keys,
            None,
            required=settings.auth_required,
            ttl=settings.key_cache_ttl,
        )

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Accounts.start() has not run")
        return self._engine

    @property
    def keys(self) -> KeyStore:
        if self._keys is None:
            raise RuntimeError("Accounts.start() has not run")
        return self._keys

    async def start(self) -> None:
        """Open and migrate the database, connect Redis when configured, start the writer."""
        url = self._settings.resolved_database_url
        engine = open_engine(url)
        try:
            await upgrade(engine)
        except Exception:
            await engine.dispose()
            log.error("cannot open the accounts database at %s", display_url(url))
            raise
        self._engine = engine
        self._keys = KeyStore(engine)
        self._auth.set_lookup(self._keys.find_by_hash)
        if self._settings.redis_url:
            # Imported here: the redis client costs memory and start-up time when unused.
            from visiongate.accounting.redis_limits import RedisLimiter

            limiter = RedisLimiter.from_url(self._settings.redis_url, self._settings.redis_prefix)
            await limiter.ping()
            self._limiter = limiter
        self._usage = UsageWriter(engine, self._settings.usage_flush_interval)
        self._usage.start()

    async def close(self) -> None:
        """Write every pending usage record, then release Redis and the database."""
        if self._usage is not None:
            await self._usage.close()
            self._usage = None
        await self._limiter.close()
        self._auth.set_lookup(None)
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._keys = None

    @property
    def settings(self) -> Settings:
        return self._settings

    async def ready(self) -> bool:
        """Whether the database answers (for /readyz). Never raises."""
        if self._engine is None:
            return False
        try:
            async with self._engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            log.warning("accounts database not ready: %s", type(exc).__name__)
            return False
        return True

    def check_admin(self, authorization: str | None) -> None:
        """Raises unless ``authorization`` carries the admin key (compared in constant time).

        PermissionDenied (403 admin_disabled) when no admin key is configured,
        AuthenticationError (401) for a missing or wrong one.
        """
        admin_key = self._settings.admin_key
        if not admin_key:
            raise PermissionDenied(
                "The admin API is disabled. Set VISIONGATE_ADMIN_KEY (or admin_key in the "
                "config file) to enable it.",
                code="admin_disabled",
            )
        token = parse_bearer(authorization) or ""
        if not hmac.compare_digest(hash_key(token), hash_key(admin_key)):
            raise AuthenticationError(
                "Incorrect or missing admin key. Send the admin key (VISIONGATE_ADMIN_KEY) in "
                "the HTTP header 'Authorization: Bearer <admin key>'."
            )

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an ``Authorization`` header value.

        Raises AuthenticationError (401 invalid_api_key) for a missing, unknown, revoked or
        expired key; Overloaded (503) when an uncached key cannot be checked.
        """
        return await self._auth.authenticate(authorization)

    def authorise(self, principal: Principal, model: ModelEntry) -> None:
        """Raise ModelNotAllowed (403) unless the key may use ``model``, by its id or one of
        its aliases: the one check, for the service before any image work and for
        :meth:`admit`."""
        if principal.may_use(model.id, model.aliases):
            return
        raise ModelNotAllowed(
            f"This API key may not use model '{model.id}'. Use one of the models it is "
            "allowed ("
            + ", ".join(principal.models or ())
            + "), or ask the gateway's operator for a key that includes this model.",
            param="model",
        )

    async def admit(
        self,
        principal: Principal,
        model: ModelEntry,
        estimated_tokens: int,
        *,
        checked: bool = False,
    ) -> Admission:
        """Let one request of ``estimated_tokens`` through, or refuse it.

        Raises ModelNotAllowed (403) when the key may not use ``model`` (unless ``checked``:
        the caller checked the name the client asked for, a route whose targets come with
        it), RateLimited (429) when it is over its requests or tokens per minute or has
        spent its budget.
        """
        if not checked:
            self.authorise(principal, model)
        if principal.budget_usd is not None:
            self._check_budget(principal)
        if principal.rpm is None and principal.tpm is None:
            return Admission(principal, estimated_tokens)
        tokens = max(int(estimated_tokens), 0)
        decision = await self._limiter.acquire(
            principal.key_id, principal.rpm, principal.tpm, tokens
        )
        if not decision.allowed:
            raise RateLimited(_refusal(principal, decision, tokens), headers=decision.headers())
        return Admission(principal, tokens, decision)

    async def settle(self, admission: Admission, actual_tokens: int) -> None:
        """Replace the token reservation with the real usage. Never raises."""
        if (
            admission.ticket is None
            or admission.principal.tpm is None  # only the tpm window counts tokens
            or actual_tokens == admission.reserved_tokens
        ):
            return
        try:
            await self._limiter.settle(admission.ticket, max(int(actual_tokens), 0))
        except Exception:
            log.exception("settling a token reservation failed")

    def record(self, record: UsageRecord) -> None:
        """Queue one usage record for the background writer. Never blocks, never raises."""
        if self._usage is None:
            log.error("usage record %s arrived with accounts closed", record.request_id)
            return
        self._usage.add(record)

    async def flush(self) -> int:
        """Write queued usage records now (tests, CLI); returns how many were written."""
        return await self._usage.flush() if self._usage is not None else 0

    def _check_budget(self, principal: Principal) -> None:
        assert principal.budget_usd is not None
        spent = self._auth.spent_usd(principal.key_id)
        if self._usage is not None:
            spent += self._usage.pending_cost(principal.key_id)
        if spent >= principal.budget_usd:
            raise RateLimited(
                f"API key '{principal.name}' has used its budget: ${spent:.4f} spent of "
                f"${principal.budget_usd:.2f}. Ask the gateway's operator for a new key or a "
                "larger budget."
            )


def _refusal(principal: Principal, decision: Decision, tokens: int) -> str:
    who = f"API key '{principal.name}'"
    if decision.exceeded == "requests":
        return (
            f"Rate limit reached for requests on {who}: limit {decision.rpm} per minute. "
            f"Retry after {max(decision.retry_after_s, 0.001):.1f} s."
        )
    if decision.exceeded == "tokens_oversized":
        return (
            f"Request too large for {who}: it needs about {tokens} tokens and the limit is "
            f"{decision.tpm} tokens per minute. Send fewer or smaller images, or less text."
        )
    return (
        f"Rate limit reached for tokens on {who}: limit {decision.tpm} per minute, "
        f"used {decision.tokens_used}, requested {tokens}. "
        f"Retry after {max(decision.retry_after_s, 0.001):.1f} s."
    )
