"""Cost guardrails: refuse a billable call before anything billable is sent.

Two settings (environment and ``Connector(...)`` keywords), both off by default (the balance
floor, ``min_balance_usd``, is balance_guard.py's own hook):

``allowed_models`` / ``FAL_CONNECTOR_ALLOWED_MODELS``
    glob patterns (``fnmatch``, case-sensitive; ``*`` also matches ``/``) matched against the
    normalised endpoint id (``fast-sdxl`` is ``fal-ai/fast-sdxl``); the variable is
    comma-separated. A model no pattern matches is refused. An empty list allows none.
``max_cost_usd`` / ``FAL_CONNECTOR_MAX_COST_USD``
    the largest estimated cost, in USD, of one call. The estimate is the connector's own
    ``estimate_pricing`` with ``historical_api_price`` and ``call_quantity`` 1: fal's historical
    average cost of one call of that endpoint, which (unlike ``get_pricing``'s unit price)
    does not depend on what the unit is (image, megapixel, second, GPU time). Estimates are
    cached per ``Connector`` for ``ESTIMATE_TTL`` seconds. When no estimate can be had (fal
    unreachable, endpoint unknown to pricing, another currency) the call is refused: a budget
    that cannot be checked is not a budget.

The billable actions are those whose manifest ``retry`` class is ``billable``
(``add_request_to_queue``, ``subscribe``, ``run_model``, and any plugin action declared so).
A refusal is ``failure.type: policy_denied`` naming the rule, ``attempts: 0``; ``detail`` says
which rule, the model, and the patterns or the budget and the estimate.

Local paths are limited to configured directories (``os.pathsep``-separated in the variables;
a path is resolved, symlinks followed, and must fall inside one of them):

``download_dirs`` / ``FAL_CONNECTOR_DOWNLOAD_DIRS``
    where an agent's ``download_file`` (``call_tool``, the MCP server) may write; unset, agents
    cannot download at all. ``run()`` and the CLI are not limited by it.
``upload_dirs`` / ``FAL_CONNECTOR_UPLOAD_DIRS``
    where ``upload_file``'s ``path`` may be read from. Set, it binds every caller; unset, agents
    may upload only ``data_base64`` (no local path) and ``run()`` and the CLI read any path.

A refusal is ``policy_denied`` naming the setting; nothing is read or sent.

This is a ``before_execute`` policy: it runs before every action (after input validation,
before any request), so with no guardrail configured it returns at once.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from connector.default_plugins.refusals import AmountCache, not_usd, unreadable, usd_amount
from connector.errors import ActionError
from connector.fal.app_id import parse_app_id
from connector.hookspecs import hookimpl
from connector.plugin_state import PerConnector

if TYPE_CHECKING:
    from connector.context import ActionContext
    from connector.models import Action

ESTIMATE_TTL = 60.0  # seconds an estimate is reused


@hookimpl
def before_execute(action: Action, inputs: dict[str, Any], context: ActionContext) -> None:
    config = context.config
    if context.agent and action.id == "download_file":
        from connector.default_plugins.download import target_path

        _require_inside(action, target_path(inputs), config.download_dirs, "download_dirs", "an agent may save files")
    if (context.agent or config.upload_dirs is not None) and action.id == "upload_file" and inputs.get("path") is not None:
        who = "an agent may upload local files" if context.agent else "upload_file may read local files"
        hint = " (send the bytes as data_base64 instead)" if config.upload_dirs is None else ""
        _require_inside(action, str(inputs["path"]), config.upload_dirs, "upload_dirs", who, hint)
    if config.allowed_models is None and config.max_cost_usd is None:
        return None
    if action.spec.retry != "billable":
        return None
    endpoint = _endpoint(action, inputs)
    if config.allowed_models is not None:
        _check_allowed(action, endpoint, config.allowed_models)
    if config.max_cost_usd is not None:
        context.require_key()  # what the action itself would answer, before pricing is asked
        _check_budget(action, endpoint, config.max_cost_usd, context)
    return None  # allowed: the action runs as usual


def _require_inside(action: Any, given: str, dirs: tuple[str, ...] | None, rule: str, who: str, hint: str = "") -> None:
    """``given`` (resolved, symlinks followed) must fall strictly inside one of ``dirs``; no
    ``dirs`` refuses every path. ``rule`` names the setting (``download_dirs``, ``upload_dirs``)."""
    try:
        path = os.path.realpath(given)
        roots = [os.path.realpath(folder) for folder in dirs or ()]
    except (ValueError, UnicodeError):  # a NUL byte or an unencodable name: no such file anyway
        path, roots = given, []
    for root in roots:
        if os.path.commonpath([root, path]) == root and path != root:
            return
    setting = f"FAL_CONNECTOR_{rule.upper()}"
    shown = os.pathsep.join(dirs) if dirs else "not set"
    raise ActionError(
        "policy_denied",
        f"{action.id} refused: {who} only inside {setting} ({shown}; or Connector({rule}=...)), "
        f"and {path!r} is not{hint}; nothing was read or sent",
        detail={"rule": rule, "path": path, rule: list(dirs or ())},
    )


def _endpoint(action: Any, inputs: dict[str, Any]) -> str:
    app_id = inputs.get("app_id")
    if app_id is None:
        raise ActionError(
            "policy_denied",
            f"{action.id} refused: a guardrail is configured but this billable action has no app_id to check it against",
            detail={"rule": "allowed_models", "model": None},
        )
    return parse_app_id(app_id).endpoint  # invalid ids are invalid_input, as for the action


def _check_allowed(action: Any, endpoint: str, patterns: tuple[str, ...]) -> None:
    if any(fnmatchcase(endpoint, pattern) for pattern in patterns):
        return
    shown = ", ".join(patterns) if patterns else "(none: the list is empty)"
    raise ActionError(
        "policy_denied",
        f"{action.id} refused: model {endpoint!r} is not in allowed_models ({shown}; set by "
        "FAL_CONNECTOR_ALLOWED_MODELS or Connector(allowed_models=...)); nothing was sent",
        detail={"rule": "allowed_models", "model": endpoint, "allowed_models": list(patterns)},
    )


def _check_budget(action: Any, endpoint: str, budget: float, context: Any) -> None:
    cost = _estimate(action, endpoint, budget, context)
    if cost <= budget:
        return
    raise ActionError(
        "policy_denied",
        f"{action.id} refused: the estimated cost of one call of {endpoint!r} is {cost:g} USD, above "
        f"max_cost_usd {budget:g} USD (FAL_CONNECTOR_MAX_COST_USD); nothing was sent",
        detail={"rule": "max_cost_usd", "model": endpoint, "max_cost_usd": budget, "estimate_usd": cost},
    )


_ESTIMATES = PerConnector(AmountCache)  # this plugin's estimates by endpoint, one cache per Connector


def _estimate(action: Any, endpoint: str, budget: float, context: Any) -> float:
    cache = _ESTIMATES.get(context)
    cost = cache.get(endpoint)
    if cost is not None:
        return cost
    out = context.run_action(
        "estimate_pricing",
        {"estimate_type": "historical_api_price", "endpoints": {endpoint: {"call_quantity": 1}}},
    )
    detail = {"model": endpoint, "max_cost_usd": budget, "estimate_usd": None}
    if not out.get("success"):
        raise unreadable(action, "max_cost_usd", budget, f"the cost of {endpoint!r} could not be estimated", out, detail,
                         "estimate_failure")
    total, currency = out.get("total_cost"), out.get("currency")
    cost = usd_amount(total, currency)
    if cost is None:
        raise not_usd(action, "max_cost_usd", budget, f"fal's estimate for {endpoint!r} is", total, currency, detail)
    cache.put(endpoint, cost, ESTIMATE_TTL)
    return cost
