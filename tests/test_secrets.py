"""The API key never shows: not in outputs, logs, exceptions or reprs."""

from __future__ import annotations

import json
import logging
import traceback

import pytest
import requests
from suite_helpers import record_texts

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
Q = "https://queue.test/fal-ai/flux"
STATUS_INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}


def leaks(text: str, key: str) -> list[str]:
    secret = key.partition(":")[2]
    return [s for s in (key, secret) if s in text]




@pytest.fixture
def echoing_fal(mocked, fake_key):
    """fal answers that echo the key back in every way a body can."""
    secret = fake_key.partition(":")[2]
    mocked.get(f"{Q}/requests/{RID}/status", status=401, json={"detail": f"Invalid key: Key {fake_key}"})
    mocked.get(f"{Q}/requests/{RID}", status=422, json={"detail": [
        {"loc": ["body", "api_key"], "msg": f"the key {fake_key} is not allowed here", "type": "value_error", "input": secret},
    ]})
    mocked.put(f"{Q}/requests/{RID}/cancel", status=503, body=f"upstream saw Authorization: Key {fake_key}")
    mocked.post(f"{Q}/dev", status=500, json={"error": fake_key, "nested": {secret: [secret]}},
                headers={"x-fal-request-id": "r1"})
    mocked.get("https://api.test/v1/models", status=400, json={"error": {"type": "validation_error", "message": f"bad {secret}"}})
    mocked.get("https://api.test/v1/models/pricing", status=200, body=f"not json {fake_key}")
    mocked.post("https://api.test/v1/models/pricing/estimate", body=requests.exceptions.ConnectionError(f"boom with {fake_key}"))
    mocked.get(f"https://queue.test/fal-ai/other/requests/{RID}/status", status=429, json={"detail": f"slow down {secret}"})
    mocked.get(f"https://queue.test/fal-ai/stream/requests/{RID}/status/stream",
               body=f"data: {{\"status\": \"IN_QUEUE\"}}\n\ndata: {{broken {fake_key}\n\n".encode(),
               content_type="text/event-stream")
    mocked.get("https://rest.test/.well-known/jwks.json", json={"keys": [{"kty": "OKP", "note": "public"}]})
    return mocked


RUNS = [
    ("get_request_status", STATUS_INPUT),
    ("get_request_status", {**STATUS_INPUT, "logs": True}),
    ("get_request_response", STATUS_INPUT),
    ("cancel_request", STATUS_INPUT),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}}),
    ("get_models", {"q": "x"}),
    ("get_pricing", {"endpoint_id": "fal-ai/flux/dev"}),
    ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"a/b": {"call_quantity": 1}}}),
    ("get_request_status", {"app_id": "fal-ai/other", "request_id": RID}),
    ("stream_request_status", {"app_id": "fal-ai/stream", "request_id": RID}),
    ("get_jwks", {}),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "../x"}),
    ("nope", {}),
]


def test_key_never_leaks(conn, echoing_fal, caplog, fake_key, check_output):
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records
    events: list[dict] = []
    outputs = []
    for action, inputs in RUNS:
        out = conn.run(action, inputs, on_event=events.append)
        if conn.action(action):
            check_output(conn, action, out)
        outputs.append(out)
    # the runs above really went through failures that carried the key
    types = {o["failure"]["type"] for o in outputs if o["failure"]}
    assert {"auth_error", "model_error", "server_error", "http_error", "invalid_response", "rate_limited"} <= types
    assert len(echoing_fal.calls) > 10

    for out in outputs:
        assert not leaks(json.dumps(out), fake_key), out
    for event in events:
        assert not leaks(json.dumps(event, default=repr), fake_key), event
    for record in caplog.records:
        for text in record_texts(record):
            assert not leaks(text, fake_key), (record.name, text[:300])
    assert not leaks(caplog.text, fake_key)
    assert not leaks(repr(conn), fake_key)
    assert not leaks(str(conn), fake_key)
    assert not leaks(repr(conn.config), fake_key)
    assert not leaks(str(conn.config), fake_key)
    assert not leaks(repr(conn.config.model_dump()), fake_key)


