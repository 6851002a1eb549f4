"""The call after a status stream finds a connection already open (TLS done).

fal ends a status stream after COMPLETED and that connection is not reused, so the result fetch
would open a new one (TCP and TLS handshakes) after the job completed, while the caller waits.
The connector keeps a spare connection open during the stream instead. The TLS emulator logs
when it accepted each connection: none may be accepted after the job completed, and a job
still costs three requests.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "spare-key-id:spare-key-secret-0123456789"
APP = "fal-ai/echo"


@pytest.fixture(scope="module")
def tls_emu():
    e = Emulator(api_key=KEY, tls=True, ping_interval=0.2).start()
    yield e
    e.stop()


@pytest.fixture
def trusted(tls_emu, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_emu.cert_file)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    conn = connector_for(tls_emu, api_key=KEY, timeout=10)
    tls_emu.set_model(APP, queue_seconds=0, run_seconds=1.5)
    yield conn
    tls_emu.set_model(APP, queue_seconds=0, run_seconds=0.05)
    conn.close()


def _clear(emu: Emulator) -> None:
    emu.requests_log.clear()
    emu.connections_log.clear()


def _after_completion(emu: Emulator, request_id: str) -> list[float]:
    job = emu.job(request_id)
    assert job is not None and job.state == "COMPLETED"
    end_at = job.start_at + job.run_seconds
    return [at for at in emu.connections_log if at >= end_at]


def test_subscribe_fetches_the_result_on_a_connection_opened_before_completion(tls_emu, trusted):
    _clear(tls_emu)
    out = trusted.run("subscribe", {"app_id": APP, "data": {"n": 1}, "timeout": 30})
    assert out["success"], out["error"]
    assert out["data"] == {"echo": {"n": 1}}
    methods = [(method, target.split("?")[0].rsplit("/", 1)[-1]) for method, target, _ in tls_emu.requests_log]
    assert len(methods) == 3, methods  # submit, stream, result: the spare sent no request
    assert _after_completion(tls_emu, out["request_id"]) == []  # no handshake after the job completed
    assert len(tls_emu.connections_log) == 2  # the submit's (then the stream's) and the spare


def test_stream_then_result_reuses_the_spare(tls_emu, trusted):
    _clear(tls_emu)
    job = trusted.run("add_request_to_queue", {"app_id": APP, "data": {"n": 2}})
    assert job["success"], job["error"]
    ids = {"app_id": APP, "request_id": job["request_id"]}
    statuses = [event["status"] for event in trusted.stream("stream_request_status", {**ids, "timeout": 30})]
    assert statuses[-1] == "COMPLETED"
    result = trusted.run("get_request_response", ids)
    assert result["success"], result["error"]
    assert len(tls_emu.requests_log) == 3
    assert _after_completion(tls_emu, job["request_id"]) == []


def test_a_spare_the_server_dropped_is_replaced(tls_emu, trusted):
    http = trusted.http
    spare = http.spare_connection(tls_emu.url + "/fal-ai/echo/requests/x/status/stream")
    _clear(tls_emu)
    spare.ensure()
    assert spare.wait(5)
    assert len(tls_emu.connections_log) == 1
    spare.ensure()  # the spare is there and alive: nothing is opened
    assert spare.wait(5)
    assert len(tls_emu.connections_log) == 1
    tls_emu._server.close_connections()  # the server drops idle connections (its keep-alive ran out)
    _wait_for(lambda: not _idle_alive(spare))
    spare.ensure()
    assert spare.wait(5)
    assert len(tls_emu.connections_log) == 2
    out = trusted.run("get_request_status", {"app_id": APP, "request_id": _submitted(trusted)})
    assert out["success"], out["error"]
    assert len(tls_emu.connections_log) == 2  # both calls went over the replaced spare


def test_no_spare_through_a_proxy(tls_emu, trusted, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    conn = connector_for(tls_emu, api_key=KEY, timeout=10)
    try:
        spare = conn.http.spare_connection(tls_emu.url + "/fal-ai/echo/requests/x/status/stream")
        _clear(tls_emu)
        spare.ensure()
        assert spare.wait(5)
        assert list(tls_emu.connections_log) == []  # the proxy's pool is not ours to fill
    finally:
        conn.close()


def _submitted(conn: Any) -> str:
    out = conn.run("add_request_to_queue", {"app_id": APP, "data": {}})
    assert out["success"], out["error"]
    return str(out["request_id"])


def _idle_alive(spare: Any) -> bool:
    conn = spare._take()
    try:
        return conn.sock is not None and bool(conn.is_connected)
    finally:
        spare._put(conn)


def _wait_for(check: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.01)
