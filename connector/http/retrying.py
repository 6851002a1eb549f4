"""The retry loop: attempt, decide, wait, attempt again; one plain loop.

``_should_retry`` gives one reason per branch, ``_calculate_retry_timeout`` the wait (fal's
``Retry-After`` first, else the policy's backoff), and no attempt starts, nor any wait is
begun, that the deadline would cut. Whether an answer is worth a retry at all is not decided
here but by its verdict (``connector.http.retry``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from connector.errors import ActionError
from connector.http.retry import RetryPolicy
from connector.http.transport import FailedAttempt, Request, Transport

log = logging.getLogger("connector.http")


def send(
    transport: Transport,
    request: Request,
    policy: RetryPolicy,
    deadline_at: float,
    *,
    sleep: Callable[[float], None],
    on_attempt: Callable[[], None],
    on_retry: Callable[[dict[str, Any]], None],
) -> requests.Response:
    """Send with retries; return a 2xx response or raise an ``ActionError``."""
    attempts = 0
    last: FailedAttempt | None = None
    while True:
        attempts += 1
        on_attempt()
        try:
            return transport.send_once(request, policy, deadline_at)
        except FailedAttempt as failed:
            if failed.cut_off and last is not None and not policy.billable:
                # The deadline ran out during a retry: the answer that led to it stands.
                raise _final_error(last, attempts, policy) from failed.error
            last = failed
        if not _should_retry(last, attempts, policy):
            raise _final_error(last, attempts, policy) from last.error
        wait = _calculate_retry_timeout(last, attempts, policy, deadline_at)
        if wait is None:
            raise _final_error(last, attempts, policy) from last.error
        # Told before the wait, so a caller following along sees why nothing happens yet.
        on_retry({
            "type": "retrying", "attempt": attempts, "next_attempt": attempts + 1,
            "max_attempts": policy.max_retries + 1, "wait": round(wait, 3),
            "failure_type": last.error.type, "status_code": last.error.status_code, "reason": last.error.message,
        })
        log.debug("retrying %s %s in %.2fs: %s", request.method, request.url, wait, last.error.message)
        sleep(wait)
        if time.monotonic() >= deadline_at:
            # The wait overran the deadline (a busy machine wakes late): an attempt now could
            # only be cut off, so the last answer stands.
            raise _final_error(last, attempts, policy) from last.error


def _should_retry(failed: FailedAttempt, attempts: int, policy: RetryPolicy) -> bool:
    if not failed.verdict.retry:
        log.debug("not retrying: a %s answer is not retried (%s class)", failed.verdict.type, policy.retry_class)
        return False
    if attempts > policy.max_retries:
        log.debug("not retrying: %d retries used, the %s class allows %d", attempts - 1, policy.retry_class, policy.max_retries)
        return False
    return True


def _calculate_retry_timeout(failed: FailedAttempt, attempts: int, policy: RetryPolicy, deadline_at: float) -> float | None:
    """Seconds to wait before the next attempt, or None when the wait would pass the deadline."""
    wait = failed.error.retry_after if failed.error.retry_after is not None else policy.backoff(attempts)
    if time.monotonic() + wait > deadline_at:
        log.debug("not retrying: a wait of %.2f s would pass the deadline", wait)
        return None
    return wait


def _final_error(failed: FailedAttempt, attempts: int, policy: RetryPolicy) -> ActionError:
    """The last attempt's error, counting the attempts and saying what stopped the retries."""
    error, verdict = failed.error, failed.verdict
    message = error.message
    if verdict.retry and attempts <= policy.max_retries:
        # Stopped by the deadline, not by the attempt count. The type stays the last
        # answer's (a 429 stays rate_limited): that, not the clock, is what went wrong.
        if error.retry_after is not None:
            message += f"; fal asked to retry after {error.retry_after:g} s, beyond the {policy.deadline:g} s retry deadline"
        else:
            message = f"the {policy.deadline:g} s retry deadline ran out after {attempts} attempts; last: {message}"
    elif attempts > 1:
        message = f"{message} (after {attempts} attempts)"
    return error.derive(message=message, attempts=attempts, retryable=verdict.retryable)
