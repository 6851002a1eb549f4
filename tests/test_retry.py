"""The retry table of connector.http.retry (which failure type, retried or not)."""

from __future__ import annotations

import email.utils
import math

import pytest
import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from connector.http.retry import DEFAULT_RETRIES, RetryPolicy, classify_exception, classify_status, parse_retry_after

RID = {"x-fal-request-id": "req-1"}
USER_TIMEOUT = {"X-Fal-Request-Timeout-Type": "user"}

# (status, headers, retry class) -> (type, retry now, retryable later)
STATUS_TABLE = [
    # auth: never retried, whoever asks
    (401, {}, "read", ("auth_error", False, False)),
    (403, {}, "read", ("auth_error", False, False)),
    (401, {}, "billable", ("auth_error", False, False)),
    (403, RID, "cancel", ("auth_error", False, False)),
    # not found
    (404, {}, "read", ("not_found", False, False)),
    (404, {}, "billable", ("not_found", False, False)),
    (404, {}, "cancel", ("not_found", False, False)),
    # 429: fal refused before enqueueing, so even submit retries
    (429, {}, "read", ("rate_limited", True, True)),
    (429, {}, "cancel", ("rate_limited", True, True)),
    (429, {}, "billable", ("rate_limited", True, True)),
    (429, RID, "billable", ("rate_limited", True, True)),
    # the caller's own start timeout
    (504, USER_TIMEOUT, "read", ("timeout", False, False)),
    (504, USER_TIMEOUT, "billable", ("timeout", False, False)),
    (504, {**USER_TIMEOUT, **RID}, "billable", ("timeout", False, False)),
    (504, {"x-fal-request-timeout-type": "user"}, "cancel", ("timeout", False, False)),
    # 408
    (408, {}, "read", ("timeout", True, True)),
    (408, {}, "cancel", ("timeout", True, True)),
    (408, {}, "billable", ("timeout", False, False)),
    # 5xx for idempotent calls
    (500, {}, "read", ("server_error", True, True)),
    (502, {}, "read", ("server_error", True, True)),
    (503, RID, "read", ("server_error", True, True)),
    (504, {}, "read", ("server_error", True, True)),
    (500, {}, "cancel", ("server_error", True, True)),
    (503, {}, "cancel", ("server_error", True, True)),
    (501, {}, "read", ("server_error", False, True)),
    (505, {}, "read", ("server_error", False, True)),
    # 5xx for billable calls: only ingress 502/503/504 (no x-fal-request-id) are safe
    (502, {}, "billable", ("server_error", True, True)),
    (503, {}, "billable", ("server_error", True, True)),
    (504, {}, "billable", ("server_error", True, True)),
    (500, {}, "billable", ("server_error", False, False)),
    (502, RID, "billable", ("server_error", False, False)),
    (503, RID, "billable", ("server_error", False, False)),
    (504, RID, "billable", ("server_error", False, False)),
    (500, RID, "billable", ("server_error", False, False)),
    # other 4xx (and anything else that is not success)
    (400, {}, "read", ("http_error", False, False)),
    (409, {}, "read", ("http_error", False, False)),
    (418, {}, "read", ("http_error", False, False)),
    (422, {}, "billable", ("http_error", False, False)),
    (418, {}, "cancel", ("http_error", False, False)),
]


@pytest.mark.parametrize(("status", "headers", "retry_class", "expected"), STATUS_TABLE)
def test_classify_status(status, headers, retry_class, expected):
    verdict = classify_status(status, CaseInsensitiveDict(headers), retry_class)
    assert (verdict.type, verdict.retry, verdict.retryable) == expected


def _connect_refused():
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "https://queue.test/", reason=reason))


def _dns_failure():
    reason = NewConnectionError(None, "Failed to resolve 'queue.test' ([Errno -2] Name or service not known)")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "https://queue.test/", reason=reason))


def _dropped():
    reason = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    return requests.exceptions.ConnectionError(MaxRetryError(None, "https://queue.test/", reason=reason))


def _body_read_timeout():
    return requests.exceptions.ConnectionError(ReadTimeoutError(None, "https://queue.test/", "Read timed out."))


EXCEPTIONS = {
    "connect-refused": _connect_refused,
    "dns": _dns_failure,
    "connect-timeout": lambda: requests.exceptions.ConnectTimeout("connect timed out"),
    "read-timeout": lambda: requests.exceptions.ReadTimeout("read timed out"),
    "body-read-timeout": _body_read_timeout,
    "dropped": _dropped,
    "bare-connection-error": lambda: requests.exceptions.ConnectionError("boom"),
    "chunked": lambda: requests.exceptions.ChunkedEncodingError("broken"),
}

# (exception, retry class, body phase) -> (type, retry, retryable)
EXCEPTION_TABLE = [
    ("connect-refused", "read", False, ("connection_error", True, True)),
    ("connect-refused", "cancel", False, ("connection_error", True, True)),
    ("connect-refused", "billable", False, ("connection_error", True, True)),
    ("dns", "billable", False, ("connection_error", True, True)),
    ("connect-timeout", "billable", False, ("connection_error", True, True)),
    ("connect-timeout", "read", False, ("connection_error", True, True)),
    ("read-timeout", "read", False, ("timeout", True, True)),
    ("read-timeout", "cancel", False, ("timeout", True, True)),
    ("read-timeout", "billable", False, ("outcome_unknown", False, False)),
    ("body-read-timeout", "read", True, ("timeout", True, True)),
    ("body-read-timeout", "billable", True, ("outcome_unknown", False, False)),
    ("dropped", "read", False, ("connection_error", True, True)),
    ("dropped", "billable", False, ("outcome_unknown", False, False)),
    ("bare-connection-error", "read", False, ("connection_error", True, True)),
    ("bare-connection-error", "billable", False, ("outcome_unknown", False, False)),
    ("chunked", "read", True, ("connection_error", True, True)),
    ("chunked", "billable", True, ("outcome_unknown", False, False)),
    # once the head of the answer arrived, the request certainly reached fal
    ("connect-refused", "billable", True, ("outcome_unknown", False, False)),
]


