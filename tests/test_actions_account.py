"""The platform actions beyond models and pricing: request history, usage, analytics, billing,
balance, payload deletion, workflows and signed file URLs (``responses``; no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

API = "https://api.test/v1"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
ITEM = {"request_id": RID, "endpoint_id": "fal-ai/flux/dev", "sent_at": "2025-01-15T10:00:00+00:00",
        "started_at": "2025-01-15T10:00:01+00:00", "ended_at": "2025-01-15T10:00:04+00:00",
        "status_code": 200, "duration": 3.0, "brand_new_field": {"x": 1}}
USAGE = {"endpoint_id": "fal-ai/flux/dev", "unit": "image", "quantity": 4, "unit_price": 0.025,
         "percent_discount": None, "cost_subtotal": 0.1, "cost_discount": 0, "cost_total": 0.1,
         "cost": 0.1, "currency": "USD"}
EVENT = {"request_id": RID, "endpoint_id": "fal-ai/flux/dev", "timestamp": "2025-01-15T10:00:04Z",
         "output_units": 1, "unit_price": 0.025, "percent_discount": None, "cost_subtotal": 0.025,
         "cost_discount": 0, "cost_total": 0.025, "cost_estimate_nano_usd": 25000000}
WORKFLOW = {"name": "my-image-workflow", "title": "My Image Workflow", "user_nickname": "johndoe",
            "created_at": "2025-01-15T12:00:00Z", "tags": ["image"], "endpoint_ids": ["fal-ai/flux/dev"]}
CONTENTS = {"nodes": {}, "output": {}, "schema": {"input": {"prompt": {"name": "prompt", "type": "string"}},
                                                  "output": {}}}
PAGE = {"next_cursor": None, "has_more": False}

# action -> (method, url, input, fal's answer, expected output fields)
CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "list_requests": ("GET", f"{API}/models/requests/by-endpoint", {"endpoint_id": "fal-ai/flux/dev"},
                      {"items": [ITEM], **PAGE}, {"items": [ITEM], **PAGE}),
    "search_requests": ("GET", f"{API}/models/requests/search", {"query": "fox"},
                        {"results": [{**ITEM, "similarity": 0.9}], **PAGE},
                        {"results": [{**ITEM, "similarity": 0.9}], **PAGE}),
    "get_usage": ("GET", f"{API}/models/usage", {"expand": ["summary"]},
                  {"summary": [USAGE], **PAGE}, {"summary": [USAGE], "time_series": None, **PAGE}),
    "get_analytics": ("GET", f"{API}/models/analytics", {"endpoint_id": "fal-ai/flux/dev"},
                      {"time_series": [{"bucket": "2025-01-15T00:00:00Z", "results": [
                          {"endpoint_id": "fal-ai/flux/dev", "request_count": 3}]}], **PAGE},
                      {"time_series": [{"bucket": "2025-01-15T00:00:00Z", "results": [
                          {"endpoint_id": "fal-ai/flux/dev", "request_count": 3}]}], "summary": None, **PAGE}),
    "get_billing_events": ("GET", f"{API}/models/billing-events", {},
                           {"billing_events": [EVENT], **PAGE}, {"billing_events": [EVENT], **PAGE}),
    "get_balance": ("GET", f"{API}/account/billing", {},
                    {"username": "my-team", "credits": {"current_balance": 24.5, "currency": "USD"}},
                    {"current_balance": 24.5, "currency": "USD", "username": "my-team"}),
    "delete_request_payloads": ("DELETE", f"{API}/models/requests/{RID}/payloads", {"request_id": RID},
                                {"cdn_delete_results": [{"link": "https://v3.fal.media/files/a.png", "exception": None}]},
                                {"cdn_delete_results": [{"link": "https://v3.fal.media/files/a.png", "exception": None}]}),
    "list_workflows": ("GET", f"{API}/workflows", {}, {"workflows": [WORKFLOW], **PAGE, "total": 1},
                       {"workflows": [WORKFLOW], "total": 1, **PAGE}),
    "get_workflow": ("GET", f"{API}/workflows/johndoe/my-image-workflow",
                     {"username": "johndoe", "workflow_name": "my-image-workflow"},
                     {"workflow": {**WORKFLOW, "is_public": False, "contents": CONTENTS}},
                     {"workflow": {**WORKFLOW, "is_public": False, "contents": CONTENTS},
                      "input_schema": CONTENTS["schema"]["input"]}),
    "sign_file_url": ("POST", f"{API}/storage/files/sign",
                      {"url": "https://v3.fal.media/files/b/0a1b/out.png", "expiration_seconds": 3600},
                      {"signed_url": "https://v3.fal.media/files/b/0a1b/out.png?identity=abc"},
                      {"signed_url": "https://v3.fal.media/files/b/0a1b/out.png?identity=abc"}),
}
ADMIN = ("get_usage", "get_billing_events", "get_balance", "delete_request_payloads")


@pytest.mark.parametrize("action_id", sorted(CASES))
def test_success_maps_fals_answer_and_passes_extra_fields_through(conn, mocked, check_output, http_calls, action_id):
    method, url, inputs, answer, expected = CASES[action_id]
    mocked.add(method, url, json={**answer, "some_new_top_level_field": [1, 2]})
    out = conn.run(action_id, inputs)
    check_output(conn, action_id, out)
    assert out["success"] is True, out
    assert {k: out[k] for k in expected} == expected
    [call] = mocked.calls
    assert call.request.method == method and http_calls.url(call) == url
    assert call.request.headers["Authorization"] == f"Key {conn.config.api_key.get_secret_value()}"


@pytest.mark.parametrize(("status", "ftype", "retried"), [
    (401, "auth_error", False), (403, "auth_error", False), (404, "not_found", False),
    (429, "rate_limited", True), (500, "server_error", True), (503, "server_error", True)])
@pytest.mark.parametrize("action_id", sorted(CASES))
def test_error_answers(conn, mocked, check_output, action_id, status, ftype, retried):
    method, url, inputs, _, _ = CASES[action_id]
    messages = {401: ("authorization_error", "Authentication required"), 403: ("authorization_error", "Access denied"),
                404: ("not_found", "Resource not found"), 429: ("rate_limited", "Rate limit exceeded")}
    kind, text = messages.get(status, ("server_error", "An unexpected error occurred"))
    mocked.add(method, url, status=status, json={"error": {"type": kind, "message": text}})
    out = conn.run(action_id, inputs)
    check_output(conn, action_id, out)
    assert out["success"] is False
    assert out["failure"]["type"] == ftype and out["failure"]["status_code"] == status
    assert (out["failure"]["attempts"] > 1) is retried, out["failure"]
    assert (len(mocked.calls) > 1) is retried
    if status == 403 and action_id in ADMIN:
        assert "admin key" in out["error"]


def test_list_requests_sends_the_filters_and_pages_with_the_cursor(conn, mocked, http_calls):
    url = f"{API}/models/requests/by-endpoint"
    mocked.get(url, json={"items": [ITEM], "next_cursor": "Mg==", "has_more": True})
    first = conn.run("list_requests", {"endpoint_id": "fal-ai/flux/dev", "status": "error",
                                       "start": "2025-01-15T10:00:00Z", "end": "2025-01-15", "request_id": RID,
                                       "expand": ["payloads"], "sort_by": "duration", "limit": 100})
    assert first["success"] is True and first["next_cursor"] == "Mg==" and first["has_more"] is True
    assert http_calls.query(mocked.calls[0]) == {
        "endpoint_id": ["fal-ai/flux/dev"], "status": ["error"], "start": ["2025-01-15T10:00:00Z"],
        "end": ["2025-01-15"], "request_id": [RID], "expand": ["payloads"], "sort_by": ["duration"], "limit": ["100"]}
    mocked.replace("GET", url, json={"items": [], "next_cursor": None, "has_more": False})
    last = conn.run("list_requests", {"endpoint_id": "fal-ai/flux/dev", "cursor": first["next_cursor"]})
    assert last["items"] == [] and last["next_cursor"] is None and last["has_more"] is False
    assert http_calls.query(mocked.calls[1]) == {"endpoint_id": ["fal-ai/flux/dev"], "cursor": ["Mg=="]}


@pytest.mark.parametrize(("inputs", "field"), [
    ({}, "endpoint_id"),
    ({"endpoint_id": "fal-ai/flux/dev", "limit": 101}, "limit"),
    ({"endpoint_id": "fal-ai/flux/dev", "status": "failed"}, "status"),
    ({"endpoint_id": "fal-ai/flux/dev", "start": "yesterday"}, "start"),
    ({"endpoint_id": "fal-ai/flux/dev", "expand": ["everything"]}, "expand"),
    ({"endpoint_id": "../../admin"}, "endpoint_id"),
])
def test_list_requests_bad_input_names_the_field_before_any_request(conn, mocked, inputs, field):
    out = conn.run("list_requests", inputs)
    assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0
    assert field in out["error"]
    assert not mocked.calls


@pytest.mark.parametrize(("action_id", "inputs", "field"), [
    ("sign_file_url", {"url": "https://v3.fal.media/f.png", "expiration_seconds": 604801}, "expiration_seconds"),
    ("sign_file_url", {"url": "https://v3.fal.media/f.png", "expiration_seconds": 0}, "expiration_seconds"),
    ("sign_file_url", {"url": "https://v3.fal.media/f.png?x=1", "expiration_seconds": 60}, "url"),
    ("get_workflow", {"username": "john doe", "workflow_name": "w"}, "username"),
    ("get_workflow", {"username": "john", "workflow_name": "../w"}, "workflow_name"),
    ("delete_request_payloads", {"request_id": "a/b"}, "request_id"),
    ("get_usage", {"timeframe": "year"}, "timeframe"),
    ("get_billing_events", {"limit": 10001}, "limit"),
    ("search_requests", {"query": "fox", "image_url": "https://x.test/a.png"}, "image_url"),
    ("get_analytics", {}, "endpoint_id"),
    ("get_balance", {"anything": 1}, "anything"),
])
def test_bad_input_is_refused_before_any_request(conn, mocked, action_id, inputs, field):
    out = conn.run(action_id, inputs)
    assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0
    assert field in out["error"] or field in str(out["failure"]["detail"])
    assert not mocked.calls


def test_sign_file_url_sends_the_url_as_query_and_the_expiration_as_body(conn, mocked, http_calls):
    mocked.post(f"{API}/storage/files/sign", json={"signed_url": "https://v3.fal.media/f.png?identity=z"})
    out = conn.run("sign_file_url", {"url": "https://v3.fal.media/f.png", "expiration_seconds": 604800})
    assert out["signed_url"] == "https://v3.fal.media/f.png?identity=z"
    assert http_calls.query(mocked.calls[0]) == {"url": ["https://v3.fal.media/f.png"]}
    assert http_calls.json(mocked.calls[0]) == {"expiration_seconds": 604800}


def test_get_balance_asks_for_the_credits(conn, mocked, http_calls):
    mocked.get(f"{API}/account/billing", json={"username": "u", "credits": {"current_balance": 3, "currency": "USD"}})
    assert conn.run("get_balance", {})["current_balance"] == 3
    assert http_calls.query(mocked.calls[0]) == {"expand": ["credits"]}


def test_usage_and_analytics_send_repeated_endpoints_and_expand(conn, mocked, http_calls):
    mocked.get(f"{API}/models/analytics", json={"summary": [], **PAGE})
    conn.run("get_analytics", {"endpoint_id": ["fal-ai/a", "fal-ai/b"], "expand": ["summary", "p95_duration"],
                               "timeframe": "hour", "timezone": "Europe/Berlin"})
    assert http_calls.query(mocked.calls[0]) == {
        "endpoint_id": ["fal-ai/a", "fal-ai/b"], "expand": ["summary", "p95_duration"],
        "timeframe": ["hour"], "timezone": ["Europe/Berlin"]}


# -- delete_request_payloads: retried only with the same Idempotency-Key ---------------------------


def test_a_retried_deletion_sends_the_same_idempotency_key(conn, mocked):
    url = f"{API}/models/requests/{RID}/payloads"
    mocked.delete(url, status=503, json={"error": {"type": "server_error", "message": "busy"}})
    mocked.delete(url, status=502, body="bad gateway")
    mocked.delete(url, json={"cdn_delete_results": []})
    out = conn.run("delete_request_payloads", {"request_id": RID})
    assert out["success"] is True and out["failure"] is None
    keys = [call.request.headers.get("Idempotency-Key") for call in mocked.calls]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1, keys


def test_each_deletion_call_gets_its_own_idempotency_key(conn, mocked):
    mocked.delete(f"{API}/models/requests/{RID}/payloads", json={"cdn_delete_results": []})
    conn.run("delete_request_payloads", {"request_id": RID})
    conn.run("delete_request_payloads", {"request_id": RID})
    first, second = (call.request.headers["Idempotency-Key"] for call in mocked.calls)
    assert first != second


def test_a_drifted_answer_never_fails_the_action(conn, mocked, check_output):
    """fal adds fields and changes inner types: the action still succeeds and passes them on."""
    odd = {**ITEM, "status_code": "200", "duration": None, "started_at": 12}
    mocked.get(f"{API}/models/requests/by-endpoint", json={"items": [odd], "next_cursor": None, "has_more": False,
                                                           "total": 1})
    out = conn.run("list_requests", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "list_requests", out)
    assert out["items"] == [odd]
    mocked.get(f"{API}/account/billing", json={"username": None, "credits": {"current_balance": "24.50", "currency": "USD"}})
    balance = conn.run("get_balance", {})
    assert balance["success"] is True and balance["current_balance"] == "24.50"
