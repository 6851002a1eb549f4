"""Every action's success path against the emulator over real sockets.

subscribe, run_model, upload_file and the webhook flow have their own files; here each of
the queue / platform / JWKS actions is driven once end to end, plus ``Connector.stream()``.
"""

from __future__ import annotations

import threading
import uuid
from urllib.parse import parse_qs, urlsplit

import requests

from connector.testing import TEST_KEY

PROMPT = "a red fox in the snow"


def _paths(emu, method=None, contains=""):
    return [target for m, target, _ in list(emu.requests_log) if (method is None or m == method) and contains in target]


# -- the queue: submit, status, result (on the product's own pytest fixtures) -------------


def test_submit_status_result_on_the_product_fixtures(fal_connector, fal_emulator, check_output, wait_for):
    """``fal_emulator`` enforces a key and ``fal_connector`` carries it: the whole job works."""
    assert fal_emulator.api_key == TEST_KEY
    out = fal_connector.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": PROMPT, "seed": 7}})
    check_output(fal_connector, "add_request_to_queue", out)
    assert out["success"], out
    rid = out["request_id"]
    job = fal_emulator.job(rid)
    assert job is not None and len(fal_emulator.jobs) == 1
    assert job.endpoint_id == "fal-ai/flux/dev" and job.input == {"prompt": PROMPT, "seed": 7}
    assert job.headers.get("Authorization") == f"Key {TEST_KEY}"
    # fal's absolute URLs, built from owner/app only (never the endpoint's sub-path).
    base = f"{fal_emulator.url}/fal-ai/flux/requests/{rid}"
    assert (out["response_url"], out["status_url"], out["cancel_url"]) == (base, base + "/status", base + "/cancel")
    assert out["queue_position"] == 0

    ids = {"app_id": "fal-ai/flux/dev", "request_id": rid}
    early = fal_connector.run("get_request_status", ids)
    check_output(fal_connector, "get_request_status", early)
    assert early["success"] and early["status"] in ("IN_QUEUE", "IN_PROGRESS")
    assert early["logs"] == [] and early["job_error"] is None

    wait_for(lambda: job.state == "COMPLETED")
    done = fal_connector.run("GetRequestStatus", {**ids, "logs": True})  # an alias
    check_output(fal_connector, "get_request_status", done)
    assert done["success"] and done["status"] == "COMPLETED" and done["queue_position"] is None
    messages = [entry["message"] for entry in done["logs"]]
    assert messages[0] == "Starting inference on fal-ai/flux/dev" and messages[-1].startswith("Inference completed")
    assert len(messages) == 5
    assert all(entry["level"] == "INFO" and entry["timestamp"] and entry["source"] == "USER" for entry in done["logs"])
    assert done["metrics"]["inference_time"] > 0
    assert done["job_error"] is None and done["job_error_type"] is None
    # logs only when asked for, and the emulator saw logs=1 only then
    quiet = fal_connector.run("get_request_status", ids)
    assert quiet["success"] and quiet["logs"] == []
    status_queries = [parse_qs(urlsplit(p).query) for p in _paths(fal_emulator, "GET", f"/requests/{rid}/status")]
    assert status_queries == [{}, {"logs": ["1"]}, {}]

    result = fal_connector.run("get_request_response", ids)
    check_output(fal_connector, "get_request_response", result)
    assert result["success"], result
    data = result["data"]
    assert data["prompt"] == PROMPT and data["seed"] == 7
    assert len(data["images"]) == 1 and data["images"][0]["url"].startswith(fal_emulator.url + "/cdn/images/")
    assert data["has_nsfw_concepts"] == [False]  # fal's extra keys pass through
    # the image URL is real: the emulator serves a PNG there
    png = requests.get(data["images"][0]["url"], timeout=5)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_namespaced_app_and_bare_alias_hit_the_right_paths(emu, conn, check_output, wait_for):
    out = conn.run("add_request_to_queue", {"app_id": "workflows/fal-ai/echo-workflow", "data": {"n": 1}})
    check_output(conn, "add_request_to_queue", out)
    assert out["success"], out
    assert out["status_url"] == f"{emu.url}/workflows/fal-ai/echo-workflow/requests/{out['request_id']}/status"
    job = emu.job(out["request_id"])
    wait_for(lambda: job.state == "COMPLETED")
    result = conn.run("get_request_response", {"app_id": "workflows/fal-ai/echo-workflow", "request_id": out["request_id"]})
    assert result["success"] and result["data"] == {"echo": {"n": 1}}

    out = conn.run("add_request_to_queue", {"app_id": "fast-sdxl", "data": {"prompt": "x"}})
    assert out["success"], out
    assert emu.job(out["request_id"]).endpoint_id == "fal-ai/fast-sdxl"


# -- stream_request_status -----------------------------------------------------------------


