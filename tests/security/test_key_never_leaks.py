"""The API key appears nowhere it could be read back, over real sockets: not in any output, log record (every logger at
DEBUG, tracebacks included), exception text, event, ``repr``, nor in the CLI's stdout/stderr
(succeeding and failing runs, with and without debug logging) — even when fal echoes the key
back in its answers.

(tests/test_secrets.py checks the same with ``responses``; these go through the emulator, the
real HTTP stack and the command line.)
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from suite_helpers import record_texts

from connector import Connector, hookimpl
from connector.config import ConfigError
from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "leakcheck-key-id:leakcheck-key-secret-0123456789abcdef"
SECRET = KEY.partition(":")[2]
ECHO = f"your key is Key {KEY} (secret {SECRET})"


def leaks(text: str) -> bool:
    return KEY in text or SECRET in text




@pytest.fixture(scope="module")
def emu():
    e = Emulator(api_key=KEY, webhook_retry_delay=0.05).start()
    yield e
    e.stop()


@pytest.fixture
def debug_logs():
    """Every record of every logger, at DEBUG."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ["", *logging.Logger.manager.loggerDict]}
    root.addHandler(handler)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


class Spy:
    """A plugin that keeps every event and a repr of every outgoing Request it is shown."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def action_event(self, event: dict[str, Any], context: Any) -> None:
        self.seen.append(repr(event))
        self.seen.append(repr(context.__dict__))

    @hookimpl
    def prepare_request(self, action: Any, request: Any, context: Any) -> None:
        self.seen.append(repr(request))


def all_runs(emu: Emulator, conn: Connector) -> list[tuple[str, dict[str, Any]]]:
    job = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"x": 1}})
    assert job["success"], job["error"]
    ids = {"app_id": "fal-ai/echo", "request_id": job["request_id"]}
    body = b'{"request_id": "r", "status": "OK", "payload": {}}'
    signed = emu.sign_webhook(body, "r")
    return [
        ("get_request_status", {**ids, "logs": True}),
        ("stream_request_status", {**ids, "logs": True, "timeout": 5}),
        ("get_request_response", ids),
        ("cancel_request", ids),
        ("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"y": 2}}),
        ("subscribe", {"app_id": "fal-ai/echo", "data": {"z": 3}, "timeout": 10}),
        ("run_model", {"app_id": "fal-ai/echo", "data": {"w": 4}}),
        ("get_models", {"q": "flux"}),
        ("get_pricing", {"endpoint_id": "fal-ai/flux/dev"}),
        ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 1}}}),
        ("get_jwks", {}),
        ("verify_webhook", {"headers": signed, "body": body.decode()}),
        ("upload_file", {"data_base64": base64.b64encode(b"hello").decode(), "file_name": "a.txt"}),
    ]


ROUTES = {
    "get_request_status": "status", "stream_request_status": "stream", "get_request_response": "result",
    "cancel_request": "cancel", "add_request_to_queue": "submit", "subscribe": "submit", "run_model": "run",
    "get_models": "models", "get_pricing": "pricing", "estimate_pricing": "estimate", "get_jwks": "jwks",
    "verify_webhook": "jwks", "upload_file": "storage_token",
}
# fal answering with the key in every shape a body can have.
ECHOING_FAULTS = [
    {"status": 401, "body": {"detail": ECHO}},
    {"status": 422, "body": {"detail": [{"loc": ["body", SECRET], "msg": ECHO, "type": "value_error", "input": KEY}]}},
    {"status": 500, "body": f"upstream saw Authorization: Key {KEY}"},
    {"status": 503, "body": {"error": {"type": "server_error", "message": ECHO}, SECRET: [SECRET]}},
    {"status": 429, "body": {"detail": ECHO}, "headers": {"Retry-After": "0"}},
    {"status": 400, "body": {"detail": f"Request is still in progress {KEY}"}},
    {"status": 200, "body": f"not json {KEY}"},
    {"status": 200, "body": {"unexpected": ECHO, "status": ECHO, "request_id": ECHO}},
    {"action": "reset"},
    {"action": "short_body"},
]


# Fields that carry fal's own data through unchanged on success (the model's output, the
# catalogue, the JWKS, ...): if fal's successful answer itself contains the text, it is the
# caller's data and is not rewritten. Everything the connector writes is checked.
PASS_THROUGH = {"data", "models", "prices", "keys", "payload", "logs", "events", "metrics"}


def check_clean(out: Any, where: str, fal_echoed_data: bool = False) -> None:
    if fal_echoed_data and isinstance(out, dict) and out.get("success"):
        out = {k: v for k, v in out.items() if k not in PASS_THROUGH}
    text = json.dumps(out)
    assert not leaks(text), f"{where}: the key is in the output: {text[:500]}"


def test_no_output_log_event_or_repr_has_the_key(emu, debug_logs):
    spy = Spy()
    conn = connector_for(emu, api_key=KEY, plugins=[spy], timeout=2, retry_deadline=3, backoff_base=0.01, backoff_max=0.02)
    events: list[str] = []
    try:
        runs = all_runs(emu, conn)
        for action, inputs in runs:  # succeeding
            out = conn.run(action, inputs, on_event=lambda e: events.append(repr(e)))
            assert out["success"] or action == "cancel_request", (action, out["error"])
            check_clean(out, action)
        for fault in ECHOING_FAULTS:  # failing, with fal echoing the key
            for action, inputs in runs:
                emu.faults.clear()
                emu.faults.add(ROUTES[action], times=None, **fault)
                out = conn.run(action, inputs, on_event=lambda e: events.append(repr(e)))
                check_clean(out, f"{action} under {fault}", fal_echoed_data=fault.get("status") == 200)
        emu.faults.clear()
        streamed = list(conn.stream("stream_request_status", runs[1][1]))
        check_clean(streamed, "stream")
        texts = [repr(conn), str(conn), repr(conn.config), str(conn.config), repr(conn.http), repr(vars(conn.config)),
                 conn.config.model_dump_json(), repr(conn.config.model_dump()), repr(conn.actions())]
        for text in texts:
            assert not leaks(text), text
    finally:
        emu.faults.clear()
        conn.close()
    for text in events + spy.seen:
        assert not leaks(text), f"an event or request shown to a plugin has the key: {text[:300]}"
    assert debug_logs, "nothing was logged: the capture is broken"
    for record in debug_logs:
        for text in record_texts(record):
            assert not leaks(text), f"log record {record.name}: {text[:300]}"


def test_a_plugin_exception_carrying_the_key_is_scrubbed_everywhere(emu, debug_logs):
    """A bug in a plugin becomes a failure output, and its traceback is logged — scrubbed."""

    class Leaky:
        @hookimpl(tryfirst=True)
        def execute_action(self, action: Any, inputs: Any, context: Any) -> None:
            raise RuntimeError(f"plugin bug with {context.config.api_key.get_secret_value()}")

    conn = connector_for(emu, api_key=KEY, plugins=[Leaky()])
    try:
        out = conn.run("get_jwks", {})
    finally:
        conn.close()
    assert out["failure"]["type"] == "http_error" and "[redacted]" in out["error"]
    check_clean(out, "plugin failure")
    logged = [t for r in debug_logs for t in record_texts(r)]
    assert any("plugin bug with [redacted]" in t for t in logged), "the failure was not logged"
    assert not any(leaks(t) for t in logged)


@pytest.mark.parametrize("bad", ["id:secret-with\nnewline-123456", "id:secret with space-123456", "id:sécret-123456"])
def test_a_key_that_cannot_be_a_header_is_refused_without_echo(bad):
    """Refused when the Connector is made (not as a misleading failure at the first request),
    and the message does not repeat it."""
    with pytest.raises(ConfigError) as info:
        Connector(api_key=bad, environ={}, load_entry_points=False)
    assert bad not in str(info.value) and bad.split(":")[1] not in str(info.value)
    assert "api_key" in str(info.value)


def test_a_key_read_with_a_trailing_newline_is_trimmed(emu):
    conn = connector_for(emu, api_key=KEY + "\n")
    try:
        assert conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})["success"]
    finally:
        conn.close()


# -- the command line ------------------------------------------------------------------------

DEBUG_CLI = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
    "from connector.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def cli(emu: Emulator, *args: str, debug: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAL_")}
    environ.update(emu.env())
    environ.update({"FAL_KEY": KEY, "FAL_CONNECTOR_TIMEOUT": "2", "FAL_CONNECTOR_RETRY_DEADLINE": "3",
                    "FAL_CONNECTOR_MAX_RETRIES": "1", **(env or {})})
    command = [sys.executable, "-c", DEBUG_CLI, *args] if debug else [sys.executable, "-m", "connector", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug-logging"])
def test_cli_output_never_has_the_key(emu, debug):
    job = cli(emu, "run", "add_request_to_queue", "--input", json.dumps({"app_id": "fal-ai/echo", "data": {"x": 1}}), debug=debug)
    assert job.returncode == 0, job.stderr
    request_id = json.loads(job.stdout)["request_id"]
    ids = json.dumps({"app_id": "fal-ai/echo", "request_id": request_id})
    runs = [
        ("ok", cli(emu, "run", "get_request_status", "--input", ids, debug=debug)),
        ("ok", cli(emu, "run", "subscribe", "--follow", "--input", json.dumps({"app_id": "fal-ai/echo", "data": {"y": 1}}), debug=debug)),
        ("ok", cli(emu, "describe", "get_request_status", debug=debug)),
        ("ok", cli(emu, "actions", "--json", debug=debug)),
        ("fail", cli(emu, "run", "get_request_status", "--input", json.dumps({"app_id": KEY, "request_id": SECRET}), debug=debug)),
        ("fail", cli(emu, "run", "no_such_action", "--input", "{}", debug=debug)),
        ("fail", cli(emu, "run", "get_request_status", "--input", "{not json " + KEY, debug=debug)),
        ("fail", cli(emu, "run", "get_models", debug=debug, env={"FAL_API_URL": "http://127.0.0.1:9/v1"})),
        ("fail", cli(emu, "run", "get_models", debug=debug, env={"FAL_CONNECTOR_TIMEOUT": "not-a-number"})),
    ]
    emu.faults.add("status", status=401, body={"detail": ECHO}, times=None)
    emu.faults.add("result", status=500, body=ECHO, times=None)
    try:
        runs.append(("fail", cli(emu, "run", "get_request_status", "--follow", "--input", ids, debug=debug)))
        runs.append(("fail", cli(emu, "run", "get_request_response", "--follow", "--input", ids, debug=debug)))
    finally:
        emu.faults.clear()
    for expected, proc in runs:
        assert (proc.returncode == 0) == (expected == "ok"), (proc.args, proc.stdout, proc.stderr)
        assert not leaks(proc.stdout), proc.stdout
        assert not leaks(proc.stderr), proc.stderr
    if debug:
        assert any("DEBUG" in proc.stderr for _, proc in runs), "debug logging did not reach stderr"


def test_cli_with_the_key_in_a_bad_environment_variable(emu):
    """A key that cannot be used is reported without being printed."""
    bad = "id:" + SECRET + "\nx"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAL_")}
    environ.update(emu.env(), FAL_KEY=bad)
    proc = subprocess.run([sys.executable, "-m", "connector", "run", "get_jwks"], env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["failure"]["type"] == "invalid_input"
    assert SECRET not in proc.stdout + proc.stderr


def test_the_key_is_sent_to_the_configured_origin(emu):
    """Sanity for the tests above: the key really was sent (to the configured origin)."""
    conn = connector_for(emu, api_key=KEY)
    try:
        emu.requests_log.clear()
        assert conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})["success"]
        time.sleep(0.01)
    finally:
        conn.close()
    sent = [h.get("Authorization") for m, t, h in emu.requests_log if t.startswith("/v1/models/pricing")]
    assert sent == [f"Key {KEY}"]
