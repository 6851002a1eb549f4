"""What the money guardrails (max_cost_usd, min_balance_usd) share: reading an amount in USD
from the answer of the action they ask (estimate_pricing, get_balance), keeping it for a while,
and refusing the call when that answer cannot be used, because a limit that cannot be checked
is not a limit."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from connector.errors import ActionError
from connector.http.retry import inherited


class AmountCache:
    """Key -> (expires at, USD); thread-safe; only amounts that were read are kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[float, float]] = {}

    def get(self, key: Any) -> float | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= time.monotonic():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: Any, usd: float, ttl: float) -> None:
        with self._lock:
            if ttl > 0:
                self._items[key] = (time.monotonic() + ttl, usd)
            else:
                self._items.pop(key, None)


def usd_amount(value: Any, currency: Any) -> float | None:
    """A finite number of USD, from a number or a numeric string (fal's type may drift); None
    for anything else, another currency included (no currency given means USD)."""
    if str(currency or "USD").upper() != "USD" or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = float(value)
    except ValueError:
        return None
    return amount if math.isfinite(amount) else None


def unreadable(action: Any, rule: str, limit: float, what: str, out: dict[str, Any], detail: dict[str, Any],
               failure_key: str) -> ActionError:
    """The refusal when the action asked for ``what`` failed (its output ``out``): as repeatable
    as that failure, which ``detail`` carries under ``failure_key``."""
    failure = out.get("failure") or {}
    return ActionError(
        "policy_denied",
        f"{action.id} refused: {rule} {limit:g} USD is set but {what} ({failure.get('type')}: {out.get('error')}); nothing was sent",
        retryable=inherited(failure),
        detail={"rule": rule, **detail, failure_key: failure},
    )


def not_usd(action: Any, rule: str, limit: float, what: str, value: Any, currency: Any, detail: dict[str, Any]) -> ActionError:
    """The refusal when the answer is not an amount in USD: ``what`` is how the value is named."""
    return ActionError(
        "policy_denied",
        f"{action.id} refused: {rule} {limit:g} USD is set but {what} {value!r} {currency!r}, not an amount in USD; nothing was sent",
        detail={"rule": rule, **detail},
    )
