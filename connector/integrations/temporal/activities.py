"""One Temporal activity per action of the connector, generated from its action list.

Each activity takes the action's input dict and returns its output dict. An output with
``success: false`` is raised as an ``ApplicationError`` (``type`` = ``failure.type``,
``non_retryable`` = ``not failure.retryable``, ``details[0]`` = the whole output), so Temporal's
retry policy repeats exactly what the connector calls safe to repeat.

Actions that are not idempotent (submit, ``run_model``, ``subscribe``, uploads) get one more
guard: Temporal also retries an attempt that timed out or whose worker died, and such an
attempt may have sent a billable request whose answer was lost. A retry therefore runs only
when the previous attempt recorded, as its last heartbeat, that nothing was sent
(``NOT_SENT``); any other retry fails at once, non-retryable, as ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

ACTIVITY_PREFIX = "fal."
# The heartbeat a non-idempotent attempt records before raising a retryable failure.
NOT_SENT = {"fal_phase": "not_sent"}

ActivityFn = Callable[[dict[str, Any]], Any]


def activity_name(action_id: str) -> str:
    """The registered name of an action's activity: ``fal.<action id>``."""
    return ACTIVITY_PREFIX + action_id


def failure_error(output: dict[str, Any]) -> ApplicationError:
    """The ``ApplicationError`` for a ``success: false`` output (the output rides in ``details``)."""
    failure = output.get("failure") or {}
    return ApplicationError(
        str(output.get("error") or "the action failed"),
        output,
        type=str(failure.get("type") or "unknown"),
        non_retryable=not failure.get("retryable", False),
    )


def outcome_unknown(what: str) -> ApplicationError:
    return ApplicationError(
        f"{what}: a previous attempt may have sent it and its answer was lost; "
        "check fal (request history, webhooks) before sending it again",
        {"success": False, "error": f"{what}: outcome of a previous attempt unknown",
         "failure": {"type": "outcome_unknown", "retryable": False}},
        type="outcome_unknown",
        non_retryable=True,
    )


def retry_is_safe(info: activity.Info) -> bool:
    """True on a first attempt, or when the previous attempt recorded that nothing was sent."""
    if info.attempt <= 1:
        return True
    details: Sequence[Any] = info.heartbeat_details
    return bool(details) and details[-1] == NOT_SENT


async def run_action(connector: Any, action_id: str, inputs: dict[str, Any], *, once_only: bool) -> dict[str, Any]:
    """Run one action in a thread (the connector is blocking) and raise its failure, if any."""
    if once_only and not retry_is_safe(activity.info()):
        raise outcome_unknown(action_id)
    output: dict[str, Any] = await asyncio.to_thread(connector.run, action_id, inputs)
    if output.get("success"):
        return output
    if once_only and (output.get("failure") or {}).get("retryable"):
        activity.heartbeat(NOT_SENT)  # the connector calls a repeat safe: nothing was enqueued
    raise failure_error(output)


def action_activities(connector: Any) -> list[ActivityFn]:
    """One activity per action of ``connector`` (its manifest plus plugins), named ``fal.<id>``."""
    made: list[ActivityFn] = []
    for spec in connector.actions():
        once_only = not (spec.get("annotations") or {}).get("idempotent", False)
        made.append(_make(connector, spec["id"], once_only))
    return made


def _make(connector: Any, action_id: str, once_only: bool) -> ActivityFn:
    async def run(inputs: dict[str, Any]) -> dict[str, Any]:
        return await run_action(connector, action_id, inputs, once_only=once_only)

    run.__name__ = run.__qualname__ = action_id
    run.__doc__ = f"The connector's `{action_id}` action as a Temporal activity."
    return activity.defn(name=activity_name(action_id))(run)