def test_stream_events_in_order_and_keepalives_are_not_events(emu, conn, check_output):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.4, run_seconds=0.2)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": PROMPT}})
    assert sub["success"], sub
    ids = {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"]}

    # A plain reader of the same stream, alongside, proves the emulator really sent pings.
    raw: list[bytes] = []

    def read_raw() -> None:
        with requests.get(f"{emu.url}/fal-ai/flux/requests/{sub['request_id']}/status/stream", stream=True, timeout=5) as r:
            raw.extend(line for line in r.iter_lines() if line)

    reader = threading.Thread(target=read_raw)
    reader.start()
    out = conn.run("stream_request_status", {**ids, "timeout": 10})
    reader.join(5)
    check_output(conn, "stream_request_status", out)
    assert out["success"], out
    pings = [line for line in raw if line.startswith(b":")]
    assert len(pings) >= 3, raw  # ~0.4 s in the queue with a ping every 0.05 s
    # Without logs one job changes state exactly twice: three events, pings never among them.
    assert [e["status"] for e in out["events"]] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert out["events"][0]["queue_position"] == 0 and out["events"][1]["queue_position"] is None
    assert out["status"] == "COMPLETED" and out["logs"] == [] and out["job_error"] is None
    assert out["metrics"]["inference_time"] > 0
    assert all(e["request_id"] == sub["request_id"] for e in out["events"])  # fal's keys pass through


def test_stream_with_logs_deduplicates_them_in_order(emu, conn, check_output):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.05, run_seconds=0.4)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": PROMPT}})
    out = conn.run("FAL_AI_QUEUE_GET_STATUS_STREAM", {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"], "logs": True, "timeout": 10})
    check_output(conn, "stream_request_status", out)
    assert out["success"] and out["status"] == "COMPLETED", out
    # The emulator resends the whole history with every event: the events overlap ...
    assert sum(len(e["logs"]) for e in out["events"]) > len(out["logs"])
    assert len([e for e in out["events"] if e["logs"]]) >= 3
    # ... and the action's logs are each entry once, in order: the final history.
    assert out["logs"] == out["events"][-1]["logs"]
    messages = [entry["message"] for entry in out["logs"]]
    assert messages == [
        "Starting inference on fal-ai/flux/dev", "Inference progress: 25%", "Inference progress: 50%",
        "Inference progress: 75%", messages[-1],
    ] and messages[-1].startswith("Inference completed")
    keys = [(entry["timestamp"], entry["message"]) for entry in out["logs"]]
    assert len(set(keys)) == len(keys) == 5


def test_connector_stream_yields_the_first_event_before_the_job_completes(emu, conn):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.3, run_seconds=0.3)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": PROMPT}})
    job = emu.job(sub["request_id"])
    seen = []
    for event in conn.stream("stream_request_status", {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"], "timeout": 10}):
        seen.append((event["status"], job.state))
    assert [s for s, _ in seen] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    # live: each event reached the consumer while the job was still in that state (an
    # iterator that buffered until the end would see COMPLETED every time)
    assert seen[0][1] == "IN_QUEUE" and seen[1][1] == "IN_PROGRESS"


# -- cancel_request --------------------------------------------------------------------------


def test_cancel_queued_running_completed_and_unknown(emu, conn, check_output, wait_for):
    app = "fal-ai/slow"  # 2 s in the queue by default
    queued = conn.run("add_request_to_queue", {"app_id": app, "data": {}})
    out = conn.run("cancel_request", {"app_id": app, "request_id": queued["request_id"]})
    check_output(conn, "cancel_request", out)
    assert out["success"] and out["cancel_status"] == "OK", out
    job = emu.job(queued["request_id"])
    assert job.cancelled_at is not None and job.state == "COMPLETED"
    status = conn.run("get_request_status", {"app_id": app, "request_id": queued["request_id"]})
    assert status["success"] and status["status"] == "COMPLETED"
    assert (status["job_error"], status["job_error_type"]) == ("Request cancelled", "client_cancelled")

    emu.set_model(app, queue_seconds=0, run_seconds=5)
    running = conn.run("add_request_to_queue", {"app_id": app, "data": {}})
    job = emu.job(running["request_id"])
    wait_for(lambda: job.state == "IN_PROGRESS")
    out = conn.run("CancelRequest", {"app_id": app, "request_id": running["request_id"]})
    check_output(conn, "cancel_request", out)
    assert out["success"] and out["cancel_status"] == "CANCELLATION_REQUESTED", out
    assert job.cancel_requested_at is not None
    wait_for(lambda: job.state == "COMPLETED", timeout=2)  # stops within the grace, not after 5 s

    done = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})
    wait_for(lambda: emu.job(done["request_id"]).state == "COMPLETED")
    out = conn.run("cancel_request", {"app_id": "fal-ai/echo", "request_id": done["request_id"]})
    check_output(conn, "cancel_request", out)
    assert not out["success"] and out["cancel_status"] == "ALREADY_COMPLETED"
    assert out["failure"]["type"] == "already_completed" and out["failure"]["attempts"] == 1
    assert out["failure"]["retryable"] is False

    out = conn.run("cancel_request", {"app_id": "fal-ai/echo", "request_id": str(uuid.uuid4())})
    check_output(conn, "cancel_request", out)
    assert not out["success"] and out["cancel_status"] == "NOT_FOUND"
    assert out["failure"]["type"] == "not_found" and out["failure"]["status_code"] == 404
    assert out["failure"]["attempts"] == 1  # a 404 is not retried


# -- platform API ----------------------------------------------------------------------------


def test_get_models_pagination_filters_and_expand(emu, conn, check_output):
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        inputs = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        out = conn.run("get_models", inputs)
        check_output(conn, "get_models", out)
        assert out["success"], out
        pages += 1
        seen += [m["endpoint_id"] for m in out["models"]]
        if not out["has_more"]:
            assert out["next_cursor"] is None
            break
        assert len(out["models"]) == 4 and out["next_cursor"]
        cursor = out["next_cursor"]
    assert pages == 3 and len(seen) == len(set(seen)) == 11  # the whole catalogue, once each
    assert "fal-ai/flux/dev" in seen and "comfy/fal-ai/echo-comfy" in seen

    out = conn.run("FAL_AI_GET_MODELS", {"endpoint_id": ["fal-ai/echo", "fal-ai/flux/dev"]})
    assert out["success"] and [m["endpoint_id"] for m in out["models"]] == ["fal-ai/echo", "fal-ai/flux/dev"]
    assert parse_qs(urlsplit(_paths(emu, "GET", "/v1/models?")[-1]).query)["endpoint_id"] == ["fal-ai/echo", "fal-ai/flux/dev"]
    assert out["models"][1]["metadata"]["display_name"] == "FLUX.1 [dev]"
    assert "openapi" not in out["models"][0]

    out = conn.run("get_models", {"endpoint_id": "fal-ai/flux/dev", "expand": ["openapi-3.0"]})
    check_output(conn, "get_models", out)
    assert out["success"], out
    doc = out["models"][0]["openapi"]
    assert doc["openapi"].startswith("3.0") and "/fal-ai/flux/dev" in doc["paths"]
    assert doc["components"]["schemas"]["Input"]["required"] == ["prompt"]

    out = conn.run("get_models", {"category": "text-to-image", "status": "deprecated"})
    assert out["success"] and [m["endpoint_id"] for m in out["models"]] == ["fal-ai/stable-diffusion-v15"]
    out = conn.run("get_models", {"q": "schnell"})
    assert out["success"] and [m["endpoint_id"] for m in out["models"]] == ["fal-ai/flux/schnell"]


def test_get_models_works_without_a_key_but_pricing_needs_one(keyed_emu, make_conn, check_output):
    keyless = make_conn(keyed_emu, api_key=None)
    out = keyless.run("get_models", {"limit": 1})
    check_output(keyless, "get_models", out)
    assert out["success"] and len(out["models"]) == 1
    assert "Authorization" not in keyed_emu.requests_log[-1][2]
    before = len(keyed_emu.requests_log)
    out = keyless.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    assert out["failure"]["type"] == "missing_credentials" and out["failure"]["attempts"] == 0
    assert len(keyed_emu.requests_log) == before  # nothing sent


def test_get_pricing_and_estimate_pricing(conn, check_output):
    out = conn.run("get_pricing", {"endpoint_id": ["fal-ai/flux/dev", "fal-ai/fast-sdxl"]})
    check_output(conn, "get_pricing", out)
    assert out["success"], out
    assert [(p["endpoint_id"], p["unit_price"], p["unit"], p["currency"]) for p in out["prices"]] == [
        ("fal-ai/flux/dev", 0.025, "image", "USD"), ("fal-ai/fast-sdxl", 0.0025, "image", "USD")]
    assert out["has_more"] is False

    out = conn.run("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 4}}})
    check_output(conn, "estimate_pricing", out)
    assert out["success"] and out["estimate_type"] == "unit_price", out
    assert abs(out["total_cost"] - 0.1) < 1e-9 and out["currency"] == "USD"

    out = conn.run("FAL_AI_ESTIMATE_PRICING", {"estimate_type": "historical_api_price",
                                               "endpoints": {"fal-ai/fast-sdxl": {"call_quantity": 10}, "fal-ai/echo": {"call_quantity": 1}}})
    assert out["success"] and abs(out["total_cost"] - 0.0251) < 1e-9, out


# -- JWKS and a signed delivery ------------------------------------------------------------


def test_get_jwks_and_verify_webhook(emu, conn, check_output):
    out = conn.run("get_jwks", {})
    check_output(conn, "get_jwks", out)
    assert out["success"] and out["keys"] == emu.jwks()["keys"]
    assert out["keys"][0]["kty"] == "OKP" and out["keys"][0]["crv"] == "Ed25519"

    body = b'{"request_id": "r-1", "status": "OK", "payload": {"echo": {"a": 1}}}'
    headers = emu.sign_webhook(body, "r-1")
    out = conn.run("verify_webhook", {"headers": headers, "body": body.decode()})
    check_output(conn, "verify_webhook", out)
    assert out["success"] and out["valid"] is True, out
    assert (out["request_id"], out["user_id"]) == ("r-1", "emulator-user")
    assert out["timestamp"] == int(headers["X-Fal-Webhook-Timestamp"])
    assert out["payload"] == {"request_id": "r-1", "status": "OK", "payload": {"echo": {"a": 1}}}
