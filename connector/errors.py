"""Failures, as exceptions inside the package and as data at its edge.

Handlers and the HTTP layer raise; the runner turns every raise into the structured
``failure`` object of every output, so ``Connector.run()`` itself never raises::

    ActionError                 one failure: a failure type plus the seven ``failure`` fields
    ├── InvalidInputError       invalid_input (names the field; raised before any HTTP)
    ├── TransportError          timeout / connection_error / outcome_unknown (no HTTP answer)
    └── HTTPStatusError         an HTTP answer that is not success (carries ``.response``)

The ``failure.type`` values are the closed set ``FAILURE_TYPES``; everything else about
which answer maps to which type, and whether it is ``retryable``, lives in
``connector.http.retry``.

An error is never edited once raised: code that knows more (the request id, the action's
own meaning of a status) raises ``error.derive(...)`` ``from`` it.
"""

from __future__ import annotations

from typing import Any, TypeVar

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


_Error = TypeVar("_Error", bound="ActionError")


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

    def derive(self: _Error, **changes: Any) -> _Error:
        """A new error of the same class, with the same fields but ``changes`` (``type``,
        ``message``, ``partial`` or any ``failure`` field); raise it ``from`` this one."""
        fields = {**vars(self), **changes}
        if fields["type"] not in FAILURE_TYPES:
            raise ValueError(f"unknown failure type {fields['type']!r}")
        new = type(self).__new__(type(self))
        Exception.__init__(new, fields["message"])
        new.__dict__.update(fields, partial=dict(fields["partial"]))
        return new

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
    """Input that does not fit the action's schema or fal's id rules; nothing was sent.

    ``detail`` lists every problem found, each ``{"field", "message", "expected"}`` (a program
    can act on it); the message names the first three.
    """

    MAX_NAMED = 3  # problems named in the one-line message; all of them are in detail

    def __init__(self, field: str, message: str, detail: list[dict[str, Any]] | None = None, *, expected: Any = None) -> None:
        where = field or "input"
        problems = detail if detail else [{"field": where, "message": message, "expected": expected}]
        super().__init__("invalid_input", f"invalid input: {where}: {message}", detail=problems)
        self.field = field

    @classmethod
    def of(cls, problems: list[dict[str, Any]]) -> InvalidInputError:
        """One error for several problems (each as in ``detail``), the first named first."""
        first, others = problems[0], problems[1 : cls.MAX_NAMED]
        message = "; ".join([first["message"], *(f"{p['field']}: {p['message']}" for p in others)])
        if len(problems) > cls.MAX_NAMED:
            message += f" (and {len(problems) - cls.MAX_NAMED} more in failure.detail)"
        return cls(first["field"], message, detail=problems)


class TransportError(ActionError):
    """No usable HTTP answer: the connection failed, stalled or dropped."""


class HTTPStatusError(ActionError):
    """fal answered with a status that is not success; ``response`` is that answer."""

    def __init__(self, type: str, message: str, *, response: Any = None, **fields: Any) -> None:
        super().__init__(type, message, **fields)
        self.response = response
