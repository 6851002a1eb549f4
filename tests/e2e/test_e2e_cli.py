"""The commands a newcomer runs, as real subprocesses: ``fal-connector demo`` on the
embedded emulator (and its refusal to bill without ``--real``), and ``fal-connector emulator``
serving a connector from another process."""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
import time

import pytest

from connector import Connector


@pytest.fixture
def dead_proxy(free_port):
    """Proxy variables pointing at a closed port: any request leaving loopback would fail."""
    url = f"http://127.0.0.1:{free_port}"
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url}


def test_demo_without_a_key_runs_a_whole_job_on_the_embedded_emulator(cli_env, python, dead_proxy):
    proc = subprocess.run([*python, "demo"], env=cli_env(**dead_proxy), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "running on the local emulator at http://127.0.0.1:" in out and "no network, no key, no bill" in out
    steps = ["1. Find image models", "2. Price fal-ai/flux/dev", "Estimate 4 images", "3. Submit a job",
             "4. Follow it live", "5. Fetch the result", "6. Submit a slow job", "Done in"]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out
    assert "queued as request " in out and "image: http://127.0.0.1:" in out
    assert "4 images would cost about 0.1 USD" in out
    assert "cancel answered OK" in out
    assert "failed (" not in out
    # live progress on stderr, in order, each log line once
    err = proc.stderr
    assert err.find("· IN_QUEUE") < err.find("· IN_PROGRESS") < err.find("· COMPLETED"), err
    assert err.count("log: Starting inference on fal-ai/flux/dev") == 1


@pytest.mark.parametrize("key_env", [{"FAL_KEY": "real-looking-key"}, {"FAL_KEY_ID": "kid", "FAL_KEY_SECRET": "ksecret"}],
                         ids=["FAL_KEY", "FAL_KEY_ID+SECRET"])
def test_demo_with_a_key_refuses_to_bill_without_real(emu, cli_env, python, dead_proxy, key_env):
    # Point every URL at an emulator too: if the demo sent anything, it would show up here.
    env = cli_env(emu, **dead_proxy, **key_env)
    started = time.monotonic()
    proc = subprocess.run([*python, "demo"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bill" in proc.stderr and "--real" in proc.stderr
    assert proc.stdout == ""
    assert len(emu.requests_log) == 0 and emu.jobs == []
    assert time.monotonic() - started < 10


def _export_lines(proc: subprocess.Popen, n: int, timeout: float = 15.0) -> dict[str, str]:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    found: dict[str, str] = {}
    end = time.monotonic() + timeout
    while len(found) < n:
        try:
            line = lines.get(timeout=max(0.01, end - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the emulator printed {sorted(found)} within {timeout} s") from None
        if line is None:
            raise AssertionError(f"the emulator exited early (status {proc.wait()})")
        words = shlex.split(line)
        assert words[0] == "export" and "=" in words[1], line  # stdout carries only export lines
        name, _, value = words[1].partition("=")
        found[name] = value
    return found


def test_emulator_command_serves_another_process(cli_env, python, free_port):
    proc = subprocess.Popen([*python, "emulator", "--port", str(free_port), "--key", "cli-key:cli-secret"],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        env = _export_lines(proc, 7)
        base = f"http://127.0.0.1:{free_port}"
        assert env == {"FAL_QUEUE_URL": base, "FAL_RUN_URL": base + "/run", "FAL_API_URL": base + "/v1",
                       "FAL_JWKS_URL": base + "/.well-known/jwks.json", "FAL_REST_URL": base,
                       "FAL_CDN_URL": base + "/cdn", "FAL_KEY": "cli-key:cli-secret"}
        conn = Connector(environ=env, timeout=5, backoff_base=0.01)  # configured from those lines only
        sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"from": "cli"}})
        assert sub["success"], sub
        status = conn.run("get_request_status", {"app_id": "fal-ai/echo", "request_id": sub["request_id"]})
        assert status["success"] and status["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), status
        wrong = Connector(environ={**env, "FAL_KEY": "nope:nope-nope"}, timeout=5)
        assert wrong.run("get_request_status", {"app_id": "fal-ai/echo", "request_id": sub["request_id"]})["failure"]["type"] == "auth_error"
        conn.close()
        wrong.close()
    finally:
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None
    assert code == 0, stderr  # SIGTERM is a clean stop
    assert f"serving on http://127.0.0.1:{free_port}" in stderr


def _stop(proc: subprocess.Popen) -> str:
    """SIGTERM, wait, and the stderr it wrote."""
    proc.terminate()
    try:
        assert proc.wait(10) == 0  # SIGTERM is a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    err = proc.stderr.read() if proc.stderr else ""
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
    return err


@pytest.mark.parametrize("entry", [["emulator"], ["emulator.__main__"]], ids=["fal-connector", "python-m"])
def test_emulator_without_a_key_prints_setup_lines_a_shell_can_use_as_they_are(cli_env, python, tmp_path, entry):
    command = [*python, *entry] if entry == ["emulator"] else [python[0], "-m", "connector.emulator"]
    proc = subprocess.Popen([*command, "--port", "0"], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        exported = _export_lines(proc, 7)
        assert exported["FAL_KEY"]  # a key is printed although the emulator accepts any
        lines = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in exported.items())
        (tmp_path / "emulator.env").write_text(lines)
        # What a user does with them: source them in a shell, then run an action.
        shell = f". ./emulator.env && {shlex.join(python)} run add_request_to_queue --input '{{\"app_id\": \"fal-ai/echo\", \"data\": {{}}}}'"
        run = subprocess.run(["sh", "-c", shell], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        assert json.loads(run.stdout)["success"] is True
    finally:
        err = _stop(proc)
    assert "accepting any key" in err


def test_emulator_old_api_key_flag_still_pins_the_key(cli_env, python):
    proc = subprocess.Popen([python[0], "-m", "connector.emulator", "--port", "0", "--api-key", "old:flag"],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _export_lines(proc, 7)["FAL_KEY"] == "old:flag"
    finally:
        err = _stop(proc)
    assert "accepting only the printed FAL_KEY" in err


def test_verbose_logs_the_steps_then_http_and_never_the_key(keyed_emu, cli_env, python):
    env = cli_env(keyed_emu)  # FAL_KEY is the emulator's pinned key
    secret = keyed_emu.api_key.partition(":")[2]
    job = ["run", "subscribe", "--input", json.dumps({"app_id": "fal-ai/echo", "data": {"x": 1}})]

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([*python, *args], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert secret not in proc.stdout + proc.stderr
        return proc

    assert "connector." not in run(*job).stderr  # quiet by default
    info = run("-v", *job).stderr
    assert "INFO connector.events: subscribe submitted request_id=" in info
    assert "subscribe succeeded" in info and "DEBUG" not in info
    after_the_command = run(*job[:2], "-v", *job[2:]).stderr
    assert "subscribe submitted" in after_the_command
    debug = run("-vv", *job).stderr
    assert "DEBUG connector.http: POST http://127.0.0.1:" in debug
