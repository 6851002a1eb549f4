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
    # Status updates can come many times a second: DEBUG. The rest mark the steps of a run: INFO.
    level = logging.DEBUG if event["type"] == "status" else logging.INFO
    if log.isEnabledFor(level):
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("action", "type"))
        log.log(level, "%s %s %s", event["action"], event["type"], fields)
