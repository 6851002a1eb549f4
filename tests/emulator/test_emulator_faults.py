"""Fault injection: every kind, and the server stays healthy after each."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from emu_helpers import sse_events


def healthy(emu, http):
    r = http.post(f"{emu.url}/fal-ai/echo", json={"ok": True})
    assert r.status_code == 200
    assert http.get(r.json()["status_url"]).status_code in (200, 202)
    assert requests.get(f"{emu.url}/v1/models", timeout=5).status_code == 200  # a fresh connection too


def raw_request(emu, method: str, path: str, body: bytes = b"") -> socket.socket:
    host, port = urlsplit(emu.url).hostname, urlsplit(emu.url).port
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def test_status_override_with_headers_and_dict_body(emu, http, submit):
    job = submit("fal-ai/echo", {})
    rule = emu.faults.add("status", status=429, headers={"Retry-After": "1"}, body={"detail": "slow down"})
    r = http.get(job["status_url"])
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json() == {"detail": "slow down"}
    assert r.headers["x-fal-request-id"]  # fal's own answers carry it
    assert rule.hits == 1 and rule.times == 0 and emu.faults.rules == []
    assert http.get(job["status_url"]).status_code in (200, 202)  # times=1: used up


def test_status_fault_does_no_work(emu, http):
    emu.faults.add("submit", status=503)
    assert http.post(f"{emu.url}/fal-ai/echo", json={}).status_code == 503
    assert emu.jobs == []


def test_ingress_502_has_no_request_id(emu, http):
    emu.faults.add("submit", ingress=True)
    r = http.post(f"{emu.url}/fal-ai/echo", json={})
    assert r.status_code == 502 and "nginx" in r.text and r.headers["Content-Type"] == "text/html"
    assert "x-fal-request-id" not in r.headers
    emu.faults.add("status", status=504, ingress=True)
    healthy_job = http.post(f"{emu.url}/fal-ai/echo", json={}).json()
    r = http.get(healthy_job["status_url"])
    assert r.status_code == 504 and "x-fal-request-id" not in r.headers and "504 Gateway" in r.text


def test_header_none_removes_request_id(emu, http):
    emu.faults.add("submit", status=503, headers={"x-fal-request-id": None}, body="upstream down")
    r = http.post(f"{emu.url}/fal-ai/echo", json={})
    assert r.status_code == 503 and r.text == "upstream down" and "x-fal-request-id" not in r.headers


def test_times_and_forever(emu, http):
    emu.faults.add("models", status=500, times=2)
    codes = [http.get(f"{emu.url}/v1/models").status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    r = emu.faults.add("models", status=503, times=None)
    assert all(http.get(f"{emu.url}/v1/models").status_code == 503 for _ in range(4))
    assert r.hits == 4
    assert emu.faults.clear() == 1
    assert http.get(f"{emu.url}/v1/models").status_code == 200


def test_platform_fault_uses_envelope(emu, http):
    emu.faults.add("pricing", status=429)
    r = http.get(f"{emu.url}/v1/models/pricing", params={"endpoint_id": "fal-ai/echo"})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limited"


def test_app_and_path_filters(emu, http):
    emu.faults.add("submit", status=500, app_id="fal-ai/flux", times=None)
    assert http.post(f"{emu.url}/fal-ai/echo", json={}).status_code == 200
    assert http.post(f"{emu.url}/fal-ai/flux/dev", json={"prompt": "x"}).status_code == 500
    emu.faults.clear()
    job = http.post(f"{emu.url}/fal-ai/echo", json={}).json()
    emu.faults.add("status", status=500, path="logs=1", times=None)
    assert http.get(job["status_url"]).status_code != 500
    assert http.get(job["status_url"], params={"logs": 1}).status_code == 500


def test_delay_trips_client_read_timeout(emu, http, submit):
    job = submit("fal-ai/echo", {})
    emu.faults.add("status", delay=0.4)
    t0 = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        http.get(job["status_url"], timeout=(2, 0.15))
    assert time.monotonic() - t0 < 0.35
    healthy(emu, http)
    emu.faults.add("status", delay=0.1, status=503)
    t0 = time.monotonic()
    assert http.get(job["status_url"]).status_code == 503
    assert time.monotonic() - t0 >= 0.1


def test_drop_before_creates_no_job(emu, http):
    emu.faults.add("submit", action="drop_before")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{emu.url}/fal-ai/echo", json={})
    assert emu.jobs == []
    healthy(emu, http)


def test_drop_after_creates_exactly_one_job(emu, http):
    emu.faults.add("submit", action="drop_after")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{emu.url}/fal-ai/echo", json={"n": 1})
    assert len(emu.jobs) == 1 and emu.jobs[0].input == {"n": 1}
    healthy(emu, http)
    assert len(emu.jobs) == 2


def test_drop_is_fin_and_reset_is_rst(emu, http):
    emu.faults.add("models", action="drop_before")
    s = raw_request(emu, "GET", "/v1/models")
    assert s.recv(100) == b""  # orderly close, no bytes
    s.close()
    emu.faults.add("models", action="reset")
    s = raw_request(emu, "GET", "/v1/models")
    with pytest.raises(ConnectionResetError):
        s.recv(100)
    s.close()
    emu.faults.add("submit", action="reset_after")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{emu.url}/fal-ai/echo", json={})
    assert len(emu.jobs) == 1
    healthy(emu, http)


def test_sse_drop_after_events(emu, http, submit):
    job = submit("fal-ai/slow", {})
    emu.faults.add("stream", action="sse_drop", after_events=1)
    got = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
            for kind, obj in sse_events(r):
                got.append((kind, obj))
    assert [k for k, _ in got] == ["data"] and got[0][1]["status"] == "IN_QUEUE"
    healthy(emu, http)


def test_sse_drop_graceful(emu, http, submit):
    job = submit("fal-ai/slow", {})
    emu.faults.add("stream", action="sse_drop", after_events=1, graceful=True)
    with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
        data = [obj for kind, obj in sse_events(r) if kind == "data"]
    assert [d["status"] for d in data] == ["IN_QUEUE"]  # the body ended without COMPLETED


def test_sse_stall_sends_nothing_then_closes(emu, http, submit):
    job = submit("fal-ai/slow", {})
    emu.faults.add("stream", action="sse_stall", after_events=1, stall=0.3)
    got, t_first, t_end = [], None, None
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
            try:
                for item in sse_events(r):
                    got.append(item)
                    t_first = t_first or time.monotonic()
            finally:
                t_end = time.monotonic()
    assert [k for k, _ in got] == ["data"]  # no pings during the stall (ping interval is 0.05 s)
    assert t_end - t_first >= 0.28
    healthy(emu, http)


def test_sse_stall_trips_client_read_timeout(emu, http, submit):
    job = submit("fal-ai/slow", {})
    emu.faults.add("stream", action="sse_stall", after_events=0, stall=1.0)
    with pytest.raises((requests.ReadTimeout, requests.ConnectionError)):
        with http.get(job["status_url"] + "/stream", stream=True, timeout=(2, 0.2)) as r:
            list(r.iter_lines())
    healthy(emu, http)


@pytest.mark.parametrize("action, check", [
    ("invalid_json", lambda r: r.status_code == 200 and _bad_json(r)),
    ("html", lambda r: r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
     and r.text.startswith("<!DOCTYPE html>")),
    ("empty", lambda r: r.status_code == 200 and r.content == b""),
])
def test_body_faults_after_work(emu, http, action, check):
    emu.faults.add("submit", action=action)
    r = http.post(f"{emu.url}/fal-ai/echo", json={})
    assert check(r)
    assert len(emu.jobs) == 1  # the work was done: the job exists
    healthy(emu, http)


def _bad_json(r):
    try:
        r.json()
    except ValueError:
        return True
    return False


def test_short_body(emu, http, submit):
    job = submit("fal-ai/echo", {})
    emu.faults.add("status", action="short_body")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        http.get(job["status_url"])
    healthy(emu, http)


def test_big_body_streamed(emu, http, submit, wait_done):
    job = submit("fal-ai/echo", {})
    wait_done(job["status_url"])
    emu.faults.add("result", action="big_body", size=5_000_000)
    r = http.get(job["response_url"])
    assert r.status_code == 200 and len(r.content) == 5_000_000
    assert isinstance(json.loads(r.content), dict)
    healthy(emu, http)


@pytest.mark.parametrize("route, call", [
    ("jwks", lambda h, u: h.get(f"{u}/.well-known/jwks.json")),
    ("storage_token", lambda h, u: h.post(f"{u}/storage/auth/token?storage_type=fal-cdn-v3")),
    ("upload", lambda h, u: h.post(f"{u}/cdn/files/upload", data=b"x")),
    ("upload_initiate", lambda h, u: h.post(f"{u}/storage/upload/initiate?storage_type=gcs", json={})),
    ("multipart", lambda h, u: h.post(f"{u}/cdn/files/upload/multipart")),
    ("file", lambda h, u: h.get(f"{u}/cdn/images/64x64/ff0000.png")),
    ("estimate", lambda h, u: h.post(f"{u}/v1/models/pricing/estimate", json={})),
    ("run", lambda h, u: h.post(f"{u}/run/fal-ai/echo", json={})),
    ("cancel", lambda h, u: h.put(f"{u}/fal-ai/echo/requests/x/cancel")),
    ("result", lambda h, u: h.get(f"{u}/fal-ai/echo/requests/x")),
])
def test_every_route_name_is_faultable(emu, http, route, call):
    emu.faults.add(route, status=418)
    assert call(http, emu.url).status_code == 418
    assert call(http, emu.url).status_code != 418


def test_add_validates(emu):
    with pytest.raises(ValueError):
        emu.faults.add("nope", status=500)
    with pytest.raises(ValueError):
        emu.faults.add("status", action="explode")
    with pytest.raises(TypeError):
        emu.faults.add("status", status=500, colour="red")
    with pytest.raises(ValueError):
        emu.faults.add("status", status=500, times=0)
    with pytest.raises(ValueError):
        emu.faults.add("result", action="big_body")


def test_control_api(emu, http):
    r = http.post(f"{emu.url}/_emulator/faults", json={"route": "submit", "status": 503, "times": 2})
    assert r.status_code == 200 and r.json()["status"] == 503
    assert http.get(f"{emu.url}/_emulator/faults").json()["faults"][0]["route"] == "submit"
    assert http.post(f"{emu.url}/fal-ai/echo", json={}).status_code == 503
    assert http.delete(f"{emu.url}/_emulator/faults").json() == {"cleared": 1}
    job = http.post(f"{emu.url}/fal-ai/echo", json={"a": 1}).json()
    jobs = http.get(f"{emu.url}/_emulator/jobs").json()["jobs"]
    assert [j["request_id"] for j in jobs] == [job["request_id"]] and jobs[0]["input"] == {"a": 1}
    assert http.post(f"{emu.url}/_emulator/faults", json={"route": "bogus"}).status_code == 400
    assert http.post(f"{emu.url}/_emulator/faults", json=[1]).status_code == 400
    r = http.post(f"{emu.url}/_emulator/models", json={"app_id": "fal-ai/echo", "run_seconds": 0.5})
    assert r.json() == {"updated": ["fal-ai/echo"]}
    assert http.post(f"{emu.url}/_emulator/models", json={"app_id": "fal-ai/zzz"}).status_code == 404
    assert http.get(f"{emu.url}/_emulator/webhooks").json() == {"deliveries": []}
    assert http.get(f"{emu.url}/_emulator/nothing").status_code == 404
