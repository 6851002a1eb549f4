"""The fault matrix: every action × every fault, on the emulator over real
loopback sockets.

Each row asserts the failure type, ``retryable``, the number of attempts (``failure.attempts``
and the requests the emulator received for that route), that the whole action stayed within
its deadline, and — for the billable actions — how many jobs or runs exist afterwards (never
more than one).

The expected values are derived from the documented failure types and retry rules by the small table ``expect()`` below,
not read from the connector's code:

* retry classes: ``read`` (status, result, models, pricing, estimate, jwks, download: 5 retries),
  ``cancel`` (3 retries), ``billable`` (submit, run_model, subscribe's submit: 3 retries);
* reads and cancel retry 408/429/5xx and connection problems (timeouts included);
* billable retries only what fal cannot have enqueued: 429, and 502/503/504 without
  ``x-fal-request-id`` (the ingress); a 5xx with it is ``server_error``, ``retryable: false``;
  a read timeout or a connection lost after sending is ``outcome_unknown``, not retried;
* a 504 with ``X-Fal-Request-Timeout-Type`` is ``timeout``, never retried;
* a ``Retry-After`` beyond the time left ends the action at once with the answer's type and
  ``failure.retry_after`` set;
* a 200 whose body is not the JSON expected is ``invalid_response``, not retried (for a
  billable call fal did take the job, so it is not ``retryable``); so is a body larger than
  ``max_response_bytes``, refused without being read.

Rows use small timeouts and backoff so the whole matrix takes seconds; one emulator serves
the module (``faults.clear()`` between rows).
"""

from __future__ import annotations

import email.utils
import gc
import http.server
import os
import shutil
import socketserver
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "matrix-key-id:matrix-key-secret-0123456789"
TIMEOUT = 0.3  # read timeout of one HTTP call
DEADLINE = 4.0  # retry_deadline of one action
RA = 0.1  # Retry-After (seconds) of the retried 429 rows: small so rows stay fast
SLACK = 1.5  # scheduling slack on a loaded 2-core CI box
CAP = 64 * 1024  # max_response_bytes for the matrix connector

RETRIES = {"read": 5, "cancel": 3, "billable": 3}  # the default retries per class


@dataclass(frozen=True)
class Act:
    id: str  # action id
    route: str  # emulator fault route
    cls: str  # the manifest's retry class
    method: str
    path: Callable[[Any], str]  # the request path the emulator must see (for counting)
    inputs: Callable[[Any], dict[str, Any]]
    billable: str | None = None  # "jobs" or "runs": what a billable call creates


def _job_path(suffix: str = "") -> Callable[[Any], str]:
    return lambda ctx: f"/fal-ai/echo/requests/{ctx.target or ctx.request_id}{suffix}"


def _job(ctx: Any) -> dict[str, Any]:
    return {"app_id": "fal-ai/echo", "request_id": ctx.target or ctx.request_id}


ACTIONS = [
    Act("add_request_to_queue", "submit", "billable", "POST", lambda ctx: "/fal-ai/echo",
        lambda ctx: {"app_id": "fal-ai/echo", "data": {"x": 1}}, billable="jobs"),
    Act("subscribe", "submit", "billable", "POST", lambda ctx: "/fal-ai/echo",
        lambda ctx: {"app_id": "fal-ai/echo", "data": {"x": 1}, "timeout": DEADLINE}, billable="jobs"),
    Act("run_model", "run", "billable", "POST", lambda ctx: "/run/fal-ai/echo",
        lambda ctx: {"app_id": "fal-ai/echo", "data": {"x": 1}, "timeout": ctx.run_timeout}, billable="runs"),
    Act("get_request_status", "status", "read", "GET", _job_path("/status"), _job),
    Act("get_request_response", "result", "read", "GET", _job_path(), _job),
    Act("cancel_request", "cancel", "cancel", "PUT", _job_path("/cancel"), _job),
    Act("get_models", "models", "read", "GET", lambda ctx: "/v1/models", lambda ctx: {"q": "flux"}),
    Act("get_pricing", "pricing", "read", "GET", lambda ctx: "/v1/models/pricing", lambda ctx: {"endpoint_id": "fal-ai/flux/dev"}),
    Act("estimate_pricing", "estimate", "read", "POST", lambda ctx: "/v1/models/pricing/estimate",
        lambda ctx: {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 2}}}),
    Act("get_jwks", "jwks", "read", "GET", lambda ctx: "/.well-known/jwks.json", lambda ctx: {}),
    Act("download_file", "file", "read", "GET", lambda ctx: "/cdn/images/16x16/ff0000.png",
        lambda ctx: {"url": f"{ctx.emu.url}/cdn/images/16x16/ff0000.png", "dest": os.path.join(ctx.files, "f.png"),
                     "overwrite": True, "max_bytes": CAP}),
]


