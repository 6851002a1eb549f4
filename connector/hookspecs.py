"""The hooks of fal-connector. Hooks take keyword arguments only; arguments are added, never renamed.

A plugin is a module or object with functions named like these and decorated with
``connector.hookimpl``; it is found through the ``fal_connector`` entry-point group or
registered with ``Connector(plugins=[...])``. An implementation may take any subset of a
hook's arguments (``def action_event(event)`` is fine). A function marked ``hookimpl`` whose
name is not a hook below fails the Connector's construction, so a misspelt hook is never
silently ignored. The built-in actions are plugins too, registered after third-party ones and
marked ``trylast``, so any plugin can add or override an action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from connector.context import ActionContext
    from connector.http.client import Request
    from connector.http.retry import RetryPolicy
    from connector.models import Action

hookspec = pluggy.HookspecMarker("fal_connector")
hookimpl = pluggy.HookimplMarker("fal_connector")


@hookspec
def register_actions() -> list[Action]:
    """Return a list of ``connector.Action`` (spec + handler); for one id the first registered wins, so plugins override built-ins."""
    raise NotImplementedError  # a hook specification: plugins implement it


@hookspec
def before_execute(action: Action, inputs: dict[str, Any], context: ActionContext) -> None:
    """Policy: called with validated inputs before the action runs; raise ``ActionError`` (e.g.
    ``policy_denied``) to refuse it before anything is sent. Every implementation is called."""


@hookspec(firstresult=True)
def execute_action(action: Action, inputs: dict[str, Any], context: ActionContext) -> dict[str, Any] | None:
    """Perform an action with validated inputs and return its fields, or raise ``ActionError``; return None to pass."""


@hookspec
def prepare_request(action: Action, request: Request, context: ActionContext) -> None:
    """Edit an outgoing ``connector.http.client.Request`` (headers, params) in place before it is sent."""


@hookspec(firstresult=True)
def retry_policy(action: Action, retry_class: str, context: ActionContext) -> RetryPolicy | None:
    """Return the ``RetryPolicy`` for one HTTP call of an action (retry class read, cancel or billable)."""


@hookspec
def action_event(event: dict[str, Any], context: ActionContext) -> None:
    """Observe an event (started, submitted, status, retrying, cancelling, upload_fallback, succeeded,
    failed); a failing observer is logged and never breaks the action or the other observers."""
