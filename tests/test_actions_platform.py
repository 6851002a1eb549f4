"""get_models, get_pricing, estimate_pricing and get_jwks."""

from __future__ import annotations

import pytest
import requests

MODELS_URL = "https://api.test/v1/models"
PRICING_URL = "https://api.test/v1/models/pricing"
ESTIMATE_URL = "https://api.test/v1/models/pricing/estimate"
JWKS_URL = "https://rest.test/.well-known/jwks.json"

MODEL = {
    "endpoint_id": "fal-ai/flux/dev",
    "metadata": {
        "display_name": "FLUX.1 [dev]",
        "category": "text-to-image",
        "description": "12B flow transformer",
        "status": "active",
        "tags": ["flux"],
        "updated_at": "2025-01-01T00:00:00Z",
        "is_favorited": None,
        "thumbnail_url": "https://fal.media/t.png",
        "model_url": "https://fal.run/fal-ai/flux/dev",
        "date": "2024-08-01",
        "highlighted": False,
        "pinned": False,
        "brand_new_field": {"x": 1},
    },
    "openapi": {"openapi": "3.0.4", "info": {"title": "flux"}},
    "enterprise_status": "ready",
}
PRICE = {"endpoint_id": "fal-ai/flux/dev", "unit_price": 0.025, "unit": "image", "currency": "USD", "discount": 0}
JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1", "use": "sig"}


# -- get_models -------------------------------------------------------------------------------


def test_models_list(conn, mocked, check_output, fake_key):
    mocked.get(MODELS_URL, json={"models": [MODEL], "next_cursor": "Mg==", "has_more": True})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["models"] == [MODEL]  # extra keys (openapi, metadata.brand_new_field) pass through
    assert out["next_cursor"] == "Mg=="
    assert out["has_more"] is True
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert call.request.url == MODELS_URL
    assert call.request.headers["Authorization"] == f"Key {fake_key}"  # sent when there is one


def test_models_none_input_means_empty(conn, mocked, check_output):
    mocked.get(MODELS_URL, json={"models": [], "next_cursor": None, "has_more": False})
    out = conn.run("FAL_AI_GET_MODELS", None)
    check_output(conn, "get_models", out)
    assert out["models"] == [] and out["has_more"] is False and out["next_cursor"] is None


def test_models_query_parameters(conn, mocked, http_calls):
    mocked.get(MODELS_URL, json={"models": [], "has_more": False})
    out = conn.run("get_models", {
        "endpoint_id": ["fal-ai/flux/dev", "fal-ai/flux/schnell"],
        "q": "fox in snow",
        "category": "text-to-image",
        "status": "active",
        "limit": 5,
        "cursor": "Mg==",
        "expand": ["openapi-3.0", "enterprise_status"],
    })
    assert out["success"] is True, out
    call = mocked.calls[0]
    assert http_calls.url(call) == MODELS_URL
    assert http_calls.query(call) == {
        "endpoint_id": ["fal-ai/flux/dev", "fal-ai/flux/schnell"],  # repeated, in order
        "q": ["fox in snow"],
        "category": ["text-to-image"],
        "status": ["active"],
        "limit": ["5"],
        "cursor": ["Mg=="],
        "expand": ["openapi-3.0", "enterprise_status"],
    }


def test_models_single_endpoint_id_string(conn, mocked, http_calls):
    mocked.get(MODELS_URL, json={"models": [MODEL], "has_more": False})
    conn.run("get_models", {"endpoint_id": "fal-ai/flux/dev"})
    assert http_calls.query(mocked.calls[0]) == {"endpoint_id": ["fal-ai/flux/dev"]}