@dataclass(frozen=True)
class Fault:
    name: str
    rule: Callable[[], dict[str, Any]]  # emu.faults.add keyword arguments (times=None: every request)
    kind: str  # what the retry rules say about it, see expect()
    status: int | None = None
    rid: bool = True  # the answer carries x-fal-request-id (fal itself answered)


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


FAULTS = [
    Fault("429-retry-after-seconds", lambda: {"status": 429, "headers": {"Retry-After": f"{RA}"}}, "rate_limited_retry", 429),
    Fault("429-retry-after-http-date", lambda: {"status": 429, "headers": {"Retry-After": _http_date(-30)}}, "rate_limited_retry", 429),
    Fault("429-retry-after-beyond-deadline", lambda: {"status": 429, "headers": {"Retry-After": "3600"}}, "rate_limited_beyond", 429),
    Fault("500", lambda: {"status": 500, "headers": {"x-fal-request-id": "fal-500"}}, "5xx_fal", 500),
    Fault("502-ingress-html", lambda: {"status": 502, "ingress": True}, "5xx_ingress", 502, rid=False),
    Fault("503-from-fal", lambda: {"status": 503, "headers": {"x-fal-request-id": "fal-503"}}, "5xx_fal", 503),
    Fault("504-user-timeout", lambda: {"status": 504, "headers": {"X-Fal-Request-Timeout-Type": "user", "x-fal-request-id": "fal-504"}},
          "user_timeout", 504),
    Fault("read-timeout", lambda: {"delay": TIMEOUT * 2.5}, "read_timeout"),
    Fault("reset-before-processing", lambda: {"action": "reset"}, "conn_lost_before"),
    Fault("reset-after-processing", lambda: {"action": "reset_after"}, "conn_lost_after"),
    Fault("drop-after-processing", lambda: {"action": "drop_after"}, "conn_lost_after"),
    Fault("200-invalid-json", lambda: {"action": "invalid_json"}, "bad_body", 200),
    Fault("200-html", lambda: {"action": "html"}, "bad_body", 200),
    Fault("200-empty", lambda: {"action": "empty"}, "empty_body", 200),
    Fault("200-short-body", lambda: {"action": "short_body"}, "short_body"),
    Fault("200-body-over-cap", lambda: {"action": "big_body", "size": 256 * 1024 * 1024}, "too_big", 200),
]


@dataclass
class Expect:
    type: str | None  # None: the action succeeds
    retryable: bool | None = None
    attempts: int = 1
    retry_after: float | None = None
    min_elapsed: float = 0.0  # Retry-After honoured: at least this long
    work_done: bool = False  # the emulator did the work (a billable call created its job/run)
    status_code: Any = "any"


