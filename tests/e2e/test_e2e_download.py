"""Result files end to end: ``download_file`` against the emulator over real sockets (a keyed
emulator that would log any key sent, a server that drips its body, an oversized file), and
``fal-connector run ... --download DIR`` from another working directory."""

from __future__ import annotations

import base64
import hashlib
import os
import time


def test_an_uploaded_file_comes_back_byte_for_byte_without_the_key(keyed_emu, make_conn, tmp_path):
    conn = make_conn(keyed_emu, api_key="e2e-key-id:e2e-key-secret-0123456789")
    data = os.urandom(300_000)
    up = conn.run("upload_file", {"data_base64": base64.b64encode(data).decode(), "file_name": "noise.bin"})
    assert up["success"], up["error"]
    out = conn.run("download_file", {"url": up["url"], "dest": str(tmp_path)})
    assert out["success"], out["error"]
    assert open(out["path"], "rb").read() == data
    assert out["sha256"] == hashlib.sha256(data).hexdigest() and out["size"] == len(data)
    gets = [entry for entry in keyed_emu.requests_log if entry[0] == "GET"]
    assert gets and all("Authorization" not in entry[2] for entry in gets), gets


def test_a_dripping_body_stops_at_the_timeout_and_leaves_nothing(emu, make_conn, tmp_path):
    conn = make_conn(emu, timeout=5.0)  # each byte arrives well within the read timeout
    emu.faults.add("file", action="drip", interval=0.2, times=None)
    url = f"{emu.url}/cdn/images/64x64/ff0000.png"
    started = time.monotonic()
    out = conn.run("download_file", {"url": url, "dest": str(tmp_path), "timeout": 1.5})
    elapsed = time.monotonic() - started
    assert out["failure"]["type"] == "timeout", out
    assert "did not finish in time" in out["error"]
    assert elapsed < 4.5, elapsed  # well under 3x the timeout, not the ~minutes the whole body takes
    assert os.listdir(tmp_path) == []


def test_the_body_may_run_past_the_retry_deadline_until_the_timeout(emu, make_conn, tmp_path):
    """Retries end at the retry deadline; the body of the answer may use the download's own timeout."""
    conn = make_conn(emu, timeout=5.0, retry_deadline=0.5)
    emu.faults.add("file", action="drip", interval=0.2, times=None)
    started = time.monotonic()
    out = conn.run("download_file", {"url": f"{emu.url}/cdn/images/64x64/ff0000.png", "dest": str(tmp_path), "timeout": 2.0})
    elapsed = time.monotonic() - started
    assert out["failure"]["type"] == "timeout", out  # not a body "broken off" at the retry deadline
    assert 1.5 < elapsed < 6.0, elapsed
    assert os.listdir(tmp_path) == []


def test_an_oversized_file_is_refused_and_removed(emu, make_conn, tmp_path):
    conn = make_conn(emu)
    emu.faults.add("file", action="big_body", size=3_000_000)
    out = conn.run("download_file", {"url": f"{emu.url}/cdn/images/64x64/ff0000.png", "dest": str(tmp_path),
                                     "max_bytes": 1_000_000})
    assert out["failure"]["type"] == "invalid_response" and out["failure"]["retryable"] is False
    assert "1000000 byte limit (max_bytes)" in out["error"]
    assert os.listdir(tmp_path) == []


def test_cli_run_subscribe_download_saves_every_image_from_another_cwd(emu, cli_env, python, tmp_path):
    import json
    import subprocess

    job = {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox", "num_images": 2}}
    proc = subprocess.run([*python, "run", "subscribe", "--input", json.dumps(job), "--download", "out"],
                          cwd=tmp_path, env=cli_env(emu, FAL_KEY="e2e-any-key"), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    images = out["data"]["images"]
    assert len(images) == 2
    for image in images:
        path = image["local_path"]
        assert os.path.isabs(path) and os.path.dirname(path) == str(tmp_path / "out")
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.path.basename(i["local_path"]) for i in images)
    assert all("Authorization" not in entry[2] for entry in emu.requests_log if entry[1].startswith("/cdn/"))


def test_cli_download_failure_is_reported_and_exits_1(emu, cli_env, python, tmp_path):
    import json
    import subprocess

    emu.faults.add("file", status=404, times=None)
    job = {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}}
    proc = subprocess.run([*python, "run", "subscribe", "--input", json.dumps(job), "--download", str(tmp_path / "out")],
                          env=cli_env(emu, FAL_KEY="e2e-any-key"), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["success"] is True  # the job itself succeeded
    image = out["data"]["images"][0]
    assert image["local_path"] is None and "HTTP 404" in image["download_error"]
    assert "not downloaded:" in proc.stderr
    assert os.listdir(tmp_path / "out") == []
