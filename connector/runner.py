"""``Connector``: validate the input, let the hooks execute the action, turn every failure
into the structured output, and check the output against its schema before returning it.

``run()`` never raises for anything a caller or the network can do.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from connector.config import Config
from connector.context import ActionContext, EventSink
from connector.errors import ActionError, InvalidInputError
from connector.http.client import HttpClient
from connector.models import Action, failure_output
from connector.plugins import get_plugin_manager
from connector.validation import check_input, field_path

if TYPE_CHECKING:
    from connector.status_stream import StatusStream

log = logging.getLogger("connector")


class Connector:
    """fal.ai as declared actions. Safe to share between threads."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        queue_url: str | None = None,
        run_url: str | None = None,
        api_url: str | None = None,
        jwks_url: str | None = None,
        rest_url: str | None = None,
        cdn_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_deadline: float | None = None,
        max_response_bytes: int | None = None,
        plugins: Iterable[Any] = (),
        load_entry_points: bool = True,
        environ: dict[str, str] | None = None,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        # ``config``: settings loaded already (the CLI loads them once for its logging and its
        # Connector); otherwise they are read from the environment and the keywords.
        self.config = config if config is not None else Config.load(
            environ,
            api_key=api_key,
            queue_url=queue_url,
            run_url=run_url,
            api_url=api_url,
            jwks_url=jwks_url,
            rest_url=rest_url,
            cdn_url=cdn_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_deadline=retry_deadline,
            max_response_bytes=max_response_bytes,
            **options,
        )
        self.log = log
        self.http = HttpClient(self.config)
        self.plugin_manager = get_plugin_manager(plugins, load_entry_points=load_entry_points)
        self._actions: dict[str, Action] = {}  # canonical ids, in registration order
        self._names: dict[str, Action] = {}  # ids and aliases
        for batch in self.plugin_manager.hook.register_actions():
            for action in batch or ():
                self._add(action)

    def _add(self, action: Action) -> None:
        if action.id in self._actions:
            return  # first registered wins: plugins come before the trylast built-ins
        self._actions[action.id] = action
        for name in (action.id, *action.spec.aliases):
            if name in self._names:
                log.warning("action name %r of %r is already taken by %r; ignored", name, action.id, self._names[name].id)
                continue
            self._names[name] = action

    def __repr__(self) -> str:
        return f"<Connector {len(self._actions)} actions, {self.config!r}>"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- discovery ---------------------------------------------------------------------

    def actions(self) -> list[dict[str, Any]]:
        """The action specs (id, title, aliases, description, annotations)."""
        return [{**a.spec.summary(), "annotations": a.spec.annotations.model_dump()} for a in self._actions.values()]

    def action(self, name: str) -> Action | None:
        """The registered action for an id or alias (None for anything else, a non-string too)."""
        return self._names.get(name) if isinstance(name, str) else None

    def describe(self, name: str) -> dict[str, Any] | None:
        action = self.action(name)
        return action.spec.describe() if action else None

    # -- running -----------------------------------------------------------------------

    def run(
        self, action: str, inputs: Any = None, *, on_event: EventSink | None = None, cancelled: threading.Event | None = None
    ) -> dict[str, Any]:
        """Run an action; always returns its output object, never raises for input or network.
        Setting ``cancelled`` asks a following action to stop."""
        found = self.action(action)
        if found is None:
            return _unknown_action(action, list(self._actions))
        return self._run(found, {} if inputs is None else inputs, on_event, cancelled)

    def stream(self, action: str, inputs: Any = None) -> StatusStream:
        """Iterate the action's status events as they arrive; never raises. After the loop,
        ``.output`` is the action's output, which says why a stream yielded nothing (bad
        input, an unknown request id, an action that does not stream); a failure is also
        logged as a warning."""
        from connector.status_stream import StatusStream  # only streaming callers pay for its import

        found = self.action(action)
        if found is None:
            return StatusStream(None, output=_unknown_action(action, list(self._actions)))
        if not found.spec.streaming:
            streams = ", ".join(a.id for a in self._actions.values() if a.spec.streaming)
            problem = InvalidInputError("action", f"{found.id} does not stream status events (use run()); Connector.stream() takes {streams}")
            return StatusStream(None, output=self.failed(found.id, problem))
        payload = {} if inputs is None else inputs
        return StatusStream(lambda on_event, cancelled: self._run(found, payload, on_event, cancelled), name=found.id)

    # -- agent platforms: thin delegations to connector.agents, imported when first called ---

    def tool_specs(self, format: str = "openai", groups: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Tool definitions of every action (or of the actions in ``groups``) for ``openai``
        (strict), ``anthropic``, ``mcp`` or ``jsonschema``."""
        from connector.agents.export import tool_specs

        return tool_specs(self, format, groups)

    def call_tool(
        self, name: str, arguments: Any = None, *, on_event: EventSink | None = None, cancelled: threading.Event | None = None
    ) -> dict[str, Any]:
        """Run one agent tool call; the output, made agent-safe (no inline media, at most
        ``max_tool_result_bytes``). ``arguments`` may be a dict or a JSON string; ``null`` for an
        optional field means not given. Setting ``cancelled`` asks a following action to stop."""
        from connector.agents.tools import call_tool

        return call_tool(self, name, arguments, on_event=on_event, cancelled=cancelled)

    def failed(self, action: str, error: ActionError, *, attempts: int = 0) -> dict[str, Any]:
        """The output ``run(action, ...)`` gives for ``error`` found before the action ran (e.g.
        input that could not even be read), or after ``attempts`` HTTP attempts of a call that was
        stopped: the action's own fields at their defaults, so it validates against the action's
        output schema; ``unknown_action`` for an unknown name."""
        found = self.action(action)
        if found is None:
            return _unknown_action(action, list(self._actions))
        return self._failure(found, error, attempts)

    def _run(
        self, action: Action, inputs: Any, on_event: EventSink | None, cancelled: threading.Event | None, *, agent: bool = False
    ) -> dict[str, Any]:
        ctx = ActionContext(
            action, config=self.config, http=self.http, plugin_manager=self.plugin_manager, run_action=self.run, on_event=on_event
        )
        ctx.agent = agent
        if cancelled is not None:
            ctx.cancelled = cancelled
        try:
            check_input(action.input_validator, inputs)
            ctx.emit("started")
            hooks = self.plugin_manager.hook
            hooks.before_execute(action=action, inputs=inputs, context=ctx)  # policy: may refuse, before any request
            result = hooks.execute_action(action=action, inputs=inputs, context=ctx)
            if not isinstance(result, dict):
                raise ActionError("http_error", f"no plugin performed action {action.id!r}")
            output = self._success(action, result)
        except ActionError as exc:
            output = self._failure(action, exc, ctx.attempts)
        except Exception as exc:  # a bug in a handler or plugin: still data, never a raise
            # The traceback is scrubbed too: an exception's text may carry the key.
            log.error("action %s failed unexpectedly\n%s", action.id, self._scrub(traceback.format_exc()))
            output = self._failure(action, ActionError("http_error", f"internal error in {action.id}: {type(exc).__name__}: {exc}"), ctx.attempts)
        if output["success"]:
            ctx.emit("succeeded")
        else:
            ctx.emit("failed", failure=output["failure"], error=output["error"])
        return output

    def _success(self, action: Action, result: dict[str, Any]) -> dict[str, Any]:
        output = dict(action.output_defaults)
        output.update(result)
        output.update(success=True, error=None, failure=None)
        for error in action.output_validator.iter_errors(output):
            where = field_path(error.absolute_path) or "(top level)"
            raise ActionError(
                "invalid_response",
                f"fal's answer does not fit the {action.id} output: field {where}: {' '.join(error.message.split())[:200]}",
            )
        return output

    def _failure(self, action: Action, exc: ActionError, attempts: int) -> dict[str, Any]:
        output = failure_output(action.output_defaults, exc, attempts=attempts, scrub=self._scrub)
        if not action.output_validator.is_valid(output):
            # Partial fields that do not fit are dropped rather than breaking the contract.
            output = {**action.output_defaults, "success": False, "error": output["error"], "failure": output["failure"]}
        return output

    def _scrub(self, value: Any) -> Any:
        return self.http.redact(value)  # the key never reaches a failure (redacted before any cut)


def _unknown_action(name: Any, known: list[str]) -> dict[str, Any]:
    # Never repr() a caller's non-string: a deeply nested or huge value cannot be printed.
    shown = name if isinstance(name, str) else f"<{type(name).__name__}>"
    error = ActionError("unknown_action", f"unknown action {shown[:100]!r}; known actions: {', '.join(known)}")
    return {"success": False, "error": error.message, "failure": error.failure()}


__all__ = ["Connector", "InvalidInputError"]
