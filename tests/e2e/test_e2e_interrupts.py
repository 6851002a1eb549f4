"""``fal-connector run`` interrupted by real signals (SIGINT, SIGTERM) against the emulator: the job
the command submitted is cancelled at fal, the output (``failure.type: cancelled``, the request id,
the cancel's outcome) is printed on stdout, the exit status is 130 / 143, and a second signal
exits at once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import pytest

from connector.interrupt import CANCEL_BUDGET

KEY = {"FAL_KEY": "interrupt-key-id:interrupt-key-secret"}
SLOW = {"app_id": "fal-ai/slow", "data": {"prompt": "a long one"}}


def start(python: list[str], env: dict[str, str], action: str, inputs: dict[str, Any], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*python, "run", action, "--input", json.dumps(inputs), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    assert out.count("\n") == 1, (out, err)  # exactly one JSON document on stdout
    return proc.returncode, json.loads(out), err


def cancels(emu: Any) -> list[str]:
    return [target for method, target, _ in list(emu.requests_log) if method == "PUT" and target.endswith("/cancel")]


def submits(emu: Any) -> list[str]:
    return [target for method, target, _ in list(emu.requests_log) if method == "POST" and "fal-ai/slow" in target]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_subscribe_follows_cancels_the_job_and_prints_the_output(emu, cli_env, python, make_conn, check_output, wait_for, sig, code):
    proc = start(python, cli_env(emu, **KEY), "subscribe", SLOW, "--follow")
    job = wait_for(lambda: emu.jobs and emu.jobs[0], timeout=15)
    wait_for(lambda: "IN_QUEUE" in (proc.stderr.readline() if proc.stderr else ""), timeout=15)  # following
    proc.send_signal(sig)
    rc, out, err = finish(proc)
    assert rc == code, err
    check_output(make_conn(), "subscribe", out)
    assert out["success"] is False and out["failure"]["type"] == "cancelled"
    assert out["request_id"] == job.request_id and out["cancelled"] is True
    assert out["status"] == "IN_QUEUE"
    detail = out["failure"]["detail"]
    assert detail["reason"] == sig.name and detail["request_id"] == job.request_id
    assert detail["cancel"]["sent"] is True and detail["cancel"]["cancel_status"] == "OK" and detail["cancel"]["accepted"] is True
    assert job.request_id in out["error"] and sig.name in out["error"]
    # fal saw exactly one cancel for that job, and the job is no longer queued (it stops billing)
    assert cancels(emu) == [f"/fal-ai/slow/requests/{job.request_id}/cancel"]
    assert job.cancelled_at is not None
    assert "Traceback" not in err


def test_a_signal_while_the_submit_is_unanswered_waits_for_the_id_and_cancels_it(emu, cli_env, python, make_conn, check_output, wait_for):
    # The submit answers 1.5 s late: the request id only exists once fal answered.
    emu.faults.add("submit", delay=1.5, app_id="fal-ai/slow")
    proc = start(python, cli_env(emu, **KEY), "add_request_to_queue", SLOW)
    wait_for(lambda: submits(emu), timeout=15)
    proc.send_signal(signal.SIGINT)
    rc, out, err = finish(proc)
    assert rc == 130, err
    check_output(make_conn(), "add_request_to_queue", out)
    [job] = emu.jobs
    assert out["failure"]["type"] == "cancelled" and out["request_id"] == job.request_id
    assert out["failure"]["detail"]["cancel"]["accepted"] is True
    assert cancels(emu) == [f"/fal-ai/slow/requests/{job.request_id}/cancel"] and job.cancelled_at is not None


def test_a_cancel_fal_does_not_answer_is_bounded_and_reported_unconfirmed(emu, cli_env, python, make_conn, check_output, wait_for):
    emu.faults.add("cancel", delay=60)
    proc = start(python, cli_env(emu, **KEY), "subscribe", SLOW)
    job = wait_for(lambda: emu.jobs and emu.jobs[0], timeout=15)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc, out, err = finish(proc)
    assert time.monotonic() - started < 3 * CANCEL_BUDGET
    assert rc == 143, err
    check_output(make_conn(), "subscribe", out)
    assert out["failure"]["type"] == "cancelled" and out["request_id"] == job.request_id
    assert out["cancelled"] is False
    cancel = out["failure"]["detail"]["cancel"]
    assert cancel["sent"] is True and cancel["accepted"] is False and "did not answer" in cancel["error"]
    assert "cancel_request" in out["error"]  # how to finish the job off by hand
    assert len(cancels(emu)) == 1


def test_a_second_signal_exits_at_once_with_the_output_so_far(emu, cli_env, python, wait_for):
    emu.faults.add("cancel", delay=60)
    proc = start(python, cli_env(emu, **KEY), "subscribe", SLOW)
    job = wait_for(lambda: emu.jobs and emu.jobs[0], timeout=15)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: cancels(emu), timeout=10)  # the first signal's cancel is on the wire, unanswered
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc, out, _ = finish(proc)
    assert time.monotonic() - started < CANCEL_BUDGET  # did not wait for the cancel budget
    assert rc == 130
    assert out["failure"]["type"] == "cancelled" and out["request_id"] == job.request_id
    assert "SIGINT again" in out["failure"]["detail"]["cancel"]["error"]


def test_a_signal_during_a_synchronous_run_prints_a_cancelled_output(emu, cli_env, python, make_conn, check_output, wait_for):
    proc = start(python, cli_env(emu, **KEY), "run_model", SLOW)
    wait_for(lambda: [t for m, t, _ in list(emu.requests_log) if m == "POST" and t.startswith("/run/")], timeout=15)
    proc.send_signal(signal.SIGINT)
    rc, out, err = finish(proc)
    assert rc == 130, err
    check_output(make_conn(), "run_model", out)
    assert out["failure"]["type"] == "cancelled" and out["failure"]["detail"]["cancel"] is None
    assert "synchronous run" in out["error"] and cancels(emu) == []


def test_a_signal_before_anything_is_sent_cancels_nothing(emu, cli_env, python, make_conn, check_output, wait_for):
    # A read action that is in a slow answer: nothing billable, nothing to cancel.
    emu.faults.add("models", delay=30)
    proc = start(python, cli_env(emu, **KEY), "get_models", {})
    wait_for(lambda: [t for m, t, _ in list(emu.requests_log) if t.startswith("/v1/models")], timeout=15)
    proc.send_signal(signal.SIGTERM)
    rc, out, _ = finish(proc)
    assert rc == 143
    check_output(make_conn(), "get_models", out)
    assert out["failure"]["type"] == "cancelled" and "nothing billable" in out["error"] and cancels(emu) == []
