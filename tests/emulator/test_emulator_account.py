"""The platform API beyond models and pricing: request history, payload deletion, usage,
analytics, billing events, balance, workflows and signed file URLs. Plain ``requests`` only."""

from __future__ import annotations

import pytest
import requests
from emu_helpers import poll

from connector.emulator import Emulator

ORDINARY, ADMIN = "kid:ordinary", "kid:admin"


@pytest.fixture
def scoped():
    """An emulator with an ordinary key and an admin key."""
    e = Emulator(api_key=ORDINARY, admin_key=ADMIN).start()
    yield e
    e.stop()


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Key {k}"}


def finished(emu, http, submit, wait_done, app: str, data: dict, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        job = submit(app, data)
        wait_done(job["status_url"])
        ids.append(job["request_id"])
    return ids


# --- request history ---------------------------------------------------------------------------

def test_by_endpoint_lists_finished_jobs_with_times_status_and_payloads(emu, http, submit, wait_done):
    ok = finished(emu, http, submit, wait_done, "fal-ai/echo", {"x": 1})[0]
    bad = finished(emu, http, submit, wait_done, "fal-ai/always-fails", {})[0]
    r = http.get(f"{emu.url}/v1/models/requests/by-endpoint", params={"endpoint_id": "fal-ai/echo",
                                                                       "expand": "payloads"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["has_more"] is False and body["next_cursor"] is None
    [item] = body["items"]
    assert item["request_id"] == ok and item["endpoint_id"] == "fal-ai/echo"
    assert item["status_code"] == 200 and item["duration"] >= 0
    assert item["sent_at"] <= item["started_at"] <= item["ended_at"]
    assert item["json_input"] == {"x": 1} and item["json_output"] == {"echo": {"x": 1}}
    failed = http.get(f"{emu.url}/v1/models/requests/by-endpoint",
                      params={"endpoint_id": "fal-ai/always-fails", "status": "user_error"}).json()["items"]
    assert [i["request_id"] for i in failed] == [bad] and "json_input" not in failed[0]
    assert http.get(f"{emu.url}/v1/models/requests/by-endpoint",
                    params={"endpoint_id": "fal-ai/always-fails", "status": "success"}).json()["items"] == []


def test_by_endpoint_paginates_at_most_100_newest_first(emu, http, submit, wait_done):
    ids = finished(emu, http, submit, wait_done, "fal-ai/echo", {}, n=5)
    url = f"{emu.url}/v1/models/requests/by-endpoint"
    seen, cursor = [], None
    while True:
        page = http.get(url, params={"endpoint_id": "fal-ai/echo", "limit": 2,
                                     **({"cursor": cursor} if cursor else {})}).json()
        assert len(page["items"]) <= 2
        seen += [i["request_id"] for i in page["items"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))
    for bad in ({"limit": 101}, {"limit": 0}, {"cursor": "not-a-cursor"}, {"status": "weird"},
                {"start": "yesterday"}, {"expand": "everything"}, {}):
        r = http.get(url, params={"endpoint_id": "fal-ai/echo", **bad} if bad else {})
        assert r.status_code == 400 and r.json()["error"]["type"] == "validation_error", bad
    assert http.get(url, params={"endpoint_id": "nobody/nothing"}).json()["error"]["type"] == "not_found"


def test_by_endpoint_filters_by_time_window_and_request_id(emu, http, submit, wait_done):
    rid = finished(emu, http, submit, wait_done, "fal-ai/echo", {})[0]
    url = f"{emu.url}/v1/models/requests/by-endpoint"
    past = http.get(url, params={"endpoint_id": "fal-ai/echo", "start": "2020-01-01", "end": "2020-01-02"})
    assert past.json()["items"] == []
    one = http.get(url, params={"endpoint_id": "fal-ai/echo", "request_id": rid}).json()["items"]
    assert [i["request_id"] for i in one] == [rid]


def test_search_finds_requests_by_text_in_input_or_output(emu, http, submit, wait_done):
    hit = finished(emu, http, submit, wait_done, "fal-ai/echo", {"prompt": "a red balloon"})[0]
    finished(emu, http, submit, wait_done, "fal-ai/echo", {"prompt": "a blue car"})
    r = http.get(f"{emu.url}/v1/models/requests/search", params={"query": "RED balloon"})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["request_id"] for x in results] == [hit] and results[0]["similarity"] == 1.0
    both = http.get(f"{emu.url}/v1/models/requests/search", params={"query": "x", "image_url": "http://i"})
    assert both.status_code == 400


def test_deleting_payloads_needs_the_admin_key_and_lists_output_files(scoped, http):
    job = http.post(f"{scoped.url}/fal-ai/flux/schnell", json={"prompt": "p", "num_images": 2},
                    headers=key(ORDINARY)).json()
    poll(lambda: http.get(job["status_url"], headers=key(ORDINARY)).json()["status"] == "COMPLETED")
    url = f"{scoped.url}/v1/models/requests/{job['request_id']}/payloads"
    assert http.delete(url).status_code == 401
    denied = http.delete(url, headers=key(ORDINARY))
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "authorization_error"
    done = http.delete(url, headers={**key(ADMIN), "Idempotency-Key": "k1"})
    assert done.status_code == 200
    links = [x["link"] for x in done.json()["cdn_delete_results"]]
    assert len(links) == 2 and all(x["exception"] is None for x in done.json()["cdn_delete_results"])
    # the same key answers the same; a new key finds nothing left to delete
    assert http.delete(url, headers={**key(ADMIN), "Idempotency-Key": "k1"}).json() == done.json()
    assert http.delete(url, headers={**key(ADMIN), "Idempotency-Key": "k2"}).json() == {"cdn_delete_results": []}
    item = http.get(f"{scoped.url}/v1/models/requests/by-endpoint", headers=key(ORDINARY),
                    params={"endpoint_id": "fal-ai/flux/schnell", "expand": "payloads"}).json()["items"][0]
    assert item["json_input"] is None and item["json_output"] is None
    assert [d["idempotency_key"] for d in scoped.history.deletions] == ["k1", "k1", "k2"]  # refusals never count
    missing = http.delete(f"{scoped.url}/v1/models/requests/nope/payloads", headers=key(ADMIN))
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


# --- usage, analytics, billing, balance ----------------------------------------------------------

def test_usage_billing_events_and_balance_come_from_the_jobs_that_ran(emu, http, submit, wait_done):
    start = emu.balance
    finished(emu, http, submit, wait_done, "fal-ai/fast-sdxl", {"prompt": "p", "num_images": 2})
    finished(emu, http, submit, wait_done, "fal-ai/always-fails", {})  # failed: not billed
    usage = http.get(f"{emu.url}/v1/models/usage", params={"expand": "summary,time_series"}).json()
    [item] = usage["summary"]
    assert item["endpoint_id"] == "fal-ai/fast-sdxl" and item["unit"] == "image"
    assert item["quantity"] == 2 and item["cost"] == pytest.approx(0.005) and item["currency"] == "USD"
    assert usage["time_series"][0]["results"][0]["quantity"] == 2
    events = http.get(f"{emu.url}/v1/models/billing-events").json()["billing_events"]
    assert len(events) == 1 and events[0]["cost_total"] == pytest.approx(0.005)
    assert events[0]["cost_estimate_nano_usd"] == 5_000_000
    billing = http.get(f"{emu.url}/v1/account/billing", params={"expand": "credits"}).json()
    assert billing["credits"] == {"current_balance": pytest.approx(start - 0.005), "currency": "USD"}
    assert "credits" not in http.get(f"{emu.url}/v1/account/billing").json()
    emu.set_balance(0.5)
    assert http.get(f"{emu.url}/v1/account/billing?expand=credits").json()["credits"]["current_balance"] == 0.5
    assert http.get(f"{emu.url}/v1/models/usage", params={"timeframe": "year"}).status_code == 400
    assert http.get(f"{emu.url}/v1/models/usage", params={"expand": "auth_method"}).status_code == 400


def test_admin_routes_refuse_an_ordinary_key_with_403(scoped, http):
    for path in ("/v1/models/usage", "/v1/models/billing-events", "/v1/account/billing?expand=credits"):
        assert http.get(scoped.url + path, headers=key(ORDINARY)).status_code == 403, path
        assert http.get(scoped.url + path, headers=key(ADMIN)).status_code == 200, path
        assert http.get(scoped.url + path, headers=key("kid:wrong")).status_code == 401, path
    # the admin key works on ordinary routes too
    assert http.post(f"{scoped.url}/fal-ai/echo", json={}, headers=key(ADMIN)).status_code == 200
    assert http.get(f"{scoped.url}/v1/models/requests/by-endpoint?endpoint_id=fal-ai/echo",
                    headers=key(ORDINARY)).status_code == 200


def test_analytics_counts_and_percentiles_per_endpoint(emu, http, submit, wait_done):
    finished(emu, http, submit, wait_done, "fal-ai/echo", {}, n=3)
    r = http.get(f"{emu.url}/v1/models/analytics",
                 params={"endpoint_id": "fal-ai/echo", "expand": "summary,request_count,success_count,p50_duration"})
    assert r.status_code == 200, r.text
    [row] = r.json()["summary"]
    assert row["request_count"] == 3 and row["success_count"] == 3 and row["p50_duration"] > 0
    assert http.get(f"{emu.url}/v1/models/analytics").status_code == 400
    assert http.get(f"{emu.url}/v1/models/analytics", params={"endpoint_id": "no/such"}).status_code == 404
    series = http.get(f"{emu.url}/v1/models/analytics", params={"endpoint_id": "fal-ai/echo"}).json()
    assert series["time_series"][0]["results"][0]["request_count"] == 3


# --- workflows and signed URLs -------------------------------------------------------------------

def test_workflows_list_and_get_with_the_input_schema(emu, http):
    listed = http.get(f"{emu.url}/v1/workflows").json()
    assert listed["total"] == 1 and listed["has_more"] is False
    wf = listed["workflows"][0]
    assert (wf["user_nickname"], wf["name"]) == ("fal-ai", "echo-workflow")
    got = http.get(f"{emu.url}/v1/workflows/fal-ai/echo-workflow").json()["workflow"]
    assert got["contents"]["schema"]["input"]["prompt"]["type"] == "string"
    assert http.get(f"{emu.url}/v1/workflows/fal-ai/nope").status_code == 404
    assert http.get(f"{emu.url}/v1/workflows/fal-ai/bad%20name").status_code == 400
    assert http.get(f"{emu.url}/v1/workflows", params={"search": "zzz"}).json()["workflows"] == []
    assert http.get(f"{emu.url}/v1/workflows", params={"limit": 0}).status_code == 400


def test_sign_file_url_checks_expiration_and_the_file(emu, http):
    tok = http.post(f"{emu.url}/storage/auth/token?storage_type=fal-cdn-v3", json={}).json()["token"]
    up = http.post(f"{emu.url}/cdn/files/upload", data=b"hello",
                   headers={"Authorization": f"Bearer {tok}", "Content-Type": "text/plain",
                            "X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds": 60}'}).json()
    assert emu._storage.lifecycles[up["access_url"]] == {"expiration_duration_seconds": 60}
    sign = f"{emu.url}/v1/storage/files/sign"
    r = http.post(sign, params={"url": up["access_url"]}, json={"expiration_seconds": 3600})
    assert r.status_code == 200 and r.json()["signed_url"].startswith(up["access_url"] + "?")
    assert http.get(r.json()["signed_url"]).content == b"hello"
    for seconds in (0, 604801, "60", None):
        assert http.post(sign, params={"url": up["access_url"]}, json={"expiration_seconds": seconds}).status_code == 400
    assert http.post(sign, params={"url": emu.url + "/cdn/files/x/none.txt"},
                     json={"expiration_seconds": 1}).status_code == 404
    bad = http.post(f"{emu.url}/cdn/files/upload", data=b"x", headers={
        "Authorization": f"Bearer {tok}", "X-Fal-Object-Lifecycle-Preference": "not json"})
    assert bad.status_code == 400


def test_new_routes_take_faults_and_cursors_are_fal_style(emu, http):
    emu.faults.add("requests", status=429, body={"error": {"type": "rate_limited", "message": "Rate limit exceeded"}})
    r = http.get(f"{emu.url}/v1/models/requests/by-endpoint?endpoint_id=fal-ai/echo")
    assert r.status_code == 429
    assert http.get(f"{emu.url}/v1/models/requests/by-endpoint?endpoint_id=fal-ai/echo").status_code == 200
    emu.faults.add("billing", status=503)
    assert http.get(f"{emu.url}/v1/account/billing").status_code == 503
    assert http.put(f"{emu.url}/v1/models/usage").status_code == 405
    with pytest.raises(requests.ConnectionError):
        emu.faults.add("payloads", action="drop_before")
        http.delete(f"{emu.url}/v1/models/requests/x/payloads")


def test_submit_keeps_the_storage_headers_and_refuses_a_malformed_lifecycle(emu, http):
    headers = {"X-Fal-No-Retry": "1", "X-Fal-Store-IO": "0",
               "X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds": 600}'}
    job = http.post(f"{emu.url}/fal-ai/echo", json={}, headers=headers).json()
    kept = emu.job(job["request_id"]).headers
    assert {k: kept[k] for k in headers} == headers
    bad = http.post(f"{emu.url}/fal-ai/echo", json={}, headers={"X-Fal-Object-Lifecycle-Preference": "[1]"})
    assert bad.status_code == 400 and bad.json()["error_type"] == "bad_request"
