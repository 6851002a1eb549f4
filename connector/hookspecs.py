"""The hooks of fal-connector. Hooks take keyword arguments only; arguments are added, never renamed.

A plugin is a module or object with functions named like these and decorated with
``connector.hookimpl``; it is found through the ``fal_connector`` entry-point group or
registered with ``Connector(plugins=[...])``. The built-in actions are plugins too,
registered after third-party ones and marked ``trylast``, so any plugin can add or
override an action.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("fal_connector")
hookimpl = pluggy.HookimplMarker("fal_connector")


@hookspec
def register_actions() -> list[Any]:
    """Return a list of ``connector.Action`` (spec + handler); for one id the first registered wins, so plugins override built-ins."""
    raise NotImplementedError  # a hook specification: plugins implement it


@hookspec(firstresult=True)
def execute_action(action: Any, inputs: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """Perform an action with validated inputs and return its fields, or raise ``ActionError``; return None to pass."""


@hookspec
def prepare_request(action: Any, request: Any, context: Any) -> None:
    """Edit an outgoing ``connector.http.client.Request`` (headers, params) in place before it is sent."""


@hookspec(firstresult=True)
def retry_policy(action: Any, retry_class: str, context: Any) -> Any:
    """Return the ``RetryPolicy`` for one HTTP call of an action (retry class read, cancel or billable)."""


@hookspec
def action_event(event: dict[str, Any], context: Any) -> None:
    """Observe an event (started, submitted, status, retrying, cancelling, upload_fallback, succeeded,
    failed); a failing observer never breaks the action."""
