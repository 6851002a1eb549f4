"""Start/stop, env(), TLS and the CLI entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from emu_helpers import poll

from connector.emulator import Emulator
from connector.emulator.emulator import ANY_KEY

REPO = Path(__file__).resolve().parents[2]


def test_env_points_everything_at_one_base_url():
    with Emulator() as emu:
        url = emu.url
        assert url.startswith("http://127.0.0.1:") and emu.port > 0
        assert emu.env() == {"FAL_QUEUE_URL": url, "FAL_RUN_URL": url + "/run", "FAL_API_URL": url + "/v1",
                             "FAL_JWKS_URL": url + "/.well-known/jwks.json", "FAL_REST_URL": url,
                             "FAL_CDN_URL": url + "/cdn", "FAL_KEY": ANY_KEY}
        assert emu.cert_file is None
        env = emu.env()
        assert requests.get(env["FAL_JWKS_URL"]).status_code == 200
        assert requests.get(env["FAL_API_URL"] + "/models").status_code == 200
        assert requests.post(env["FAL_RUN_URL"] + "/fal-ai/echo", json={}).status_code == 200


def test_url_before_start_raises():
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.stop()  # stopping a never-started emulator is harmless


def test_stop_releases_port_and_is_idempotent():
    emu = Emulator().start()
    port = emu.port
    session = requests.Session()
    job = session.post(f"{emu.url}/fal-ai/slow", json={}).json()  # keep-alive connection stays open
    stream = session.get(job["status_url"] + "/stream", stream=True, timeout=5)
    next(stream.iter_lines())  # a status stream is in flight during stop()
    t0 = time.monotonic()
    emu.stop()
    emu.stop()
    assert time.monotonic() - t0 < 3
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
    again = Emulator(port=port).start()  # same port, right away
    try:
        assert requests.get(f"{again.url}/v1/models").status_code == 200
    finally:
        again.stop()
    stream.close()
    session.close()
    with pytest.raises(RuntimeError):
        emu.start()


def test_stop_joins_threads():
    before = {t.ident for t in threading.enumerate()}
    with Emulator() as emu:
        with requests.Session() as s:
            for _ in range(3):
                s.get(f"{emu.url}/v1/models")
    poll(lambda: not [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("fal-")],
         timeout=3)


def test_tls_with_verify_cert_file():
    with Emulator(tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        cert = emu.cert_file
        assert cert and os.path.exists(cert)
        r = requests.post(f"{emu.url}/fal-ai/echo", json={"t": 1}, verify=cert)
        assert r.status_code == 200 and r.json()["status_url"].startswith("https://")
        # localhost is in the certificate too
        assert requests.get(f"https://localhost:{emu.port}/v1/models", verify=cert).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{emu.url}/v1/models")  # not trusted without the cert
        # a client that never finishes the handshake does not block others
        idle = socket.create_connection(("127.0.0.1", emu.port))
        with requests.Session() as s:  # per-call verify: requests lets REQUESTS_CA_BUNDLE beat s.verify
            job = s.post(f"{emu.url}/fal-ai/echo", json={}, verify=cert).json()
            with s.get(job["status_url"] + "/stream", stream=True, timeout=5, verify=cert) as st:
                assert any(line.startswith(b"data:") for line in st.iter_lines())
        idle.close()
    assert not os.path.exists(cert)  # temp dir removed on stop


def test_api_key_in_env():
    with Emulator(api_key="abc:def") as emu:
        assert emu.env()["FAL_KEY"] == "abc:def"


def test_cli_main_prints_exports_and_stops_on_sigterm():
    code = "import sys; from connector.emulator.cli import main; sys.exit(main('127.0.0.1', 0, False, 'k:s'))"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(REPO))
    try:
        lines = {}
        while len(lines) < 7:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            assert line.startswith("export ")
            name, _, value = line[len("export "):].strip().partition("=")
            lines[name] = value
        assert set(lines) == {"FAL_QUEUE_URL", "FAL_RUN_URL", "FAL_API_URL", "FAL_JWKS_URL", "FAL_REST_URL",
                              "FAL_CDN_URL", "FAL_KEY"}
        assert "serving on" in proc.stderr.readline()
        r = requests.post(lines["FAL_QUEUE_URL"] + "/fal-ai/echo", json={}, headers={"Authorization": "Key k:s"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
