"""Typed settings: a TOML config file, overridden by ``VISIONGATE_*`` environment variables.

Provider credentials and base URLs are not fields here: they follow each provider SDK's
own convention (``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``, ...) and are resolved by the
catalog from the names its ``[providers.*]`` tables declare.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["ConfigError", "Settings", "load_settings", "unknown_settings"]

CommaList = Annotated[list[str], NoDecode]
_CATALOG_TABLES = ("providers", "image_profiles", "models", "routes")
_ENV_PREFIX = "VISIONGATE_"
# Read from the environment but not settings fields.
_OTHER_VARIABLES = frozenset({"VISIONGATE_CONFIG"})


class ConfigError(ValueError):
    """A setting the gateway does not know: a typo that would otherwise be ignored."""


def default_data_dir() -> Path:
    return Path(user_data_dir("visiongate", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VISIONGATE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    access_log: bool = False

    # clients
    api_keys: CommaList = Field(default_factory=list)
    admin_key: str | None = Field(default=None, repr=False)
    auth_required: bool = True

    # request limits
    max_body_bytes: int = 25 * 1024 * 1024
    # Messages API streams: a ping event after this many silent seconds (0: never).
    stream_ping_seconds: float = Field(default=15.0, ge=0)

    # images
    allow_private_image_hosts: bool = False
    image_host_allowlist: CommaList = Field(default_factory=list)
    image_fetch_timeout: float = 10.0
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = 100_000_000
    max_image_redirects: int = 3
    image_cache_bytes: int = 128 * 1024 * 1024
    image_cache_ttl: float = 600.0
    fit_cache_bytes: int = 64 * 1024 * 1024
    fetch_passthrough_urls: bool = False
    # Image fetches go direct (the SSRF guard pins the address it checked); with a proxy
    # the proxy resolves and connects, and is trusted to refuse internal addresses.
    image_proxy: str | None = Field(default=None, repr=False)

    # documents (PDFs): where they go native or rendered, and their bounds
    documents: Literal["auto", "native", "render"] = "auto"
    max_document_bytes: int = 32 * 1024 * 1024
    max_document_pages: int = 100
    document_render_timeout: float = 30.0

    # upstreams
    upstream_timeout: float = 600.0
    upstream_connect_timeout: float = 10.0
    upstream_retries: int = 2
    upstream_deadline: float = 1800.0  # one whole call, streams included (0: none)
    max_upstream_response_bytes: int = 64 * 1024 * 1024  # a provider answer's body, decoded
    upstream_max_connections: int = 256  # open at once to one provider host
    follow_successors: bool = False

    # answer cache (opt-in per model or request; in Redis when redis_url is set)
    answer_cache_bytes: int = 64 * 1024 * 1024  # the in-memory store's budget
    answer_cache_wait_s: float = Field(default=30.0, ge=0)  # an identical request in flight

    # storage
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    usage_flush_interval: float = 1.0
    redis_prefix: str = "visiongate:"  # namespaces limit keys in a shared Redis
    key_cache_ttl: float = 1.0  # seconds a verified key is trusted before re-reading its row

    # local engine
    local_models: dict[str, Any] = Field(default_factory=dict)
    local_device: str = "auto"
    local_dtype: str = "auto"
    local_concurrency: int = 1
    local_queue_size: int = 8
    # compute threads per OCR request; None: the process's cores / local_concurrency
    local_threads: int | None = Field(default=None, ge=1)
    # local models to load at start-up (otherwise on first use; each costs memory at idle)
    local_preload: CommaList = Field(default_factory=list)

    # catalog overrides from the config file ([providers.*], [image_profiles.*], [models.*],
    # [routes.*])
    catalog_overrides: dict[str, Any] = Field(default_factory=dict)
    # VISIONGATE_ROUTES: routes as JSON of the same tables, laid over the file's
    routes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("api_keys", "image_host_allowlist", "local_preload", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the config file, which arrives as init kwargs.
        return (env_settings, init_settings)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'visiongate.db'}"


def unknown_settings(data: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """One line per top-level config key and ``VISIONGATE_*`` variable that names no
    setting, each with the nearest valid name when there is a close one.

    Pydantic ignores unknown names (they may be meant for another version), so without
    this a typo such as ``upstream_timout`` silently keeps the default.
    """
    fields = set(Settings.model_fields) - {"catalog_overrides"}
    keys = sorted(fields | set(_CATALOG_TABLES))
    problems = [
        f"config file: unknown key {name!r}{_nearest(name, keys)}"
        for name in data
        if name not in fields and name not in _CATALOG_TABLES
    ]
    variables = sorted({_ENV_PREFIX + f.upper() for f in fields} | _OTHER_VARIABLES)
    problems += [
        f"environment: unknown variable {name}{_nearest(name, variables)}"
        for name in sorted(environ)
        if name.upper().startswith(_ENV_PREFIX) and name.upper() not in variables
    ]
    return problems


def _nearest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name.upper(), [v.upper() for v in valid], n=1, cutoff=0.6)
    if not close:
        return ""
    match = next(v for v in valid if v.upper() == close[0])
    return f"; did you mean {match!r}?"


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read the config file (``config_path`` or ``$VISIONGATE_CONFIG``) and the environment.

    Keyword ``overrides`` (from CLI flags) win over both. ``strict`` (``serve``): raise
    ConfigError listing every unknown config key and ``VISIONGATE_*`` variable, each with
    the nearest valid name, instead of ignoring them.
    """
    env = os.environ if environ is None else environ
    path = config_path or env.get("VISIONGATE_CONFIG")
    data: dict[str, Any] = {}
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    if strict:
        problems = unknown_settings(data, env)
        if problems:
            raise ConfigError("unknown settings:\n  " + "\n  ".join(problems))
    catalog = {k: data.pop(k) for k in _CATALOG_TABLES if k in data}
    if catalog:
        data["catalog_overrides"] = catalog
    settings = Settings(**data)
    if overrides:
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    return settings
