"""Configuration: the environment variables and ``Connector(...)`` keywords.

One immutable ``Config`` per ``Connector``; keywords win over the environment, and an empty
value counts as absent. The API key is a ``SecretStr`` so no ``repr`` can show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector._model import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

# kwarg -> environment variable, for everything that is not the key.
_ENV = {
    "queue_url": "FAL_QUEUE_URL",
    "run_url": "FAL_RUN_URL",
    "api_url": "FAL_API_URL",
    "jwks_url": "FAL_JWKS_URL",
    "rest_url": "FAL_REST_URL",
    "cdn_url": "FAL_CDN_URL",
    "timeout": "FAL_CONNECTOR_TIMEOUT",
    "max_retries": "FAL_CONNECTOR_MAX_RETRIES",
    "retry_deadline": "FAL_CONNECTOR_RETRY_DEADLINE",
    "max_response_bytes": "FAL_CONNECTOR_MAX_RESPONSE_BYTES",
    # Agent platforms (connector.agents, connector.default_plugins.guardrails).
    "allowed_models": "FAL_CONNECTOR_ALLOWED_MODELS",
    "max_cost_usd": "FAL_CONNECTOR_MAX_COST_USD",
    "min_balance_usd": "FAL_CONNECTOR_MIN_BALANCE_USD",
    "balance_cache_seconds": "FAL_CONNECTOR_BALANCE_CACHE_SECONDS",
    "max_tool_result_bytes": "FAL_CONNECTOR_MAX_TOOL_RESULT_BYTES",
    "download_dirs": "FAL_CONNECTOR_DOWNLOAD_DIRS",
    "upload_dirs": "FAL_CONNECTOR_UPLOAD_DIRS",
}

# Hosts whose configured origin may receive the API key. jwks and cdn never do.
KEYED_HOSTS = ("queue", "run", "api", "rest")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the setting."""


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    queue_url: str = "https://queue.fal.run"
    run_url: str = "https://fal.run"
    api_url: str = "https://api.fal.ai/v1"
    jwks_url: str = "https://rest.fal.ai/.well-known/jwks.json"
    rest_url: str = "https://rest.fal.ai"
    cdn_url: str = "https://v3.fal.media"
    timeout: float = Field(30.0, gt=0, le=3600)
    max_retries: int | None = Field(None, ge=0, le=100)
    retry_deadline: float = Field(60.0, gt=0, le=86400)
    # A body larger than this is refused as invalid_response and never loaded whole.
    max_response_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # upload_file: one POST up to the threshold, multipart parts of upload_part_size above it.
    upload_multipart_threshold: int = Field(100 * 1024 * 1024, ge=1)
    upload_part_size: int = Field(10 * 1024 * 1024, ge=1)
    # Exponential backoff between retries when the answer carries no Retry-After.
    backoff_base: float = Field(0.5, ge=0)
    backoff_max: float = Field(8.0, ge=0)
    # Cost guardrails (connector.default_plugins.guardrails) for the billable actions. None means
    # not configured. allowed_models: fnmatch globs against the normalised endpoint id (the env
    # variable is comma-separated; an empty list allows no model). max_cost_usd: the largest
    # estimated cost of one call.
    allowed_models: tuple[str, ...] | None = None
    max_cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    # Balance guardrail (connector.default_plugins.balance_guard): refuse billable calls while
    # get_balance reports less than min_balance_usd; a balance read is reused for
    # balance_cache_seconds (0: read it every time).
    min_balance_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    balance_cache_seconds: float = Field(30.0, ge=0, le=3600, allow_inf_nan=False)
    # Largest tool result (compact JSON bytes) call_tool and the MCP server return to an agent.
    max_tool_result_bytes: int = Field(100_000, ge=1024)
    # Directories an agent's download_file may write into (the variable is os.pathsep-separated);
    # None: agents may not download at all. run() and the CLI are not limited by it.
    download_dirs: tuple[str, ...] | None = None
    # Directories upload_file may read a local path from (the variable is os.pathsep-separated).
    # Set, it binds every caller; None: agents may not upload local paths, run() and the CLI may.
    upload_dirs: tuple[str, ...] | None = None

    @field_validator("api_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> Any:
        # It goes into an HTTP header: a stray newline (a key read from a file) is trimmed, and
        # anything that cannot be a header value is refused here, not at the first request.
        # The message never repeats the key.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = value.strip()
            if not value or any(not "\x21" <= ch <= "\x7e" for ch in value):
                raise ValueError("must be printable ASCII without spaces or control characters (check FAL_KEY)")
        return value

    @field_validator("queue_url", "run_url", "api_url", "jwks_url", "rest_url", "cdn_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            patterns = [p.strip() for p in value.split(",") if p.strip()]
            if not patterns:
                raise ValueError("expected comma-separated glob patterns such as 'fal-ai/flux/*'")
            return tuple(patterns)
        if isinstance(value, (list, tuple, set, frozenset)):
            if not all(isinstance(p, str) and p.strip() for p in value):
                raise ValueError("every pattern must be a non-empty string")
            return tuple(p.strip() for p in value)
        return value

    @field_validator("download_dirs", "upload_dirs", mode="before")
    @classmethod
    def _dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [d for d in value.split(os.pathsep) if d.strip()]
        if isinstance(value, (list, tuple)):
            if not value or not all(isinstance(d, str) and d.strip() for d in value):
                raise ValueError(f"expected one or more directories, separated by {os.pathsep!r} in the variable")
            return tuple(d.strip() for d in value)
        return value

    @property
    def connect_timeout(self) -> float:
        return min(5.0, self.timeout)

    def base_url(self, host: str) -> str:
        """The configured base URL of a manifest host name (queue, run, api, jwks, rest, cdn)."""
        return str(getattr(self, f"{host}_url"))

    def keyed_origins(self) -> frozenset[tuple[str, str, int]]:
        """The (scheme, host, port) origins that may receive the API key."""
        return frozenset(origin_of(self.base_url(h)) for h in KEYED_HOSTS)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build from the environment, then keywords (keywords win; None means "not given")."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        key = env.get("FAL_KEY") or None
        if key is None and env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
            key = f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}"
        if key:
            values["api_key"] = key
        for name, var in _ENV.items():
            if env.get(var):
                values[name] = env[var]
        for name, value in overrides.items():
            if value is not None and value != "":
                values[name] = value
        try:
            config: Config = cls.model_validate(values)
            return config
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "config"
            source = f"{name} (env {_ENV[name]})" if name in _ENV else name
            raise ConfigError(f"invalid configuration: {source}: {err['msg']}") from None

    def __repr__(self) -> str:  # SecretStr already hides the key; keep the repr short too
        return f"Config(queue_url={self.queue_url!r}, api_url={self.api_url!r}, key={'set' if self.api_key else 'absent'})"


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port
