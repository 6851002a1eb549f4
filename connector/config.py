"""Configuration: the environment variables and ``Connector(...)`` keywords.

One immutable ``Config`` per ``Connector``; keywords win over the environment, and an empty
value counts as absent. The API key is a ``SecretStr`` so no ``repr``, ``str`` or dump can show it.

``Config`` is a frozen dataclass; ``_FIELDS`` says how each setting is read (a number from its
environment text, the bounds it must keep) and every refusal is a ``ConfigError`` naming the
setting and its variable. ``model_dump()``, ``model_dump_json()`` and ``model_copy()`` are kept
from the pydantic model it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connector.record import FrozenDataclass

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


class SecretStr:
    """A string that never shows in ``repr``, ``str`` or JSON dumps (as pydantic's ``SecretStr``)."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and self._secret_value == other._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)

    def __len__(self) -> int:
        return len(self._secret_value)

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr({str(self)!r})"


@dataclass(repr=False, eq=False)  # frozen, eq and hash: FrozenDataclass
class Config(FrozenDataclass):
    """Every setting, read and checked once (see ``_FIELDS``); immutable."""

    api_key: SecretStr | None = None
    queue_url: str = "https://queue.fal.run"
    run_url: str = "https://fal.run"
    api_url: str = "https://api.fal.ai/v1"
    jwks_url: str = "https://rest.fal.ai/.well-known/jwks.json"
    rest_url: str = "https://rest.fal.ai"
    cdn_url: str = "https://v3.fal.media"
    timeout: float = 30.0
    max_retries: int | None = None
    retry_deadline: float = 60.0
    # A body larger than this is refused as invalid_response and never loaded whole.
    max_response_bytes: int = 64 * 1024 * 1024
    # upload_file: one POST up to the threshold, multipart parts of upload_part_size above it.
    upload_multipart_threshold: int = 100 * 1024 * 1024
    upload_part_size: int = 10 * 1024 * 1024
    # Exponential backoff between retries when the answer carries no Retry-After.
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # Cost guardrails (connector.default_plugins.guardrails) for the billable actions. None means
    # not configured. allowed_models: fnmatch globs against the normalised endpoint id (the env
    # variable is comma-separated; an empty list allows no model). max_cost_usd: the largest
    # estimated cost of one call.
    allowed_models: tuple[str, ...] | None = None
    max_cost_usd: float | None = None
    # Balance guardrail (connector.default_plugins.balance_guard): refuse billable calls while
    # get_balance reports less than min_balance_usd; a balance read is reused for
    # balance_cache_seconds (0: read it every time).
    min_balance_usd: float | None = None
    balance_cache_seconds: float = 30.0
    # Largest tool result (compact JSON bytes) call_tool and the MCP server return to an agent.
    max_tool_result_bytes: int = 100_000
    # Directories an agent's download_file may write into (the variable is os.pathsep-separated);
    # None: agents may not download at all. run() and the CLI are not limited by it.
    download_dirs: tuple[str, ...] | None = None
    # Directories upload_file may read a local path from (the variable is os.pathsep-separated).
    # Set, it binds every caller; None: agents may not upload local paths, run() and the CLI may.
    upload_dirs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name, read in _FIELDS.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            try:
                object.__setattr__(self, name, read(value))
            except ValueError as exc:
                source = f"{name} (env {_ENV[name]})" if name in _ENV else name
                raise ConfigError(f"invalid configuration: {source}: {exc}") from None

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
        key = key_from_env(env)
        if key:
            values["api_key"] = key
        for name, var in _ENV.items():
            if env.get(var):
                values[name] = env[var]
        for name, value in overrides.items():
            if value is not None and value != "":
                values[name] = value
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"invalid configuration: {unknown[0]}: not a setting (settings: {', '.join(_FIELDS)})")
        return cls(**values)

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Every setting by name; the key stays a ``SecretStr`` (``mode="json"``: masked text, lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if mode == "json":
            out = {name: str(v) if isinstance(v, SecretStr) else list(v) if isinstance(v, tuple) else v for name, v in out.items()}
        return out

    def model_dump_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Config:
        return dataclasses.replace(self, **(update or {}))

    def __repr__(self) -> str:  # SecretStr already hides the key; keep the repr short too
        return f"Config(queue_url={self.queue_url!r}, api_url={self.api_url!r}, key={'set' if self.api_key else 'absent'})"


def key_from_env(env: Mapping[str, str]) -> str | None:
    """The key as the environment gives it (``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET``), unchecked."""
    key = env.get("FAL_KEY") or None
    if key is None and env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
        key = f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}"
    return key


