"""TLS verification cannot be turned off by accident.

An https emulator with a self-signed certificate: the connector refuses it
(``connection_error``, nothing sent — even a billable submit is not ``outcome_unknown``)
until the certificate is trusted the standard way (``REQUESTS_CA_BUNDLE``). No keyword, no
environment variable and no plugin turns verification off, and the host name is checked.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import connector
from connector import Connector, hookimpl
from connector.config import ConfigError
from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "tls-key-id:tls-key-secret-0123456789"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(scope="module")
def tls_emu():
    e = Emulator(api_key=KEY, tls=True).start()
    yield e
    e.stop()


@pytest.fixture
def untrusted(monkeypatch):
    """The process trusts only the system CAs (not the emulator's certificate)."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def conn_for(emu: Emulator, **options: Any) -> Connector:
    return connector_for(emu, api_key=KEY, timeout=2, retry_deadline=3, backoff_base=0.01, backoff_max=0.02, **options)


@pytest.mark.parametrize(
    ("action", "inputs", "attempts"),
    [
        ("get_models", {}, 6),  # a read: connection errors are retried
        ("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}}, 4),  # billable: retried, nothing was sent
        ("run_model", {"app_id": "fal-ai/echo", "data": {}}, 4),
    ],
)
def test_a_certificate_that_does_not_verify_is_refused(tls_emu, untrusted, action, inputs, attempts):
    conn = conn_for(tls_emu)
    tls_emu.requests_log.clear()
    jobs_before, runs_before = len(tls_emu.jobs), len(tls_emu.runs)
    try:
        out = conn.run(action, inputs)
    finally:
        conn.close()
    failure = out["failure"]
    assert failure["type"] == "connection_error", out["error"]
    assert failure["retryable"] is True and failure["attempts"] == attempts
    assert "TLS" in out["error"] and "REQUESTS_CA_BUNDLE" in out["error"]
    assert len(tls_emu.jobs) == jobs_before and len(tls_emu.runs) == runs_before
    assert list(tls_emu.requests_log) == []  # no HTTP request got through the handshake


def test_trusting_the_certificate_the_standard_way_works(tls_emu, untrusted):
    untrusted.setenv("REQUESTS_CA_BUNDLE", tls_emu.cert_file)
    conn = conn_for(tls_emu)
    try:
        out = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": {"x": 1}, "timeout": 10})
    finally:
        conn.close()
    assert out["success"], out["error"]


def test_the_host_name_is_checked(untrusted):
    """A trusted certificate for another name is refused: the emulator's certificate names
    127.0.0.1 and localhost; connecting to it as 127.0.0.2 must fail."""
    emu = Emulator(host="0.0.0.0", api_key=KEY, tls=True).start()
    try:
        untrusted.setenv("REQUESTS_CA_BUNDLE", emu.cert_file)
        other = f"https://127.0.0.2:{emu.port}"
        conn = Connector(api_key=KEY, environ={}, load_entry_points=False, api_url=other + "/v1", timeout=2,
                         retry_deadline=3, max_retries=0)
        try:
            out = conn.run("get_models", {})
            good = Connector(api_key=KEY, environ={}, load_entry_points=False, api_url=f"https://localhost:{emu.port}/v1",
                             timeout=2, retry_deadline=3, max_retries=0)
            assert good.run("get_models", {})["success"]  # the same server under a name it has
            good.close()
        finally:
            conn.close()
    finally:
        emu.stop()
    assert out["failure"]["type"] == "connection_error", out["error"]
    assert "TLS" in out["error"]


@pytest.mark.parametrize("keyword", ["verify", "verify_ssl", "ssl_verify", "insecure", "tls_verify", "cert_reqs"])
def test_no_keyword_turns_verification_off(keyword):
    with pytest.raises((ConfigError, TypeError)):
        Connector(api_key=KEY, environ={}, load_entry_points=False, **{keyword: False})


@pytest.mark.parametrize(
    "env",
    [
        {"FAL_CONNECTOR_VERIFY": "0"},
        {"FAL_CONNECTOR_INSECURE": "1"},
        {"PYTHONHTTPSVERIFY": "0"},
        {"CURL_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": ""},
    ],
    ids=lambda env: ",".join(env),
)
def test_no_environment_variable_turns_verification_off(tls_emu, untrusted, env):
    for name, value in env.items():
        untrusted.setenv(name, value)
    conn = conn_for(tls_emu, environ=dict(env))
    try:
        out = conn.run("get_models", {})
    finally:
        conn.close()
    assert out["failure"]["type"] == "connection_error", out["error"]


class Insecure:
    """A plugin trying every handle it has to turn verification off."""

    @hookimpl
    def prepare_request(self, action: Any, request: Any, context: Any) -> None:
        request.verify = False
        request.headers["X-Insecure"] = "1"
        context.http.session.trust_env = True


def test_a_plugin_cannot_turn_verification_off_through_its_request(tls_emu, untrusted):
    conn = conn_for(tls_emu, plugins=[Insecure()])
    try:
        assert conn.http.session.verify is True
        out = conn.run("get_models", {})
    finally:
        conn.close()
    assert out["failure"]["type"] == "connection_error", out["error"]


def _package_sources() -> dict[str, str]:
    root = Path(connector.__file__).parent
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in root.rglob("*.py")
        if "emulator" not in path.relative_to(root).parts  # a server (and test double), not the client
    }


def test_the_client_code_never_disables_verification():
    """Static: no ``verify=False``/``verify=0``, no assignment to ``.verify``, no ``CERT_NONE``, no ``check_hostname = False``,
    no ``_create_unverified_context`` anywhere in the connector's client code."""
    offences = []
    for name, source in _package_sources().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.keyword) and node.arg == "verify" and isinstance(node.value, ast.Constant) and not node.value.value:
                offences.append(f"{name}: verify={node.value.value!r}")
            if isinstance(node, ast.Attribute) and node.attr in ("CERT_NONE", "_create_unverified_context", "check_hostname"):
                offences.append(f"{name}: {node.attr}")
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "verify" for t in node.targets):
                offences.append(f"{name}: assigns .verify")
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "verify":
                offences.append(f"{name}: sets a 'verify' option")
    assert not offences, offences
    assert len(_package_sources()) > 10  # the walk really saw the package
