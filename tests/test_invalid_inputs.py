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
    assert_problem_list(f["detail"])
    assert any(field in problem["field"] for problem in f["detail"]), f["detail"]


def assert_problem_list(detail):
    """An invalid_input's detail: every problem as {field, message, expected}."""
    assert isinstance(detail, list) and detail, detail
    for problem in detail:
        assert set(problem) == {"field", "message", "expected"}, problem
        assert isinstance(problem["field"], str) and problem["field"]
        assert isinstance(problem["message"], str) and problem["message"]


def test_every_problem_is_in_detail_and_the_first_three_in_error(conn, mocked, check_output):
    out = conn.run("add_request_to_queue", {"app_id": 5, "data": "x"})
    check_output(conn, "add_request_to_queue", out)
    detail = out["failure"]["detail"]
    assert_problem_list(detail)
    assert {p["field"] for p in detail} == {"app_id", "data"}
    assert {p["field"]: p["expected"] for p in detail} == {"app_id": "string", "data": "object"}
    assert "app_id" in out["error"] and "data" in out["error"]

    inputs = {**STATUS, "request_id": "../x", "logs": "yes", "extra_one": 1, "extra_two": 2}
    inputs.pop("app_id")
    out = conn.run("get_request_status", inputs)
    detail = out["failure"]["detail"]
    assert_problem_list(detail)
    assert sorted(p["field"] for p in detail) == ["app_id", "extra_one", "extra_two", "logs", "request_id"]
    named = [p["field"] for p in detail if f"{p['field']}:" in out["error"]]
    assert len(named) == 3 and named == [p["field"] for p in detail[:3]], out["error"]
    assert "(and 2 more in failure.detail)" in out["error"]
    assert "\n" not in out["error"] and len(mocked.calls) == 0


def test_nested_fields_use_json_paths(conn, mocked):
    out = conn.run("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": "x"}}})
    fields = [p["field"] for p in out["failure"]["detail"]]
    assert any(f.startswith("endpoints[") or f.startswith("endpoints.") for f in fields), fields
    out = conn.run("get_models", {"expand": ["openapi-3.0", "bogus"]})
    assert [p["field"] for p in out["failure"]["detail"]] == ["expand[1]"], out["failure"]["detail"]


def test_problems_found_before_the_schema_are_listed_too(conn, mocked):
    out = conn.run("get_models", {"q": "\udcff", "limit": float("nan")})
    assert_problem_list(out["failure"]["detail"])
    assert out["failure"]["detail"][0]["expected"] in ("valid Unicode text", "a finite number")


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