# -- how each setting is read -----------------------------------------------------------------


def _key(value: Any) -> SecretStr:
    # It goes into an HTTP header: a stray newline (a key read from a file) is trimmed, and
    # anything that cannot be a header value is refused here, not at the first request.
    # The message never repeats the key.
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    value = _text(value).strip()
    if not value or any(not "\x21" <= ch <= "\x7e" for ch in value):
        raise ValueError("must be printable ASCII without spaces or control characters (check FAL_KEY)")
    return SecretStr(value)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("expected text, got bytes that are not UTF-8") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _base_url(value: Any) -> str:
    url = _text(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return url.rstrip("/")


def _number(value: Any, integer: bool) -> float | int:
    """A number from a number or its text (as the environment gives it); bool counts as 0/1."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        try:
            if not text.isascii():
                raise ValueError
            if integer and "." in text:
                text = text.rstrip("0").rstrip(".")  # "3.0" is 3; "3.5" and "1e3" are not integers
            value = int(text) if integer else float(text)
        except ValueError:
            raise ValueError(f"expected {'an integer' if integer else 'a number'}, got {value!r}") from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"expected {'an integer' if integer else 'a number'}, got {type(value).__name__}")
    if integer and not isinstance(value, int):
        if not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
    return int(value) if integer else float(value)


def _bounded(integer: bool = False, gt: float | None = None, ge: float | None = None, le: float | None = None,
             finite: bool = False) -> Callable[[Any], Any]:
    """A reader of one numeric setting, with its bounds."""
    words = [f"> {gt}" if gt is not None else "", f">= {ge}" if ge is not None else "", f"<= {le}" if le is not None else ""]
    expected = f"{'an integer' if integer else 'a number'} {' and '.join(w for w in words if w)}".strip()

    def read(value: Any) -> Any:
        number = _number(value, integer)
        if finite and not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {number!r}")
        if (gt is not None and not number > gt) or (ge is not None and not number >= ge) or (le is not None and not number <= le):
            raise ValueError(f"expected {expected}, got {number!r}")
        return number

    return read


def _patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        patterns = [p.strip() for p in value.split(",") if p.strip()]
        if not patterns:
            raise ValueError("expected comma-separated glob patterns such as 'fal-ai/flux/*'")
        return tuple(patterns)
    if isinstance(value, (list, tuple, set, frozenset)):
        if not all(isinstance(p, str) and p.strip() for p in value):
            raise ValueError("every pattern must be a non-empty string")
        return tuple(p.strip() for p in value)
    raise ValueError(f"expected comma-separated glob patterns or a list of them, got {type(value).__name__}")


def _dirs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [d for d in value.split(os.pathsep) if d.strip()]
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(d, str) and d.strip() for d in value):
            raise ValueError(f"expected one or more directories, separated by {os.pathsep!r} in the variable")
        return tuple(d.strip() for d in value)
    raise ValueError(f"expected one or more directories, got {type(value).__name__}")


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "api_key": _key,
    **dict.fromkeys(("queue_url", "run_url", "api_url", "jwks_url", "rest_url", "cdn_url"), _base_url),
    "timeout": _bounded(gt=0, le=3600),
    "max_retries": _bounded(integer=True, ge=0, le=100),
    "retry_deadline": _bounded(gt=0, le=86400),
    "max_response_bytes": _bounded(integer=True, ge=1024),
    "upload_multipart_threshold": _bounded(integer=True, ge=1),
    "upload_part_size": _bounded(integer=True, ge=1),
    "backoff_base": _bounded(ge=0),
    "backoff_max": _bounded(ge=0),
    "allowed_models": _patterns,
    "max_cost_usd": _bounded(ge=0, finite=True),
    "min_balance_usd": _bounded(ge=0, finite=True),
    "balance_cache_seconds": _bounded(ge=0, le=3600, finite=True),
    "max_tool_result_bytes": _bounded(integer=True, ge=1024),
    "download_dirs": _dirs,
    "upload_dirs": _dirs,
}
# Settings that may be None (not configured): those whose default is None.
_OPTIONAL = frozenset(f.name for f in dataclasses.fields(Config) if f.default is None)


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port
