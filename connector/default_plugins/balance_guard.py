"""The balance guardrail: refuse a billable call while the account's credit is below a floor.

``min_balance_usd`` / ``FAL_CONNECTOR_MIN_BALANCE_USD``
    the smallest balance, in USD, at which billable calls are still sent. The balance is the
    connector's own ``get_balance`` (fal's ``GET /account/billing?expand=credits``; it needs a key
    with billing read access, an admin key). It is reused for ``balance_cache_seconds`` /
    ``FAL_CONNECTOR_BALANCE_CACHE_SECONDS`` (default 30; 0 asks every time), so a burst of
    calls costs one balance request. When the balance cannot be had (fal unreachable, a key
    without billing access, another currency) the call is refused: a floor that cannot be
    checked is not a floor.

The billable actions are those whose manifest ``retry`` class is ``billable``. A refusal is
``failure.type: policy_denied``, ``attempts: 0``, with ``detail.rule`` ``min_balance_usd``,
the floor and the balance seen.
"""

from __future__ import annotations

from typing import Any

from connector.default_plugins.refusals import AmountCache, not_usd, unreadable, usd_amount
from connector.errors import ActionError
from connector.hookspecs import hookimpl
from connector.plugin_state import PerConnector

_BALANCES = PerConnector(AmountCache)  # the cached balance (key None), one cache per Connector


@hookimpl(trylast=True)  # after the model and cost rules: a refused call costs no balance read
def before_execute(action: Any, inputs: dict[str, Any], context: Any) -> None:
    floor = context.config.min_balance_usd
    if floor is None or action.spec.retry != "billable":
        return None
    context.require_key()  # what the action itself would answer, before the balance is asked
    check_balance(action, floor, context)
    return None


def check_balance(action: Any, floor: float, context: Any) -> None:
    """Refuse ``action`` (policy_denied) unless the balance is at least ``floor`` USD."""
    balance = _balance(action, floor, context)
    if balance >= floor:
        return
    raise ActionError(
        "policy_denied",
        f"{action.id} refused: the account balance is {balance:g} USD, below min_balance_usd {floor:g} USD "
        "(FAL_CONNECTOR_MIN_BALANCE_USD); nothing was sent",
        detail={"rule": "min_balance_usd", "min_balance_usd": floor, "balance_usd": balance},
    )


def _balance(action: Any, floor: float, context: Any) -> float:
    cache = _BALANCES.get(context)
    cached = cache.get(None)
    if cached is not None:
        return cached
    out = context.run_action("get_balance", {})
    balance, currency = out.get("current_balance"), out.get("currency")
    detail = {"min_balance_usd": floor, "balance_usd": None}
    if not out.get("success"):
        raise unreadable(action, "min_balance_usd", floor, "the balance could not be read", out, detail, "balance_failure")
    amount = usd_amount(balance, currency)
    if amount is None:
        raise not_usd(action, "min_balance_usd", floor, "fal reports the balance as", balance, currency, detail)
    cache.put(None, amount, context.config.balance_cache_seconds)
    return amount