def test_models_without_key_sends_no_authorization(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    mocked.get(MODELS_URL, json={"models": [MODEL], "has_more": False})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["success"] is True
    assert "Authorization" not in mocked.calls[0].request.headers


def test_models_body_missing_models_names_the_field(conn, mocked, check_output):
    mocked.get(MODELS_URL, json={"items": [], "has_more": False})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "models" in out["error"]
    assert out["models"] is None


def test_models_entry_without_endpoint_id_is_invalid_response(conn, mocked, check_output):
    mocked.get(MODELS_URL, json={"models": [{"metadata": {}}], "has_more": False})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "endpoint_id" in out["error"]


def test_models_platform_error_envelope(conn, mocked, check_output):
    body = {"error": {"type": "validation_error", "message": "Invalid request parameters"}}
    mocked.get(MODELS_URL, status=400, json=body)
    out = conn.run("get_models", {"q": "x"})
    check_output(conn, "get_models", out)
    f = out["failure"]
    assert f["type"] == "http_error"
    assert f["detail"] == body
    assert "Invalid request parameters" in out["error"]


def test_models_rate_limited(conn, mocked, check_output, sleeps):
    mocked.get(MODELS_URL, status=429, json={"error": {"type": "rate_limited", "message": "Rate limit exceeded"}})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "rate_limited"
    assert out["failure"]["attempts"] == 6


def test_models_auth_error(conn, mocked, check_output):
    mocked.get(MODELS_URL, status=401, json={"error": {"type": "authorization_error", "message": "Authentication required"}})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "auth_error"
    assert out["failure"]["attempts"] == 1


def test_models_not_found(conn, mocked, check_output):
    mocked.get(MODELS_URL, status=404, json={"error": {"type": "not_found", "message": "Resource not found"}})
    out = conn.run("get_models", {"endpoint_id": "fal-ai/nope"})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "not_found"


def test_models_server_error(conn, mocked, check_output):
    mocked.get(MODELS_URL, status=500, json={"error": {"type": "server_error", "message": "An unexpected error occurred"}})
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 6


def test_models_invalid_json(conn, mocked, check_output):
    mocked.get(MODELS_URL, body="<html>", content_type="text/html")
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "invalid_response"


# -- get_pricing ------------------------------------------------------------------------------


def test_pricing_success(conn, mocked, check_output, http_calls, fake_key):
    mocked.get(PRICING_URL, json={"prices": [PRICE], "next_cursor": None, "has_more": False})
    out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "get_pricing", out)
    assert out["prices"] == [PRICE]  # the extra "discount" passes through
    assert out["has_more"] is False and out["next_cursor"] is None
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert http_calls.url(call) == PRICING_URL
    assert http_calls.query(call) == {"endpoint_id": ["fal-ai/flux/dev"]}
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


def test_pricing_list_of_endpoints_repeated(conn, mocked, http_calls):
    ids = [f"fal-ai/model-{i}" for i in range(50)]
    mocked.get(PRICING_URL, json={"prices": [], "has_more": False})
    out = conn.run("FAL_AI_GET_PRICING", {"endpoint_id": ids})
    assert out["success"] is True
    assert http_calls.query(mocked.calls[0]) == {"endpoint_id": ids}


def test_pricing_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "get_pricing", out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0


def test_pricing_missing_prices(conn, mocked, check_output):
    mocked.get(PRICING_URL, json={"has_more": False})
    out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "get_pricing", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "prices" in out["error"]


def test_pricing_entry_missing_unit_price(conn, mocked, check_output):
    entry = {k: v for k, v in PRICE.items() if k != "unit_price"}
    mocked.get(PRICING_URL, json={"prices": [entry], "has_more": False})
    out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "get_pricing", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "unit_price" in out["error"]


@pytest.mark.parametrize(("status", "ftype", "attempts"), [(401, "auth_error", 1), (403, "auth_error", 1), (404, "not_found", 1), (503, "server_error", 6)])
def test_pricing_errors(conn, mocked, check_output, status, ftype, attempts):
    mocked.get(PRICING_URL, status=status, json={"error": {"type": "x", "message": "m"}})
    out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    check_output(conn, "get_pricing", out)
    assert (out["failure"]["type"], out["failure"]["attempts"]) == (ftype, attempts)


# -- estimate_pricing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimate_type", "endpoints"),
    [
        ("historical_api_price", {"fal-ai/flux/dev": {"call_quantity": 100}}),
        ("unit_price", {"fal-ai/flux/dev": {"unit_quantity": 50}, "fal-ai/flux/schnell": {"unit_quantity": 0.5}}),
    ],
)
def test_estimate_success(conn, mocked, check_output, http_calls, fake_key, estimate_type, endpoints):
    mocked.post(ESTIMATE_URL, json={"estimate_type": estimate_type, "total_cost": 3.75, "currency": "USD"})
    out = conn.run("estimate_pricing", {"estimate_type": estimate_type, "endpoints": endpoints})
    check_output(conn, "estimate_pricing", out)
    assert out == {"success": True, "error": None, "failure": None, "estimate_type": estimate_type, "total_cost": 3.75, "currency": "USD"}
    call = mocked.calls[0]
    assert call.request.method == "POST"
    assert call.request.url == ESTIMATE_URL
    assert http_calls.json(call) == {"estimate_type": estimate_type, "endpoints": endpoints}
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


