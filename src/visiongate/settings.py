"""Typed settings: a TOML config file, overridden by ``VISIONGATE_*`` environment variables.

Provider credentials and base URLs are not fields here: they follow each provider SDK's
own convention (``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``, ...) and are resolved by the
catalog from the names its ``[providers.*]`` tables declare.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["Settings", "load_settings"]

CommaList = Annotated[list[str], NoDecode]
_CATALOG_TABLES = ("providers", "image_profiles", "models", "routes")


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

    # documents (PDFs): where they go native or rendered, and their bounds
    documents: Literal["auto", "native", "render"] = "auto"
    max_document_bytes: int = 32 * 1024 * 1024
    max_document_pages: int = 100
    document_render_timeout: float = 30.0

    # upstreams
    upstream_timeout: float = 600.0
    upstream_connect_timeout: float = 10.0
    upstream_retries: int = 2
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


def load_settings(config_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the config file (``config_path`` or ``$VISIONGATE_CONFIG``) and the environment.

    Keyword ``overrides`` (from CLI flags) win over both.
    """
    path = config_path or os.environ.get("VISIONGATE_CONFIG")
    data: dict[str, Any] = {}
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    catalog = {k: data.pop(k) for k in _CATALOG_TABLES if k in data}
    if catalog:
        data["catalog_overrides"] = catalog
    settings = Settings(**data)
    if overrides:
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    return settings
