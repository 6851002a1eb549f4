"""Shared fixtures for the connector's unit tests.

Everything here is offline: HTTP goes through ``responses`` and nothing really sleeps.

    fake_key      the API key every test connector carries (``FAKE_KEY``)
    make_conn     factory: ``make_conn(**overrides)`` -> a Connector on the test base URLs
    conn          ``make_conn()``: key set, backoff 0, no entry points, empty environment
    mocked        a ``responses.RequestsMock`` (unfired registrations are fine)
    sleeps        replaces ``conn.http.sleep`` with a recorder; the list of waits asked for
    check_output  ``check_output(conn, action_id, out)``: the output fits the action's schema,
                  its top-level keys are exactly the schema's, and the failure invariants hold
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from suite_helpers import BASE_URLS, FAKE_KEY, closed_at_teardown

from connector import Connector
from connector.emulator import Emulator
from connector.testing import fal_connector, fal_emulator  # noqa: F401  (fixtures, also without the installed plugin)

FAILURE_KEYS = {"type", "status_code", "retryable", "attempts", "fal_request_id", "retry_after", "detail"}
FAILURE_TYPES = {
    "invalid_input", "unknown_action", "missing_credentials", "auth_error", "not_found",
    "rate_limited", "timeout", "connection_error", "server_error", "model_error", "not_ready",
    "already_completed", "outcome_unknown", "invalid_response", "http_error", "signature_invalid",
    "policy_denied", "cancelled",
}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A running keyless emulator with quick pings and webhook retries (e2e and emulator tests)."""
    e = Emulator(ping_interval=0.05, webhook_retry_delay=0.05, webhook_timeout=2.0).start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def fake_key() -> str:
    """The API key every test connector carries (``FAKE_KEY``)."""
    return FAKE_KEY


@pytest.fixture
def make_conn() -> Iterator[Callable[..., Connector]]:
    """Build test connectors; every one is closed at the end of the test."""
    defaults: dict[str, Any] = dict(api_key=FAKE_KEY, backoff_base=0, load_entry_points=False, environ={}, **BASE_URLS)
    yield from closed_at_teardown(lambda **overrides: Connector(**{**defaults, **overrides}))


@pytest.fixture
def conn(make_conn: Callable[..., Connector]) -> Connector:
    """``make_conn()``: key set, the test base URLs, backoff 0, no entry points, empty environment."""
    return make_conn()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """A ``responses.RequestsMock`` for the test; registrations that never fire are fine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps(conn: Connector, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the retry loop of ``conn`` asked for (nothing really sleeps)."""
    waits: list[float] = []
    monkeypatch.setattr(conn.http, "sleep", waits.append)
    return waits


def assert_output(conn: Connector, action_id: str, out: Any) -> None:
    action = conn.action(action_id)
    assert action is not None, action_id
    assert isinstance(out, dict)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in action.output_validator.iter_errors(out)]
    assert not errors, errors
    assert set(out) == set(action.spec.output_schema["properties"]), sorted(out)
    json.dumps(out)  # plain JSON data only
    if out["success"]:
        assert out["failure"] is None
        assert out["error"] is None
    else:
        failure = out["failure"]
        assert set(failure) == FAILURE_KEYS
        assert failure["type"] in FAILURE_TYPES
        assert isinstance(out["error"], str) and out["error"].strip()
        assert "\n" not in out["error"] and "\r" not in out["error"]


@pytest.fixture
def check_output() -> Callable[[Connector, str, Any], None]:
    """``check_output(conn, action_id, out)``: the output fits the action's schema, its top-level
    keys are exactly the schema's, and the failure invariants hold."""
    return assert_output


# -- small helpers for reading what ``responses`` recorded ---------------------------------


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query, keep_blank_values=True)


def path_of(call: Any) -> str:
    return urlsplit(call.request.url).path


def url_without_query(call: Any) -> str:
    return call.request.url.split("?")[0]


def body_json(call: Any) -> Any:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body)


@pytest.fixture
def http_calls() -> Any:
    """Helpers to read recorded calls: ``.query(call)``, ``.path(call)``, ``.url(call)``, ``.json(call)``."""

    class Calls:
        query = staticmethod(query_of)
        path = staticmethod(path_of)
        url = staticmethod(url_without_query)
        json = staticmethod(body_json)

    return Calls


def make_connect_failure(url: str = "https://queue.test/") -> Exception:
    """What requests raises when the TCP connection could not be opened (nothing was sent)."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, url, reason=reason))


@pytest.fixture
def connect_failure() -> Callable[..., Exception]:
    """``connect_failure(url)`` -> a fresh connect-phase ``requests.ConnectionError``."""
    return make_connect_failure