def expect(act: Act, fault: Fault) -> Expect:
    """The documented failure type and retries for one row."""
    retries = RETRIES[act.cls]
    billable = act.cls == "billable"
    all_attempts = retries + 1
    k = fault.kind
    if act.id == "download_file" and k in ("bad_body", "empty_body", "short_body", "too_big"):
        return expect_download(k)
    if k == "rate_limited_retry":  # 429: retried by every class (fal rejects before enqueueing)
        ra = RA if "seconds" in fault.name else 0.0  # a past HTTP date means "now"
        return Expect("rate_limited", True, all_attempts, retry_after=ra, min_elapsed=retries * ra, status_code=429)
    if k == "rate_limited_beyond":  # ends at once, with the answer's type and retry_after
        return Expect("rate_limited", True, 1, retry_after=3600.0, status_code=429)
    if k == "5xx_fal":  # reads/cancel retry; billable: fal saw it, never re-sent
        if billable:
            return Expect("server_error", False, 1, status_code=fault.status)
        return Expect("server_error", True, all_attempts, status_code=fault.status)
    if k == "5xx_ingress":  # no x-fal-request-id: fal never saw it, so even billable retries
        return Expect("server_error", True, all_attempts, status_code=fault.status)
    if k == "user_timeout":  # the caller's own start timeout: never retried
        return Expect("timeout", False, 1, status_code=504)
    if k == "read_timeout":
        if billable:
            return Expect("outcome_unknown", False, 1, work_done=True, status_code=None)
        return Expect("timeout", True, all_attempts, status_code=None)
    if k == "conn_lost_before":  # sent, then reset: for billable fal may have taken it
        if billable:
            return Expect("outcome_unknown", False, 1, status_code=None)
        return Expect("connection_error", True, all_attempts, status_code=None)
    if k == "conn_lost_after":
        if billable:
            return Expect("outcome_unknown", False, 1, work_done=True, status_code=None)
        return Expect("connection_error", True, all_attempts, status_code=None)
    if k == "short_body":  # the answer's head came, the body was cut: a connection lost after sending
        if act.id == "cancel_request":
            # Run on a queued job: the first (cut) cancel did cancel it, so the retry — cancel
            # is idempotent — learns it is already completed (a 400, also cut: still a 400).
            return Expect("already_completed", False, 2, status_code=400)
        if billable:
            return Expect("outcome_unknown", False, 1, work_done=True)
        return Expect("connection_error", True, all_attempts)
    if k == "bad_body":  # a 200 that is not the JSON expected: not retried
        return Expect("invalid_response", not billable, 1, work_done=True, status_code=200)
    if k == "empty_body":
        if act.id == "cancel_request":
            # fal's cancel answer carries nothing the action needs (fal_client ignores it):
            # a 200 means the cancel was accepted.
            return Expect(None, attempts=1)
        return Expect("invalid_response", not billable, 1, work_done=True, status_code=200)
    if k == "too_big":  # refused on its Content-Length, never read; repeating cannot help
        return Expect("invalid_response", False, 1, work_done=True, status_code=200)
    raise AssertionError(k)


def expect_download(kind: str) -> Expect:
    """download_file keeps bytes, it does not parse them: any complete 200 body is the file."""
    if kind == "short_body":  # the body broke off after the answer came: reported, not re-fetched
        return Expect("connection_error", True, 1)
    if kind == "too_big":  # over max_bytes on its Content-Length: the same file stays too big
        return Expect("invalid_response", False, 1, status_code=200)
    return Expect(None, attempts=1)


# -- fixtures --------------------------------------------------------------------------------


class Ctx:
    """The module's emulator and connector, and a completed job for the request-scoped reads."""

    def __init__(self) -> None:
        self.emu = Emulator(api_key=KEY).start()
        self.conn = connector_for(self.emu, timeout=TIMEOUT, retry_deadline=DEADLINE, backoff_base=0.01,
                                  backoff_max=0.02, max_response_bytes=CAP)
        self.run_timeout = DEADLINE
        self.target: str | None = None  # a row's own job, instead of the completed one
        self.files = tempfile.mkdtemp(prefix="fal-matrix-")  # download_file's destination
        job = self.conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"x": 0}})
        assert job["success"], job["error"]
        self.request_id = job["request_id"]
        deadline = time.monotonic() + 5
        while self.conn.run("get_request_status", _job(self))["status"] != "COMPLETED":
            assert time.monotonic() < deadline
            time.sleep(0.02)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, target, _ in list(self.emu.requests_log) if m == method and target.split("?")[0] == path)

    def made(self, what: str) -> int:
        return len(self.emu.jobs) if what == "jobs" else len(self.emu.runs)


@pytest.fixture(scope="module")
def ctx():
    c = Ctx()
    yield c
    c.conn.close()
    c.emu.stop()
    shutil.rmtree(c.files, ignore_errors=True)


@pytest.fixture
def clean(ctx):
    ctx.emu.faults.clear()
    ctx.emu.requests_log.clear()
    ctx.run_timeout = DEADLINE
    ctx.target = None
    yield ctx
    ctx.emu.faults.clear()
    ctx.target = None


def settle(ctx: Ctx, what: str, at_least: int, wait: float) -> int:
    """The count of jobs/runs once the emulator's (possibly delayed) work is done."""
    end = time.monotonic() + wait
    while ctx.made(what) < at_least and time.monotonic() < end:
        time.sleep(0.02)
    time.sleep(0.05)
    return ctx.made(what)


ROWS = [pytest.param(a, f, id=f"{a.id}-{f.name}") for a in ACTIONS for f in FAULTS]