def test_estimate_is_retried_like_a_read(conn, mocked, check_output):
    mocked.post(ESTIMATE_URL, status=503, headers={"x-fal-request-id": "r"})  # a POST, but not billable
    out = conn.run("FAL_AI_ESTIMATE_PRICING", {"estimate_type": "historical_api_price", "endpoints": {"a/b": {"call_quantity": 1}}})
    check_output(conn, "estimate_pricing", out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 6
    assert out["failure"]["retryable"] is True


def test_estimate_read_timeout_is_timeout_not_outcome_unknown(conn, mocked, check_output):
    mocked.post(ESTIMATE_URL, body=requests.exceptions.ReadTimeout("slow"))
    out = conn.run("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"a/b": {"call_quantity": 1}}})
    check_output(conn, "estimate_pricing", out)
    assert out["failure"]["type"] == "timeout"
    assert out["failure"]["attempts"] == 6


def test_estimate_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    out = conn.run("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"a/b": {"call_quantity": 1}}})
    check_output(conn, "estimate_pricing", out)
    assert out["failure"]["type"] == "missing_credentials"
    assert len(mocked.calls) == 0


def test_estimate_missing_total_cost(conn, mocked, check_output):
    mocked.post(ESTIMATE_URL, json={"estimate_type": "unit_price", "currency": "USD"})
    out = conn.run("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"a/b": {"unit_quantity": 1}}})
    check_output(conn, "estimate_pricing", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "total_cost" in out["error"]


def test_estimate_validation_error(conn, mocked, check_output):
    mocked.post(ESTIMATE_URL, status=400, json={"error": {"type": "validation_error", "message": "Unknown endpoint"}})
    out = conn.run("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"a/b": {"unit_quantity": 1}}})
    check_output(conn, "estimate_pricing", out)
    assert out["failure"]["type"] == "http_error"
    assert out["failure"]["attempts"] == 1


# -- get_jwks ---------------------------------------------------------------------------------


def test_jwks_success_never_sends_the_key(conn, mocked, check_output):
    # jwks_url shares the rest origin, which is keyed: still no key for the public JWKS.
    mocked.get(JWKS_URL, json={"keys": [JWK]})
    out = conn.run("get_jwks", {})
    check_output(conn, "get_jwks", out)
    assert out["keys"] == [JWK]
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert call.request.url == JWKS_URL
    assert "Authorization" not in call.request.headers


def test_jwks_on_queue_origin_still_no_key(make_conn, mocked):
    conn = make_conn(jwks_url="https://queue.test/.well-known/jwks.json")
    mocked.get("https://queue.test/.well-known/jwks.json", json={"keys": [JWK]})
    assert conn.run("FAL_AI_GET_JWKS", {})["success"] is True
    assert "Authorization" not in mocked.calls[0].request.headers


def test_jwks_without_key(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    mocked.get(JWKS_URL, json={"keys": [JWK]})
    out = conn.run("get_jwks")
    check_output(conn, "get_jwks", out)
    assert out["success"] is True


def test_jwks_missing_keys(conn, mocked, check_output):
    mocked.get(JWKS_URL, json={"jwks": []})
    out = conn.run("get_jwks", {})
    check_output(conn, "get_jwks", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "keys" in out["error"]


@pytest.mark.parametrize(("status", "ftype", "attempts"), [(404, "not_found", 1), (500, "server_error", 6), (418, "http_error", 1)])
def test_jwks_errors(conn, mocked, check_output, status, ftype, attempts):
    mocked.get(JWKS_URL, status=status)
    out = conn.run("get_jwks", {})
    check_output(conn, "get_jwks", out)
    assert (out["failure"]["type"], out["failure"]["attempts"]) == (ftype, attempts)


def test_jwks_connection_error(conn, mocked, check_output, connect_failure):
    mocked.get(JWKS_URL, body=connect_failure(JWKS_URL))
    out = conn.run("get_jwks", {})
    check_output(conn, "get_jwks", out)
    assert out["failure"]["type"] == "connection_error"
    assert out["failure"]["attempts"] == 6


# -- the key goes only to keyed origins ----------------------------------------


def test_key_sent_to_configured_loopback_http_api_origin(make_conn, mocked):
    conn = make_conn(api_url="http://127.0.0.1:9000/v1", queue_url="http://127.0.0.1:9001")
    mocked.get("http://127.0.0.1:9000/v1/models", json={"models": [], "has_more": False})
    assert conn.run("get_models", {})["success"] is True
    assert mocked.calls[0].request.headers["Authorization"].startswith("Key ")
