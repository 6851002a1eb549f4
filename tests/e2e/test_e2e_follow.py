"""``fal-connector run --follow``: logs without asking for them, and the elapsed-time line on a
terminal only (a real pty), as real subprocesses against the emulator."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import time

from connector import Connector
from connector.cli_progress import CLEAR, Follower, follow_inputs

APP = "fal-ai/flux/dev"
JOB = json.dumps({"app_id": APP, "data": {"prompt": "a fox"}, "timeout": 30})  # no "logs" field


def test_follow_shows_logs_without_logs_in_the_input_and_no_progress_line_in_a_pipe(emu, cli_env, python):
    emu.set_model(APP, queue_seconds=0.2, run_seconds=0.3)
    proc = subprocess.run([*python, "run", "subscribe", "--follow", "--input", JOB], env=cli_env(emu),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"    log: Starting inference on {APP}" in proc.stderr
    assert proc.stderr.count(f"log: Starting inference on {APP}") == 1  # each entry once
    assert proc.stderr.count("[subscribe] IN_PROGRESS") == 1  # a repeated state prints once
    assert "\r" not in proc.stderr and "elapsed" not in proc.stderr  # a pipe gets event lines only
    out = json.loads(proc.stdout)
    assert out["success"] and any(entry["message"].startswith("Starting inference") for entry in out["logs"])


def test_follow_on_a_terminal_redraws_an_elapsed_time_line(emu, cli_env, python):
    emu.set_model(APP, queue_seconds=1.0, run_seconds=0.5)
    master, slave = pty.openpty()
    proc = subprocess.Popen([*python, "run", "subscribe", "--follow", "--input", JOB], env=cli_env(emu),
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, seen
    text = seen.decode()
    assert json.loads(out)["success"]  # stdout (a pipe) carries only the JSON
    assert text.count("s elapsed") >= 2, text  # redrawn while the job waits in the queue
    assert "[subscribe] IN_QUEUE · " in text or "[subscribe] submitted · " in text
    assert CLEAR in text and text.rstrip("\n").endswith(CLEAR.rstrip())  # the line is erased at the end
    assert f"log: Starting inference on {APP}" in text


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_follower_draws_the_elapsed_line_only_on_a_terminal():
    now = [100.0]
    event = {"type": "status", "action": "subscribe",
             "status": {"status": "IN_QUEUE", "queue_position": 3, "logs": [{"message": "hi", "timestamp": "t"}]}}
    tty = FakeTerminal()
    with Follower(tty, "subscribe", clock=lambda: now[0]) as follower:
        now[0] += 12.34
        follower(event)
        follower(event)  # the same state and log again: nothing new but the redraw
    assert tty.getvalue().count("[subscribe] IN_QUEUE (queue position 3)\n") == 1
    assert tty.getvalue().count("    log: hi\n") == 1
    assert CLEAR + "[subscribe] IN_QUEUE · 12.3s elapsed" in tty.getvalue()
    pipe = io.StringIO()
    with Follower(pipe, "subscribe", clock=lambda: now[0]) as follower:
        follower(event)
    assert pipe.getvalue() == "[subscribe] IN_QUEUE (queue position 3)\n    log: hi\n"


def test_follow_turns_logs_on_only_where_the_action_takes_them_and_the_caller_did_not_choose():
    conn = Connector(environ={}, load_entry_points=False)
    subscribe, models = conn.action("subscribe"), conn.action("get_models")
    assert follow_inputs(subscribe, {"app_id": APP, "data": {}})["logs"] is True
    assert follow_inputs(subscribe, {"app_id": APP, "data": {}, "logs": False})["logs"] is False
    assert "logs" not in follow_inputs(models, {"q": "flux"})
    assert follow_inputs(None, {"x": 1}) == {"x": 1}  # an unknown action: left to the runner to report
    conn.close()


def test_follow_words_each_event_as_the_mcp_progress_does():
    from connector.cli_progress import Seen, event_lines
    from connector.progress import progress_message

    events = [{"type": "submitted", "request_id": "r1"}, {"type": "cancelling", "request_id": "r1"},
              {"type": "upload_fallback", "reason": "HTTP 503"}, {"type": "retrying", "wait": 1.5, "reason": "HTTP 503"}]
    for event in events[1:]:
        assert event_lines({**event, "action": "subscribe"}, Seen()) == [f"[subscribe] {progress_message(event)}"]
    assert event_lines({**events[0], "action": "subscribe"}, Seen()) == ["[subscribe] submitted r1"]  # the terminal form
    assert progress_message(events[0]) == "submitted: request_id r1"
    # A status: the state once, then each log entry on its own line (the MCP line carries the newest).
    status = {"type": "status", "action": "subscribe", "status": {"status": "IN_PROGRESS", "logs": [{"message": "step 1"}]}}
    assert event_lines(status, Seen()) == ["[subscribe] IN_PROGRESS", "    log: step 1"]
    assert progress_message(status) == "IN_PROGRESS: step 1"
    assert event_lines({"type": "succeeded", "action": "subscribe"}, Seen()) == []