@pytest.mark.parametrize(("act", "fault"), ROWS)
def test_fault_matrix(clean, act, fault):
    ctx = clean
    exp = expect(act, fault)
    if act.id == "run_model" and fault.kind == "read_timeout":
        ctx.run_timeout = TIMEOUT  # a sync run's read timeout is its own input
    if act.id == "cancel_request" and fault.kind == "short_body":
        ctx.emu.set_model("fal-ai/echo", queue_seconds=30)
        try:
            queued = ctx.conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"queued": True}})
        finally:
            ctx.emu.set_model("fal-ai/echo", queue_seconds=0)
        ctx.target = queued["request_id"]
    made_before = ctx.made(act.billable) if act.billable else 0
    ctx.emu.faults.add(act.route, times=None, **fault.rule())

    started = time.monotonic()
    out = ctx.conn.run(act.id, act.inputs(ctx))
    elapsed = time.monotonic() - started
    ctx.emu.faults.clear()

    action = ctx.conn.action(act.id)
    assert not list(action.output_validator.iter_errors(out)), out
    sent = ctx.count(act.method, act.path(ctx))
    if exp.type is None:
        assert out["success"], out["error"]
        assert sent == exp.attempts
        return
    failure = out["failure"]
    assert out["success"] is False
    assert failure["type"] == exp.type, (out["error"], failure)
    assert failure["retryable"] is exp.retryable, (out["error"], failure)
    assert failure["attempts"] == exp.attempts, (out["error"], failure)
    assert sent == exp.attempts, f"the emulator saw {sent} {act.method} {act.path(ctx)}, expected {exp.attempts}"
    if exp.status_code != "any":
        assert failure["status_code"] == exp.status_code
    if exp.retry_after is not None:
        assert failure["retry_after"] == pytest.approx(exp.retry_after, abs=0.01)
    if fault.status and fault.status >= 500 and not fault.rid:
        assert failure["fal_request_id"] is None  # the ingress answered, not fal
    elif fault.status and fault.status >= 500:
        assert failure["fal_request_id"] == f"fal-{fault.status}"
    # The deadline bounds the whole action (plus one read timeout's grace and scheduling).
    assert elapsed <= DEADLINE + TIMEOUT + SLACK, elapsed
    assert elapsed >= exp.min_elapsed * 0.9, f"Retry-After not honoured: {elapsed:.2f}s"
    if fault.kind == "too_big":
        assert elapsed < 2, f"an oversized answer was read, not refused: {elapsed:.2f}s"
    assert "\n" not in out["error"] and KEY not in out["error"]

    if act.billable:
        delay = fault.rule().get("delay", 0.0)
        made = settle(ctx, act.billable, made_before + (1 if exp.work_done else 0), wait=delay + 1.0) - made_before
        assert made <= 1, f"{made} {act.billable} created by one {act.id}"
        assert made == (1 if exp.work_done else 0), f"{made} {act.billable} created; expected {int(exp.work_done)}"
    if act.id == "subscribe":
        assert out["request_id"] is None  # the submit failed: nothing to follow
        assert not [t for _, t, _ in list(ctx.emu.requests_log) if "/requests/" in t], "followed a job that was never submitted"


# -- the deadline, HTTP-date and whole-second Retry-After, recovery --------------------------


ONE_PER_HOST = {"get_request_status", "cancel_request", "get_models", "get_jwks"}


@pytest.mark.parametrize("act", [a for a in ACTIONS if a.id in ONE_PER_HOST], ids=lambda a: a.id)
def test_deadline_exhausted_while_retrying_keeps_the_last_answers_type(clean, act):
    """503s with a backoff that outlives the deadline: the last answer's type
    (``server_error``, not ``timeout``), the error saying the deadline ran out, within the
    deadline, after fewer attempts than allowed."""
    ctx = clean
    # Waits of 0.525-0.7 s (jitter): the second wait would end past the 1 s deadline, so it
    # stops after 2 attempts — before any class's attempt limit. (A third attempt started with
    # a few ms left would be cut off mid-exchange, and whether fal saw it is a race.)
    conn = connector_for(ctx.emu, timeout=TIMEOUT, retry_deadline=1.0, backoff_base=0.7, backoff_max=0.7)
    try:
        ctx.emu.faults.add(act.route, status=503, times=None)
        started = time.monotonic()
        out = conn.run(act.id, act.inputs(ctx))
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert out["failure"]["type"] == "server_error", out["error"]
    assert out["failure"]["status_code"] == 503
    assert out["failure"]["retryable"] is True
    assert out["failure"]["attempts"] == 2
    assert out["failure"]["attempts"] == ctx.count(act.method, act.path(ctx))
    assert elapsed <= 1.0 + SLACK
    assert "retry deadline ran out" in out["error"]