@pytest.mark.parametrize(("name", "retry_class", "body_phase", "expected"), EXCEPTION_TABLE)
def test_classify_exception(name, retry_class, body_phase, expected):
    verdict = classify_exception(EXCEPTIONS[name](), retry_class, body_phase=body_phase)
    assert (verdict.type, verdict.retry, verdict.retryable) == expected


# -- Retry-After ------------------------------------------------------------------------------

NOW = 1_700_000_000.0


def _http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


RETRY_AFTER_TABLE = [
    ({"Retry-After": "5"}, 5.0),
    ({"Retry-After": "0"}, 0.0),
    ({"Retry-After": " 7 "}, 7.0),
    ({"Retry-After": "1.5"}, 1.5),
    ({"Retry-After": "0.25"}, 0.25),
    ({"retry-after": "3"}, 3.0),
    ({"Retry-After": _http_date(30)}, 30.0),
    ({"Retry-After": _http_date(-30)}, 0.0),  # a date in the past: no wait
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # the finer one wins
    ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
    ({"retry-after-ms": "-5", "Retry-After": "2"}, 2.0),
    ({"Retry-After": "soon"}, None),
    ({"Retry-After": ""}, None),
    ({"Retry-After": "-3"}, None),
    ({"Retry-After": "nan"}, None),
    ({"Retry-After": "inf"}, None),
    ({"Retry-After": "Mon, 99 Foo 2025 99:99:99 GMT"}, None),
    ({}, None),
]


@pytest.mark.parametrize(("headers", "expected"), RETRY_AFTER_TABLE)
def test_parse_retry_after(headers, expected):
    value = parse_retry_after(CaseInsensitiveDict(headers), now=NOW)
    if expected is None:
        assert value is None
    else:
        assert value is not None and math.isclose(value, expected, abs_tol=1e-6)


# -- the policy -------------------------------------------------------------------------------


def test_default_retries_per_class():
    assert DEFAULT_RETRIES == {"read": 5, "cancel": 3, "billable": 3}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10])
def test_backoff_is_bounded_and_grows(n):
    policy = RetryPolicy("read", 5, 60, backoff_base=0.5, backoff_max=8.0)
    for _ in range(50):
        delay = policy.backoff(n)
        ceiling = min(0.5 * 2 ** (n - 1), 8.0)
        assert 0.75 * ceiling - 1e-9 <= delay <= ceiling


def test_zero_backoff_base_never_waits():
    policy = RetryPolicy("read", 5, 60, backoff_base=0, backoff_max=8.0)
    assert all(policy.backoff(n) == 0 for n in range(1, 8))


# Verdicts no single answer decides: (verdict, type, retryable later); none is retried now.
from connector.http import retry as retry_module  # noqa: E402

NAMED_VERDICTS = [
    (retry_module.TOO_BIG, "invalid_response", False),
    (retry_module.NOT_READY, "not_ready", True),
    (retry_module.JOB_FAILED, "model_error", False),
    (retry_module.ALREADY_COMPLETED, "already_completed", False),
    (retry_module.FOLLOW_TIMED_OUT, "timeout", True),
    (retry_module.SUBSCRIBE_TIMED_OUT, "timeout", False),
    (retry_module.BODY_CUT_OFF, "timeout", True),
    (retry_module.unusable_answer("read"), "invalid_response", True),
    (retry_module.unusable_answer("cancel"), "invalid_response", True),
    (retry_module.unusable_answer("billable"), "invalid_response", False),
    (retry_module.cut_off("read"), "timeout", True),
    (retry_module.cut_off("cancel"), "timeout", True),
    (retry_module.cut_off("billable"), "outcome_unknown", False),
]


@pytest.mark.parametrize(("verdict", "type_", "retryable"), NAMED_VERDICTS)
def test_named_verdicts(verdict, type_, retryable):
    assert (verdict.type, verdict.retry, verdict.retryable) == (type_, False, retryable)


def test_a_refusal_inherits_the_failure_that_caused_it():
    assert retry_module.inherited({"type": "rate_limited", "retryable": True}) is True
    assert retry_module.inherited({"type": "auth_error", "retryable": False}) is False
    assert retry_module.inherited({}) is False


@pytest.mark.parametrize("exc", [ReadTimeoutError(None, "/", "read timed out"), TimeoutError("timed out")])
def test_a_bare_read_timeout_from_a_body_read_is_a_timeout(exc):
    # download_file reads ``raw`` directly: urllib3's and the socket's timeouts come unwrapped.
    assert classify_exception(exc, "read", body_phase=True) == retry_module.Verdict("timeout", True, True)
    assert classify_exception(ProtocolError("broken"), "read", body_phase=True) == retry_module.Verdict("connection_error", True, True)


@pytest.mark.parametrize(("failure", "answered", "retryable"), [
    ("not_ready", False, True),  # fal's 400 "still in progress": ask again later
    ("model_error", True, False),
    ("already_completed", True, False),
    (None, True, True),  # an outcome that renames nothing keeps the status' own verdict
    (None, False, False),
    ("not_found", False, False),
])
def test_a_declared_outcome_takes_its_retryable_from_the_table(failure, answered, retryable):
    assert retry_module.outcome_retryable(failure, answered) is retryable
