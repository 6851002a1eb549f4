"""Every request each action sends is one its manifest declares.

Every live action (the connector's own list, not a table here) is run once against a
``responses`` mock that answers like fal, and each recorded call is compared with the
declared operations of that action (its own and those it ``uses``): method, the host's base
URL plus the path template filled from the inputs, the query keys and values, the declared
headers, the JSON body, and whether the API key went along.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from suite_helpers import BASE_URLS, RID, VALID_INPUTS

from connector import Connector
from connector.manifest import manifest_operation
from connector.operation import Operation

# Requests whose URL is not a template of fal's: each is named here with the reason.
UNDECLARED = {
    # The caller's URL (declared host: fal's CDN, where result files are).
    ("download_file", "GET", "https://cdn.test/files/a.png"),
}


KEY = "conformance-key-id:conformance-secret-123456"


def _conn() -> Connector:
    return Connector(api_key=KEY, backoff_base=0, load_entry_points=False, environ={}, **BASE_URLS)


ACTION_IDS = [a["id"] for a in _conn().actions()]


def _example(schema: Any, root: dict[str, Any]) -> Any:
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    if ref.startswith("#/$defs/"):
        return _example(root["$defs"][ref[len("#/$defs/"):]], root)
    examples = schema.get("examples") if isinstance(schema, dict) else None
    return examples[0] if examples else None


def rich_inputs(conn: Connector, action_id: str) -> dict[str, Any]:
    """The action's valid input, plus every optional field's first schema example that keeps it
    valid (so query parameters and headers are sent and compared too)."""
    action = conn.action(action_id)
    assert action is not None
    assert action_id in VALID_INPUTS, f"{action_id}: add a valid input to tests/suite_helpers.py VALID_INPUTS"
    inputs = dict(VALID_INPUTS[action_id])
    schema = action.spec.input_schema
    for name, prop in schema.get("properties", {}).items():
        example = _example(prop, schema)
        if name in inputs or example is None or name in ("jwks", "timeout", "path", "dest"):
            continue  # jwks given would skip the fetch; timeouts and paths stay the valid ones
        trial = {**inputs, name: example}
        if action.input_validator.is_valid(trial):
            inputs = trial
    if action_id == "verify_webhook":
        # A complete, current (but unsigned) delivery without jwks: the key set is fetched.
        inputs.pop("jwks", None)
        inputs["headers"] = {"X-Fal-Webhook-Request-Id": RID, "X-Fal-Webhook-User-Id": "github|1",
                             "X-Fal-Webhook-Timestamp": str(int(time.time())), "X-Fal-Webhook-Signature": "00" * 64}
    return inputs


def _answer(request: Any) -> tuple[int, dict[str, str], str]:
    """fal's answer to any request these actions send (by host and path)."""
    url = urlsplit(request.url)
    path = url.path
    if url.netloc == "queue.test":
        if request.method == "POST":
            return 200, {}, json.dumps({"request_id": RID, "queue_position": 0})
        if path.endswith("/status/stream"):
            event = json.dumps({"status": "COMPLETED", "logs": [], "metrics": {}})
            return 200, {"Content-Type": "text/event-stream"}, f"data: {event}\n\n"
        if path.endswith("/status"):
            return 200, {}, json.dumps({"status": "COMPLETED", "logs": [], "metrics": {}})
        if path.endswith("/cancel"):
            return 200, {}, json.dumps({"status": "OK"})
        return 200, {}, json.dumps({"images": []})
    if url.netloc == "run.test":
        return 200, {}, json.dumps({"images": []})
    if url.netloc == "api.test":
        if path.endswith("/estimate"):
            return 200, {}, json.dumps({"estimate_type": "unit_price", "total_cost": 1.0, "currency": "USD"})
        if path.endswith("/pricing"):
            return 200, {}, json.dumps({"prices": [], "has_more": False})
        return 200, {}, json.dumps({"models": [], "has_more": False})
    if url.netloc == "rest.test":
        if path.endswith("jwks.json"):
            return 200, {}, json.dumps({"keys": []})
        return 200, {}, json.dumps({"token": "cdn-token", "token_type": "Bearer", "base_url": "https://cdn.test"})
    if request.method == "POST":
        return 200, {}, json.dumps({"access_url": "https://cdn.test/files/up.txt"})
    return 200, {"Content-Type": "image/png"}, "png-bytes"


class _Urls:
    """What ``Operation.url`` needs of a context: the configured base URLs."""

    def __init__(self, conn: Connector) -> None:
        self.config = conn.config

    def url(self, host: str, path: str) -> str:
        return self.config.base_url(host) + path


def _mismatch(op: Operation, call: Any, inputs: dict[str, Any], conn: Connector) -> str | None:
    """Why ``call`` is not a request of ``op`` (None when it is)."""
    request = call.request
    if request.method != op.method:
        return f"method {request.method} != {op.method}"
    url = op.url(_Urls(conn), inputs)
    if request.url.split("?")[0] != url:
        return f"url {request.url.split('?')[0]} != {url}"
    sent = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    if sent != (op.params(inputs) or []):
        return f"query {sent} != {op.params(inputs)}"
    for name, value in op.header_values(inputs).items():
        if request.headers.get(name) != value:
            return f"header {name}: {request.headers.get(name)!r} != {value!r}"
    if op.idempotency_key and "Idempotency-Key" not in request.headers:
        return "no Idempotency-Key header"
    declared_body = op.json_body(inputs)
    if declared_body is not None and json.loads(request.body or b"null") != declared_body:
        return f"body {request.body!r} != {declared_body!r}"
    keyed = request.headers.get("Authorization") == f"Key {KEY}"
    if keyed != (op.auth != "none"):
        return f"API key sent: {keyed}, declared auth {op.auth}"
    return None


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_every_request_matches_a_declared_operation(action_id: str, tmp_path: Any) -> None:
    conn = _conn()
    inputs = rich_inputs(conn, action_id)
    if action_id == "download_file":
        inputs["dest"] = str(tmp_path) + "/"
    own = manifest_operation(action_id)
    declared = [op for used in (own, *(manifest_operation(name) for name in own.uses)) for op in (used, *(p for _, p in used.parts))]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.GET, re.compile(".*"), callback=_answer)
        mocked.add_callback(responses.POST, re.compile(".*"), callback=_answer)
        mocked.add_callback(responses.PUT, re.compile(".*"), callback=_answer)
        mocked.add_callback(responses.DELETE, re.compile(".*"), callback=_answer)
        out = conn.run(action_id, inputs)
        calls = list(mocked.calls)
    conn.close()
    assert calls, f"{action_id} sent no request: {out}"
    filled = {**inputs, "request_id": inputs.get("request_id", RID)}
    for call in calls:
        if (action_id, call.request.method, call.request.url.split("?")[0]) in UNDECLARED:
            continue
        reasons = [_mismatch(op, call, filled, conn) for op in declared]
        assert None in reasons, (
            f"{action_id} sent {call.request.method} {call.request.url}, which matches none of its declared operations: "
            + "; ".join(f"{op.action_id}: {why}" for op, why in zip(declared, reasons, strict=True))
        )


def test_only_download_sends_to_a_url_no_operation_declares() -> None:
    assert {action for action, _, _ in UNDECLARED} == {"download_file"}
