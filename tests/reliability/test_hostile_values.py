"""No input and no answer can make an action raise or report an internal error.

Every registered action (taken from the connector, not listed here) is walked through
hostile values, as each of its input fields and as fal's answer to each of its requests:

* input: lone surrogates (what a ``\\xff`` byte on a command line becomes), NaN, infinity,
  integers too long to print, 100,000 levels of nesting, surrogates in nested values and
  keys. Each is ``invalid_input`` naming the field, ``attempts: 0``, nothing sent;
* answers: every JSON type where an object is expected, fields of the wrong JSON type,
  NaN/Infinity, huge integers, 100,000 levels of nesting, surrogate escapes. Whatever comes
  back, the output validates against the action's output schema and prints as strict JSON.

The same values through ``call_tool`` (a JSON string) and the command line (``--input``,
``@file``), and a bad setting on every command.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import responses
from suite_helpers import BASE_URLS, VALID_INPUTS, cli_env

from connector import Connector
from connector.strict_json import dumps

KEY = "hostile-key-id:hostile-key-secret-0123456789"
DEEP = 100_000


def make_connector() -> Connector:
    return Connector(api_key=KEY, environ={}, load_entry_points=False, max_retries=0, backoff_base=0,
                     retry_deadline=3, timeout=2, **BASE_URLS)


_CONN = make_connector()
ACTION_IDS = [a["id"] for a in _CONN.actions()]


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):  # built iteratively: the test itself must not recurse
        value = [value]
    return value


HOSTILE_INPUTS: dict[str, Any] = {
    "lone-surrogate": "a\udcffb",
    "high-surrogate": "\ud800",
    "nan": float("nan"),
    "infinity": float("inf"),
    "minus-infinity": float("-inf"),
    "huge-int": 10**5000,
    "deep-nesting": nested(DEEP),
    "surrogate-nested": {"k": ["ok", "\udcff"]},
    "surrogate-key": {"\ud800": 1},
}


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def check(check_output: Any) -> Any:
    def check(action_id: str, out: Any) -> None:
        """The output fits its schema, says nothing of an internal error, and prints as strict JSON."""
        check_output(_CONN, action_id, out)
        assert "internal error" not in (out["error"] or ""), out["error"]
        assert strict_loads(dumps(out)) is not None
        if out["failure"] and out["failure"]["type"] == "invalid_input":  # every problem, as {field, message, expected}
            assert out["failure"]["detail"] and all(set(p) == {"field", "message", "expected"} for p in out["failure"]["detail"])

    return check


def fields_of(action_id: str) -> list[str]:
    action = _CONN.action(action_id)
    assert action is not None
    return sorted(action.spec.input_schema.get("properties", {})) or ["extra"]  # no fields: an unknown one


def valid_input(action_id: str) -> dict[str, Any]:
    """A valid input to start from; an action added later without one starts from {} (its
    hostile answers are then not reached: add it to VALID_INPUTS)."""
    return VALID_INPUTS.get(action_id, {})


def test_the_built_in_actions_all_have_a_valid_base_input():
    assert set(VALID_INPUTS) <= set(ACTION_IDS)
    for action_id, inputs in VALID_INPUTS.items():
        action = _CONN.action(action_id)
        assert action is not None and action.input_validator.is_valid(inputs), action_id


# -- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize("action_id", ACTION_IDS)
@pytest.mark.parametrize("kind", sorted(HOSTILE_INPUTS))
def test_hostile_input_values_are_invalid_input(action_id, kind, check):
    conn = make_connector()
    for field in fields_of(action_id):
        inputs = {**valid_input(action_id), field: HOSTILE_INPUTS[kind]}
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            out = conn.run(action_id, inputs)
            sent = len(rsps.calls)
        check(action_id, out)
        assert out["failure"]["type"] == "invalid_input", (field, out["error"])
        assert out["failure"]["attempts"] == 0 and sent == 0
        assert field in out["error"], out["error"]


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_hostile_json_text_through_call_tool(action_id):
    """Agents send JSON text: 100,000 levels, a surrogate escape, NaN, a huge number."""
    conn = make_connector()
    field = fields_of(action_id)[0]
    base = json.dumps(valid_input(action_id))[1:-1]
    texts = [
        "[" * DEEP + "]" * DEEP,
        '{"a":' * DEEP + "1" + "}" * DEEP,
        "{" + base + (", " if base else "") + f'"{field}": ' + "[" * DEEP + "]" * DEEP + "}",
        "{" + base + (", " if base else "") + f'"{field}": "\\udcff"' + "}",
        "{" + base + (", " if base else "") + f'"{field}": NaN' + "}",
        "{" + base + (", " if base else "") + f'"{field}": 1e400' + "}",
        "{" + base + (", " if base else "") + f'"{field}": ' + "9" * 5000 + "}",
    ]
    for text in texts:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            out = conn.call_tool(action_id, text)
            sent = len(rsps.calls)
        assert "internal error" not in out["error"], out["error"]
        assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0 and sent == 0, out["error"]
        strict_loads(dumps(out))


# -- hostile answers -------------------------------------------------------------------------

# Names fal's answers use (queue, platform, storage, JWKS), each given a value of the wrong type.
WRONG_TYPES = {
    "request_id": 5, "status": [], "queue_position": "first", "logs": 7, "metrics": "fast", "error": {"x": 1},
    "error_type": [], "response_url": 5, "status_url": None, "cancel_url": [], "data": 5, "images": "x",
    "keys": None, "models": "all", "prices": 5, "has_more": "yes", "next_cursor": 5, "total_cost": "cheap",
    "currency": 5, "estimate_type": [], "access_url": 5, "uploadId": None, "token": None, "token_type": 5,
    "base_url": [], "expires_at": {}, "upload_url": 1, "file_url": [], "detail": 5,
}
ANSWERS = {
    "null": "null",
    "number": "42",
    "string": '"ok"',
    "array": "[1, 2]",
    "empty-object": "{}",
    "wrong-types": json.dumps(WRONG_TYPES),
    "keys-number": '{"keys": 7}',
    "nan-values": '{"status": "COMPLETED", "total_cost": NaN, "currency": "USD", "estimate_type": "unit_price", '
                  '"metrics": {"inference_time": Infinity}, "data": {"x": -Infinity}, "keys": [], '
                  '"models": [], "prices": [], "has_more": false, "next_cursor": null, "request_id": "r-1", '
                  '"response_url": "https://queue.test/x", "status_url": "https://queue.test/x/status", '
                  '"cancel_url": "https://queue.test/x/cancel", "access_url": "https://cdn.test/f"}',
    "huge-int": '{"queue_position": ' + "9" * 5000 + "}",
    "big-float": '{"total_cost": 1e400, "status": "IN_QUEUE", "queue_position": 1e400}',
    "deep": "[" * DEEP + "]" * DEEP,
    "surrogate-escape": '{"status": "\\ud800", "request_id": "\\udcff", "keys": [{"x": "\\ud800"}], "data": {"\\udcff": "\\ud800"}}',
    "not-json": "\xff\xfe<html>",
}


def answer_with(status: int, body: str) -> Any:
    def reply(request: Any) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, body.encode("utf-8", "surrogateescape")

    return reply


@pytest.mark.parametrize("action_id", ACTION_IDS)
@pytest.mark.parametrize("answer", sorted(ANSWERS))
@pytest.mark.parametrize("status", [200, 422, 500])
def test_hostile_answers_give_typed_failures(action_id, answer, status, check):
    conn = make_connector()
    inputs = valid_input(action_id)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in ("GET", "POST", "PUT", "DELETE"):
            rsps.add_callback(method, re.compile(r"https://.*"), callback=answer_with(status, ANSWERS[answer]))
        out = conn.run(action_id, inputs)
    check(action_id, out)


@pytest.mark.parametrize("keys", ["null", "7", '"x"', "{}"])
def test_jwks_whose_keys_is_not_a_list(keys, check):
    conn = make_connector()
    delivery = dict(VALID_INPUTS["verify_webhook"])
    delivery.pop("jwks", None)  # fetch the key set
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(BASE_URLS["jwks_url"], body='{"keys": ' + keys + "}", content_type="application/json")
        out = conn.run("get_jwks")
        check("get_jwks", out)
        assert out["failure"]["type"] == "invalid_response" and "keys" in out["error"], out
        headers = {"X-Fal-Webhook-Request-Id": "r", "X-Fal-Webhook-User-Id": "u",
                   "X-Fal-Webhook-Timestamp": "1", "X-Fal-Webhook-Signature": "ab" * 64}
        headers["X-Fal-Webhook-Timestamp"] = str(int(time.time()))
        out = conn.run("verify_webhook", {**delivery, "headers": headers})
        check("verify_webhook", out)
        assert out["failure"]["type"] in ("invalid_response", "signature_invalid"), out


def test_library_webhook_helper_survives_a_bad_key_set():
    from connector.webhooks import WebhookVerificationError, verify_webhook

    headers = {"X-Fal-Webhook-Request-Id": "r", "X-Fal-Webhook-User-Id": "u",
               "X-Fal-Webhook-Timestamp": str(int(time.time())), "X-Fal-Webhook-Signature": "ab" * 64}
    for jwks in ({"keys": None}, {"keys": 7}):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(headers, b"{}", jwks=jwks)


# -- the command line ------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None, cwd: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector", *args], env={**cli_env(), **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, errors="surrogateescape", timeout=60)


def test_cli_hostile_input(tmp_path, check):
    (tmp_path / "deep.json").write_text("[" * DEEP + "]" * DEEP)
    (tmp_path / "deep-field.json").write_text('{"q": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}")
    cases = [
        ("get_models", "@deep.json", None),
        ("get_models", "@deep-field.json", None),
        ("get_models", '{"q": "a\udcffb"}', "q"),  # what a \xff byte in the argument becomes
        ("get_models", '{"q": "\\ud800"}', "q"),
        ("get_models", '{"limit": NaN}', "limit"),
        ("get_models", '{"limit": 1e400}', "limit"),
        ("get_pricing", '{"endpoint_id": "fal-ai/\udcff"}', "endpoint_id"),
    ]
    for action_id, raw, field in cases:
        result = cli("run", action_id, "--input", raw, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        out = strict_loads(result.stdout)
        check(action_id, out)
        assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0, out
        if field:
            assert field in out["error"], out["error"]


# Commands that never read the connector's settings.
NO_SETTINGS = {"emulator", "demo"}
COMMAND_ARGS = {
    "actions": [], "describe": ["get_jwks"], "run": ["get_jwks"], "export": [], "mcp": [],
}


def test_every_command_reports_a_bad_setting_in_one_line(check):
    from connector.cli import _parser

    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    commands = set(subparsers.choices)  # type: ignore[union-attr]
    assert commands - NO_SETTINGS == set(COMMAND_ARGS)
    for command, args in COMMAND_ARGS.items():
        result = cli(command, *args, env={"FAL_CONNECTOR_TIMEOUT": "abc"})
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "FAL_CONNECTOR_TIMEOUT" in lines[0], (command, result.stderr)
        if command == "run":  # run still prints the action's output, fitting its schema
            check("get_jwks", strict_loads(result.stdout))
        else:
            assert result.stdout == "", (command, result.stdout)
