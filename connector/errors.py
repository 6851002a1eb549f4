"""Failures, as exceptions inside the package and as data at its edge.

Handlers and the HTTP layer raise; the runner turns every raise into the structured
``failure`` object of CONTRACT §5, so ``Connector.run()`` itself never raises::

    ActionError                 one failure: a failure type plus the seven ``failure`` fields
    ├── InvalidInputError       invalid_input (names the field; raised before any HTTP)
    ├── TransportError          timeout / connection_error / outcome_unknown (no HTTP answer)
    └── HTTPStatusError         an HTTP answer that is not success (carries ``.response``)

The ``failure.type`` values are the closed set ``FAILURE_TYPES``; everything else about
which answer maps to which type lives in ``connector.http.retry``.
"""

from __future__ import annotations

from typing import Any

FAILURE_TYPES = frozenset(
    {
        "invalid_input",
        "unknown_action",
        "missing_credentials",
        "auth_error",
        "not_found",
        "rate_limited",
        "timeout",
        "connection_error",
        "server_error",
        "model_error",
        "not_ready",
        "already_completed",
        "outcome_unknown",
        "invalid_response",
        "http_error",
        "signature_invalid",
        "policy_denied",
        "cancelled",
    }
)


class ActionError(Exception):
    """One failure of one action; ``partial`` carries action fields kept on failure."""

    def __init__(
        self,
        type: str,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        attempts: int = 0,
        fal_request_id: str | None = None,
        retry_after: float | None = None,
        detail: Any = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        if type not in FAILURE_TYPES:
            raise ValueError(f"unknown failure type {type!r}")
        super().__init__(message)
        self.type = type
        self.message = message
        self.status_code = status_code
        self.retryable = retryable
        self.attempts = attempts
        self.fal_request_id = fal_request_id
        self.retry_after = retry_after
        self.detail = detail
        self.partial = dict(partial or {})

    def failure(self) -> dict[str, Any]:
        """The ``failure`` object of the output (all seven keys, always)."""
        return {
            "type": self.type,
            "status_code": self.status_code,
            "retryable": self.retryable,
            "attempts": self.attempts,
            "fal_request_id": self.fal_request_id,
            "retry_after": self.retry_after,
            "detail": self.detail,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r}, {self.message!r})"


class InvalidInputError(ActionError):
    """Input that does not fit the action's schema or fal's id rules; nothing was sent."""

    def __init__(self, field: str, message: str, detail: Any = None) -> None:
        where = field or "input"
        super().__init__("invalid_input", f"invalid input: {where}: {message}", detail=detail)
        self.field = field


class TransportError(ActionError):
    """No usable HTTP answer: the connection failed, stalled or dropped."""


class HTTPStatusError(ActionError):
    """fal answered with a status that is not success; ``response`` is that answer."""

    def __init__(self, type: str, message: str, *, response: Any = None, **fields: Any) -> None:
        super().__init__(type, message, **fields)
        self.response = response
