"""A catalogue of bad inputs: each is invalid_input naming the field, with nothing sent."""

from __future__ import annotations

import pytest

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
STATUS = {"app_id": "fal-ai/flux/dev", "request_id": RID}
SUBMIT = {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}}
ESTIMATE = {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 1}}}

# (action, input, the field the error must name)
CATALOGUE = [
    # wrong types, no coercion
    ("get_request_status", {**STATUS, "app_id": 42}, "app_id"),
    ("get_request_status", {**STATUS, "app_id": None}, "app_id"),
    ("get_request_status", {**STATUS, "logs": "yes"}, "logs"),
    ("get_request_status", {**STATUS, "logs": 1}, "logs"),
    ("get_request_status", {**STATUS, "request_id": 123}, "request_id"),
    ("get_models", {"limit": "5"}, "limit"),
    ("get_models", {"limit": True}, "limit"),
    ("get_models", {"limit": 2.5}, "limit"),
    ("get_models", {"limit": 0}, "limit"),
    ("stream_request_status", {**STATUS, "timeout": "60"}, "timeout"),
    ("stream_request_status", {**STATUS, "timeout": 0}, "timeout"),
    # unknown extra fields
    ("get_request_status", {**STATUS, "verbose": True}, "verbose"),
    ("add_request_to_queue", {**SUBMIT, "prompt": "x"}, "prompt"),
    ("get_jwks", {"force": True}, "force"),
    ("get_models", {"page": 2}, "page"),
    # request ids
    ("get_request_status", {**STATUS, "request_id": "../x"}, "request_id"),
    ("get_request_response", {**STATUS, "request_id": "."}, "request_id"),
    ("cancel_request", {**STATUS, "request_id": "a/b"}, "request_id"),
    ("cancel_request", {**STATUS, "request_id": ""}, "request_id"),
    ("stream_request_status", {**STATUS, "request_id": "x" * 129}, "request_id"),
    # app ids
    ("get_request_response", {**STATUS, "app_id": "fal-ai/../admin"}, "app_id"),
    ("add_request_to_queue", {**SUBMIT, "app_id": "fal-ai/flux?x=1"}, "app_id"),
    ("add_request_to_queue", {**SUBMIT, "app_id": "workflows/x"}, "app_id"),
    # submit options
    ("add_request_to_queue", {**SUBMIT, "priority": "high"}, "priority"),
    ("add_request_to_queue", {**SUBMIT, "start_timeout": 0.5}, "start_timeout"),
    ("add_request_to_queue", {**SUBMIT, "start_timeout": "30"}, "start_timeout"),
    ("add_request_to_queue", {**SUBMIT, "max_queue_length": 0}, "max_queue_length"),
    ("add_request_to_queue", {**SUBMIT, "max_queue_length": 1.5}, "max_queue_length"),
    ("add_request_to_queue", {**SUBMIT, "webhook_url": "ftp://x"}, "webhook_url"),
    ("add_request_to_queue", {**SUBMIT, "webhook_url": "ftp://example.com/hook"}, "webhook_url"),
    ("add_request_to_queue", {**SUBMIT, "webhook_url": "not a url"}, "webhook_url"),
    ("add_request_to_queue", {**SUBMIT, "hint": ""}, "hint"),
    ("add_request_to_queue", {**SUBMIT, "data": "prompt=x"}, "data"),
    ("add_request_to_queue", {**SUBMIT, "data": ["x"]}, "data"),
    ("add_request_to_queue", {**SUBMIT, "data": None}, "data"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev"}, "data"),
    # required fields
    ("get_request_status", {"app_id": "fal-ai/flux/dev"}, "request_id"),
    ("get_request_response", {"request_id": RID}, "app_id"),
    ("get_pricing", {}, "endpoint_id"),
    # endpoint ids
    ("get_pricing", {"endpoint_id": []}, "endpoint_id"),
    ("get_pricing", {"endpoint_id": [f"fal-ai/m{i}" for i in range(51)]}, "endpoint_id"),
    ("get_models", {"endpoint_id": []}, "endpoint_id"),
    ("get_models", {"endpoint_id": 7}, "endpoint_id"),
    ("get_models", {"expand": ["bogus"]}, "expand"),
    ("get_models", {"expand": "openapi-3.0"}, "expand"),
    ("get_models", {"status": "retired"}, "status"),
    # estimates
    ("estimate_pricing", {**ESTIMATE, "endpoints": {"fal-ai/flux/dev": {"call_quantity": 0}}}, "call_quantity"),
    ("estimate_pricing", {**ESTIMATE, "estimate_type": "guess"}, "estimate_type"),
    ("estimate_pricing", {**ESTIMATE, "endpoints": {}}, "endpoints"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 0}}}, "unit_quantity"),
    ("estimate_pricing", {"endpoints": ESTIMATE["endpoints"]}, "estimate_type"),
]


@pytest.mark.parametrize(("action", "inputs", "field"), CATALOGUE, ids=[f"{a}-{f}-{i}" for i, (a, _, f) in enumerate(CATALOGUE)])
def test_bad_input(conn, mocked, check_output, action, inputs, field):
    out = conn.run(action, inputs)
    check_output(conn, action, out)
    assert out["success"] is False
    f = out["failure"]
    assert f["type"] == "invalid_input", out["error"]
    assert f["attempts"] == 0
    assert f["status_code"] is None
    assert f["retryable"] is False
    assert field in out["error"], out["error"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("inputs", [[], ["app_id"], "fal-ai/flux/dev", 42, True, 1.5])
@pytest.mark.parametrize("action", ["get_request_status", "add_request_to_queue", "get_jwks", "get_models"])
def test_inputs_not_an_object(conn, mocked, check_output, action, inputs):
    out = conn.run(action, inputs)
    check_output(conn, action, out)
    assert out["failure"]["type"] == "invalid_input"
    assert out["failure"]["attempts"] == 0
    assert "object" in out["error"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(("action", "missing"), [("get_request_status", "app_id"), ("add_request_to_queue", "app_id"), ("get_pricing", "endpoint_id")])
def test_none_input_is_empty_object(conn, mocked, check_output, action, missing):
    out = conn.run(action, None)
    check_output(conn, action, out)
    assert out["failure"]["type"] == "invalid_input"
    assert missing in out["error"]
    assert "required" in out["error"]
    assert len(mocked.calls) == 0


def test_invalid_input_checked_before_missing_credentials(make_conn, mocked):
    conn = make_conn(api_key=None)
    out = conn.run("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": "../x"})
    assert out["failure"]["type"] == "invalid_input"


@pytest.mark.parametrize("name", ["nope", "", "get_request_status ", "GET_REQUEST_STATUS", None, 42])
def test_unknown_action(conn, mocked, name):
    out = conn.run(name, {})
    assert out["success"] is False
    assert out["failure"]["type"] == "unknown_action"
    assert out["failure"]["attempts"] == 0
    assert set(out["failure"]) == {"type", "status_code", "retryable", "attempts", "fal_request_id", "retry_after", "detail"}
    assert isinstance(out["error"], str) and out["error"] and "\n" not in out["error"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "inputs",
    [
        {"endpoint_id": ["fal-ai/flux/dev"] * 50},
        {"endpoint_id": "fal-ai/flux/dev", "limit": 1000, "expand": ["openapi-3.0"]},
        {"q": "x", "status": "deprecated"},
    ],
)
def test_boundary_inputs_accepted(conn, mocked, inputs):
    mocked.get("https://api.test/v1/models", json={"models": [], "has_more": False})
    out = conn.run("get_models", inputs)
    assert out["success"] is True, out
