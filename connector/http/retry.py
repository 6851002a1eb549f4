"""Which answers are retried, what failure type they become, and how long to wait.

One table decides it all, from the answer (status code and headers, or the
exception) and the action's retry class:

* ``read``     idempotent reads: status, result, models, pricing, estimate, jwks (5 retries)
* ``cancel``   idempotent but not a read (3 retries)
* ``billable`` submit and run: no idempotency key on fal's side, so retried only when fal
  cannot have enqueued the job (3 retries)

A ``Verdict`` also says whether the caller may repeat the whole action later
(``failure.retryable``). This module is the only place that decides it: failures that no
single answer classifies (a body too large, a job still running, a follow that ran out of
time...) take their verdict from the named verdicts and functions below.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from typing import Any

import requests
import urllib3
from urllib3.exceptions import NewConnectionError, ReadTimeoutError
from urllib3.util.ssl_match_hostname import CertificateError

from connector.record import Frozen

DEFAULT_RETRIES = {"read": 5, "cancel": 3, "billable": 3}
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
INGRESS_RETRY_STATUSES = frozenset({502, 503, 504})


class RetryPolicy(Frozen):
    __slots__ = _fields = ("retry_class", "max_retries", "deadline", "backoff_base", "backoff_max")
    retry_class: str
    max_retries: int
    deadline: float  # seconds the whole action may spend, from its start
    backoff_base: float
    backoff_max: float

    def __init__(self, retry_class: str, max_retries: int, deadline: float, backoff_base: float = 0.5, backoff_max: float = 8.0) -> None:
        self._set(retry_class=retry_class, max_retries=max_retries, deadline=deadline, backoff_base=backoff_base, backoff_max=backoff_max)

    @property
    def billable(self) -> bool:
        return self.retry_class == "billable"

    def backoff(self, retry_number: int) -> float:
        """Exponential backoff with jitter for the n-th retry (1-based)."""
        delay = min(self.backoff_base * 2 ** (retry_number - 1), self.backoff_max)
        return float(delay * (1 - 0.25 * random.random()))


class Verdict(Frozen):
    __slots__ = _fields = ("type", "retry", "retryable")
    type: str  # failure.type if this answer ends the action
    retry: bool  # try again now (within attempts and deadline)?
    retryable: bool  # may the caller repeat the action later without duplicating billable work?

    def __init__(self, type: str, retry: bool, retryable: bool) -> None:
        self._set(type=type, retry=retry, retryable=retryable)


# Verdicts that no single HTTP answer decides, one reason each. None of them is retried now.
TOO_BIG = Verdict("invalid_response", False, False)  # repeating cannot make an answer smaller
NOT_READY = Verdict("not_ready", False, True)  # the job is still running: the same call succeeds once it ends
JOB_FAILED = Verdict("model_error", False, False)  # the job ended failed: asking again gives the same failure
ALREADY_COMPLETED = Verdict("already_completed", False, False)  # the job ended: nothing is left to cancel
FOLLOW_TIMED_OUT = Verdict("timeout", False, True)  # the job may still run: its status can be asked for again
# subscribe's own timeout ended it (the job cancelled, or left running): repeating the
# action would submit, and bill, a new job.
SUBSCRIBE_TIMED_OUT = Verdict("timeout", False, False)
BODY_CUT_OFF = Verdict("timeout", False, True)  # a download's own deadline cut its body: a later try may finish
# Failure types a manifest operation declares as an action's own outcome of a fal error
# answer (its ``outcomes``: cancel's 400 is already_completed), each with its verdict.
OUTCOME_VERDICTS = {verdict.type: verdict for verdict in (NOT_READY, JOB_FAILED, ALREADY_COMPLETED)}


def outcome_retryable(failure_type: str | None, answered: bool) -> bool:
    """Whether a fal error answer that an action declares as its outcome ``failure_type`` is
    retryable; ``answered`` is what its status alone said, which stands for any other type."""
    verdict = OUTCOME_VERDICTS.get(failure_type or "")
    return answered if verdict is None else verdict.retryable


def unusable_answer(retry_class: str) -> Verdict:
    """A success answer whose body is not what fal documents (not JSON, a field missing).
    Repeatable later, except after a billable call: fal has accepted (and billed) that one."""
    return Verdict("invalid_response", False, retry_class != "billable")


def cut_off(retry_class: str, *, sent: bool = True) -> Verdict:
    """The action's deadline cut an exchange: it is spent, so nothing is retried now. After a
    billable call fal may have accepted it, so the outcome is unknown and not repeatable; cut
    before the request was sent (while connecting), it left nothing behind."""
    if retry_class == "billable" and sent:
        return Verdict("outcome_unknown", False, False)
    return Verdict("timeout", False, True)


def inherited(failure: dict[str, Any]) -> bool:
    """A refusal caused by another action's failure (``failure``, as in an output) is as
    repeatable as that failure was."""
    return bool(failure.get("retryable"))


def classify_status(status: int, headers: Any, retry_class: str) -> Verdict:
    """Verdict for an HTTP answer that is not 2xx."""
    billable = retry_class == "billable"
    if status in (401, 403):
        return Verdict("auth_error", False, False)
    if status == 404:
        return Verdict("not_found", False, False)
    if status == 429:
        # fal rejects before enqueueing (queue length, concurrency), so even submit is safe.
        return Verdict("rate_limited", True, True)
    if status == 504 and headers.get("X-Fal-Request-Timeout-Type"):
        # The caller's own start timeout expired: repeating it would time out again.
        return Verdict("timeout", False, False)
    if status == 408:
        return Verdict("timeout", not billable, not billable)
    if status >= 500:
        if not billable:
            return Verdict("server_error", status in RETRY_STATUSES, True)
        # Without x-fal-request-id the answer came from the ingress: fal never saw the job.
        ingress = not headers.get("x-fal-request-id")
        safe = ingress and status in INGRESS_RETRY_STATUSES
        return Verdict("server_error", safe, safe)
    return Verdict("http_error", False, False)


def classify_exception(exc: BaseException, retry_class: str, *, body_phase: bool = False, sent: bool = True) -> Verdict:
    """Verdict for a transport failure. ``body_phase``: the answer's head had arrived; ``sent``
    False: the connection failed to open (a TLS handshake that timed out included)."""
    billable = retry_class == "billable"
    if not body_phase and (not sent or connection_never_opened(exc)):
        return Verdict("connection_error", True, True)
    if billable:
        # Sent, no (whole) answer: fal may have enqueued it. Never send it again blindly.
        return Verdict("outcome_unknown", False, False)
    if is_read_timeout(exc):
        return Verdict("timeout", True, True)
    return Verdict("connection_error", True, True)


def connection_never_opened(exc: BaseException) -> bool:
    """True when the request cannot have reached the server (connect phase, DNS included)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, NewConnectionError):
            return True
        # A certificate that does not verify fails the TLS handshake: not one byte of the
        # request was sent.
        cause = reason.args[0] if isinstance(reason, urllib3.exceptions.SSLError) and reason.args else None
        return isinstance(cause, (ssl.SSLCertVerificationError, CertificateError))
    return False


def is_read_timeout(exc: BaseException) -> bool:
    # urllib3's and the socket's own timeouts come unwrapped from a body read off ``raw``.
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return True
    # requests reports a timeout while streaming the body as a ConnectionError.
    return bool(exc.args) and isinstance(exc.args[0], ReadTimeoutError)


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000
            if value >= 0 and value == value:
                return value
        except ValueError:
            pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds
