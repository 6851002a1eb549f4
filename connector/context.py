"""What a handler gets for one action call: configuration, HTTP with the action's retry
policy and deadline, events, and the attempt count that ends up in ``failure.attempts``.

It is not the ``Connector``: a handler reaches the settings (``config``), the network
(``request``), the events (``emit``) and the deadline, and runs another action only through
``run_action``. A plugin's per-Connector state lives in the plugin (``connector.plugin_state``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from connector.errors import ActionError
from connector.http.client import Request, json_body
from connector.http.retry import outcome_retryable, unusable_answer

if TYPE_CHECKING:
    import pluggy

    from connector.config import Config
    from connector.http.client import HttpClient
    from connector.models import Action

EventSink = Callable[[dict[str, Any]], None]
RunAction = Callable[[str, Any], dict[str, Any]]

log = logging.getLogger("connector")


class ActionContext:
    def __init__(
        self,
        action: Action,
        *,
        config: Config,
        http: HttpClient,
        plugin_manager: pluggy.PluginManager,
        run_action: RunAction,
        on_event: EventSink | None = None,
    ) -> None:
        self.config = config
        self.http = http
        self.plugin_manager = plugin_manager  # the Connector's plugins (also the key of their state)
        self.run_action = run_action  # run another action of the same Connector, as Connector.run
        self.action = action
        self.started = time.monotonic()
        # Each HTTP call may retry until this moment (the retry_deadline setting).
        self.deadline_at = self.started + self.config.retry_deadline
        self.attempts = 0
        self._attempts_lock = threading.Lock()  # upload_file sends its parts from several threads
        self.cancelled = threading.Event()  # set when a stream() consumer went away
        self.agent = False  # True for an agent's tool call (call_tool, MCP): path guardrails apply
        self._on_event = on_event

    # -- HTTP --------------------------------------------------------------------------

    def url(self, host: str, path: str) -> str:
        return self.config.base_url(host) + path

    def require_key(self) -> None:
        if self.config.api_key is None:
            raise ActionError(
                "missing_credentials",
                f"{self.action.id} needs a fal API key: set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET), "
                "or pass api_key=... to Connector",
            )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        stream: bool = False,
        retry_class: str | None = None,
        deadline_at: float | None = None,
        read_timeout: float | None = None,
        body_deadline_at: float | None = None,
    ) -> requests.Response:
        """Send one call with retries; a 2xx response or an ``ActionError``."""
        pm = self.plugin_manager
        request = Request(method, url, params=params, headers=dict(headers or {}), json=json, data=data, auth=auth, stream=stream, read_timeout=read_timeout,
                          body_deadline_at=body_deadline_at)
        pm.hook.prepare_request(action=self.action, request=request, context=self)
        policy = pm.hook.retry_policy(action=self.action, retry_class=retry_class or self.action.spec.retry, context=self)
        return self.http.send(
            request,
            policy,
            self.deadline_at if deadline_at is None else deadline_at,
            on_attempt=self._count_attempt,
            on_retry=lambda event: self.emit(event.pop("type"), **event),
        )

    def json(self, response: requests.Response, what: str) -> Any:
        """The parsed body of a success answer, or ``invalid_response`` naming what it was."""
        return json_body(response, what, retry_class=self.action.spec.retry)

    def require_fields(self, body: Any, what: str, *fields: str) -> dict[str, Any]:
        """``body`` as a JSON object that has ``fields``, or ``invalid_response`` naming the first missing."""
        if not isinstance(body, dict):
            raise self.unusable(what, f"expected a JSON object from fal, got {type(body).__name__}", body)
        missing = next((name for name in fields if name not in body), None)
        if missing is not None:
            raise self.unusable(what, f"fal's answer lacks the field {missing!r}", body)
        return body

    def unusable(self, what: str, message: str, body: Any) -> ActionError:
        """``invalid_response`` for a success answer (``body``) that is not what fal documents;
        retryable as the retry table says for this action's class."""
        verdict = unusable_answer(self.action.spec.retry)
        return ActionError(verdict.type, f"{what}: {message}", retryable=verdict.retryable, detail=body if len(repr(body)) < 2000 else None)

    def outcome_retryable(self, failure_type: str | None, answered: bool) -> bool:
        """Whether a fal error answer the action declares as its own outcome is retryable (the
        retry table's answer; declared operations sit below the HTTP layer and ask here)."""
        return outcome_retryable(failure_type, answered)

    def _count_attempt(self) -> None:
        with self._attempts_lock:
            self.attempts += 1

    # -- events ------------------------------------------------------------------------

    def emit(self, type: str, **fields: Any) -> None:
        """Tell the per-call observer and every ``action_event`` plugin; never raises."""
        event = {"type": type, "action": self.action.id, **fields}
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # an observer must not break the action
                log.warning("on_event callback failed for %s", type, exc_info=True)
        try:  # each observer is guarded on its own (connector.plugins); this catches a wrapper's failure
            self.plugin_manager.hook.action_event(event=event, context=self)
        except Exception:
            log.warning("action_event hook failed for %s", type, exc_info=True)