@pytest.mark.parametrize("act", [a for a in ACTIONS if a.id in ONE_PER_HOST or a.billable], ids=lambda a: a.id)
def test_retry_after_is_honoured_then_recovers(clean, act):
    """A 429 with ``Retry-After: 1`` (whole seconds), once: the action waits ~1 s and succeeds
    with two requests — the second after the wait (every class retries a 429)."""
    ctx = clean
    made_before = ctx.made(act.billable) if act.billable else 0
    ctx.emu.faults.add(act.route, status=429, headers={"Retry-After": "1"}, times=1)
    started = time.monotonic()
    out = ctx.conn.run(act.id, act.inputs(ctx))
    elapsed = time.monotonic() - started
    if act.id == "cancel_request":
        assert out["failure"]["type"] == "already_completed"  # the job finished: a real answer
    else:
        assert out["success"], out["error"]
    assert 1.0 <= elapsed <= DEADLINE + SLACK
    assert ctx.count(act.method, act.path(ctx)) == 2
    if act.billable:
        assert settle(ctx, act.billable, made_before + 1, 1.0) - made_before == 1


def test_retry_after_http_date_in_the_future_is_honoured(clean):
    ctx = clean
    ctx.emu.faults.add("status", status=503, headers={"Retry-After": _http_date(2)}, times=1)
    started = time.monotonic()
    out = ctx.conn.run("get_request_status", _job(ctx))
    elapsed = time.monotonic() - started
    assert out["success"], out["error"]
    assert 0.9 <= elapsed <= 2 + SLACK  # the date has whole-second precision
    assert ctx.count("GET", f"/fal-ai/echo/requests/{ctx.request_id}/status") == 2


def test_retry_after_http_date_beyond_the_deadline_ends_at_once(clean):
    ctx = clean
    ctx.emu.faults.add("status", status=429, headers={"Retry-After": _http_date(600)}, times=None)
    started = time.monotonic()
    out = ctx.conn.run("get_request_status", _job(ctx))
    assert time.monotonic() - started < 1
    failure = out["failure"]
    assert failure["type"] == "rate_limited" and failure["attempts"] == 1
    assert 590 <= failure["retry_after"] <= 600


@pytest.mark.parametrize("act", [a for a in ACTIONS if a.billable], ids=lambda a: a.id)
def test_billable_ingress_error_then_success_makes_exactly_one(clean, act):
    """502 from the ingress twice, then fal answers: retried (fal never saw it) and exactly one
    job/run exists."""
    ctx = clean
    made_before = ctx.made(act.billable)
    ctx.emu.faults.add(act.route, status=502, ingress=True, times=2)
    out = ctx.conn.run(act.id, act.inputs(ctx))
    assert out["success"], out["error"]
    assert ctx.count(act.method, act.path(ctx)) == 3
    assert settle(ctx, act.billable, made_before + 1, 1.0) - made_before == 1


# -- oversized answers are never loaded whole --------------------------------------------------


class _Endless(http.server.BaseHTTPRequestHandler):
    """A chunked 200 with no Content-Length that would go on for ``TOTAL`` bytes."""

    protocol_version = "HTTP/1.1"
    TOTAL = 512 * 1024 * 1024

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"[" + b"0," * 32767 + b"0"
        total = 0
        try:
            while total < self.TOTAL:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                total += len(chunk)
        except OSError:
            pass  # the client stopped reading: what this test wants


def test_an_endless_body_without_content_length_is_cut_at_the_cap():
    """The cap is enforced while streaming (no Content-Length to refuse on): the action fails
    with invalid_response after reading about the cap, with little memory, quickly."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    from connector import Connector

    conn = Connector(api_key=KEY, environ={}, load_entry_points=False, api_url=url, max_response_bytes=1024 * 1024,
                     timeout=2, retry_deadline=5)
    try:
        gc.collect()
        tracemalloc.start()
        started = time.monotonic()
        out = conn.run("get_models", {})
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
    assert out["failure"]["type"] == "invalid_response", out["error"]
    assert "max_response_bytes" in out["error"]
    assert out["failure"]["attempts"] == 1
    assert elapsed < 5
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 1e6:.1f} MB for a 1 MiB cap"