def test_scrubbed_detail_keeps_its_shape(conn, echoing_fal, fake_key):
    out = conn.run("get_request_response", STATUS_INPUT)
    detail = out["failure"]["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "api_key"]
    assert "[redacted]" in detail[0]["msg"] or fake_key not in detail[0]["msg"]
    assert not leaks(json.dumps(detail), fake_key)


def test_exceptions_raised_inside_carry_no_key(conn, mocked, fake_key):
    """The ActionError the HTTP layer raises (before the runner scrubs) has no key in its text."""
    from connector.context import ActionContext
    from connector.errors import ActionError

    mocked.get(f"{Q}/requests/{RID}/status", status=401, json={"detail": f"bad key {fake_key}"})
    ctx = ActionContext(conn.action("get_request_status"), config=conn.config, http=conn.http, plugin_manager=conn.plugin_manager,
                        run_action=conn.run)
    with pytest.raises(ActionError) as info:
        ctx.request("GET", f"{Q}/requests/{RID}/status")
    text = "".join(traceback.format_exception(info.value)) + repr(info.value) + str(info.value.failure())
    assert not leaks(text, fake_key)


def test_handler_exception_with_key_is_scrubbed(make_conn, fake_key, caplog):
    """Even a buggy plugin that raises with the key in its message does not leak it in the output."""
    from connector import Action, hookimpl
    from connector.manifest import manifest_spec

    class Buggy:
        @hookimpl
        def register_actions(self):
            def handler(inputs, context):
                raise RuntimeError(f"oops {fake_key}")
            return [Action(manifest_spec("get_jwks"), handler)]

    conn = make_conn(plugins=[Buggy()])
    out = conn.run("get_jwks", {})
    assert out["success"] is False
    assert not leaks(json.dumps(out), fake_key)


# -- a key cut by a length limit -----------------------------------------------------------------


def fragments(text: str, secret: str, size: int = 8) -> list[str]:
    """Every piece of ``secret`` of ``size`` characters that shows in ``text``."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1) if secret[i : i + size] in text]


@pytest.mark.parametrize("shift", range(-12, 13, 3))
def test_a_key_straddling_a_cut_leaves_no_piece(conn, mocked, check_output, fake_key, shift):
    """fal's message is cut at 300 characters in ``error`` and a text body at 2,000 in
    ``detail``: the key is redacted before either cut, so no piece of it is left at the cut."""
    secret = fake_key.partition(":")[2]
    for cut, status, field in ((300, 400, "json"), (2000, 502, "text")):
        pad = "x" * (cut - len("Key ") - len(fake_key) // 2 + shift)
        message = f"{pad}Key {fake_key} and more"
        mocked.reset()
        if field == "json":
            mocked.get(f"{Q}/requests/{RID}/status", status=status, json={"detail": message})
        else:
            mocked.get(f"{Q}/requests/{RID}/status", status=status, body=message)
        out = conn.run("get_request_status", STATUS_INPUT)
        check_output(conn, "get_request_status", out)
        text = json.dumps(out)
        assert not fragments(text, secret), (cut, shift, fragments(text, secret))


def test_any_piece_of_eight_characters_counts_as_the_secret(fake_key):
    from connector.redaction import Redactor

    secret = fake_key.partition(":")[2]
    redact = Redactor(fake_key)
    for start in range(0, len(secret) - 8):
        piece = secret[start : start + 8 + start % 5]
        shown = redact(f"a {piece} b")
        assert shown == "a [redacted] b", (piece, shown)
    assert redact({"k": [f"head{secret[-9:]}"]}) == {"k": ["head[redacted]"]}
    assert redact(secret[:7]) == secret[:7]  # fewer than 8 characters: not a usable piece
    assert redact("key-id:") == "key-id:"  # the key id alone is not the secret
