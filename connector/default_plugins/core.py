"""Default hook implementations every action relies on: run the registered handler, pick the
retry policy from the action's retry class and the configuration, and log events."""

from __future__ import annotations

import logging
from typing import Any

from connector.hookspecs import hookimpl
from connector.http.retry import DEFAULT_RETRIES, RetryPolicy

log = logging.getLogger("connector.events")


@hookimpl(trylast=True)
def execute_action(action: Any, inputs: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = action.handler(inputs, context)
    return result


@hookimpl(trylast=True)
def retry_policy(action: Any, retry_class: str, context: Any) -> RetryPolicy:
    config = context.config
    retries = config.max_retries if config.max_retries is not None else DEFAULT_RETRIES[retry_class]
    return RetryPolicy(retry_class, retries, config.retry_deadline, config.backoff_base, config.backoff_max)


@hookimpl(trylast=True)
def action_event(event: dict[str, Any], context: Any) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s", event["action"], {k: v for k, v in event.items() if k != "action"})
