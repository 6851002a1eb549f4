"""connector.http.transport: calls skip ``Session.request`` but send exactly what it would send.

``Transport.transmit`` prepares the request itself and hands it to the session's mounted
adapter: these tests pin that the prepared request (URL, headers, body) and the adapter
arguments (verify, cert, proxies, timeout, stream) are the ones ``Session.request`` would have
produced, that proxies and the CA bundle still come from the environment, and that the
fast URL path returns what ``prepare_url`` returns.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from connector.config import Config
from connector.http.transport import _PLAIN_URL, Transport


class Recorder(HTTPAdapter):
    """An adapter that records what it was asked to send and answers 200 {}."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(self, request, **kwargs):  # noqa: ANN001, ANN003
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code, response._content, response.url, response.request = 200, b"{}", request.url, request
        return response


def both(monkeypatch, method: str, url: str, params: Any = None, body: bytes | None = None, headers: dict | None = None,
         env: dict[str, str] | None = None, session_setup: Any = None) -> tuple[Any, Any]:
    """(what Session.request sent, what Transport.transmit sent) for the same call."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "no_proxy", "all_proxy",
                 "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NETRC", "/nonexistent")  # the connector reads no .netrc; keep the reference alike
    client = Transport(Config.load({}))
    reference = requests.Session()
    reference.headers.update(client.session.headers)
    results = []
    for session, call in (
        (reference, lambda: reference.request(method, url, params=params, data=body, headers=headers, timeout=(5, 30), allow_redirects=False, stream=True)),
        (client.session, lambda: client.transmit(method, url, params, body, dict(headers or {}), (5, 30))),
    ):
        if session_setup:
            session_setup(session)
        adapter = Recorder()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        call()
        (prepared, kwargs), = adapter.sent
        results.append(((prepared.method, prepared.url, dict(prepared.headers), prepared.body), kwargs))
    return results[0], results[1]


CALLS = [
    ("GET", "https://queue.fal.run/fal-ai/flux/requests/abc-123/status", None, None, {"Authorization": "Key k"}),
    ("GET", "https://queue.fal.run/fal-ai/flux/requests/abc-123/status", {"logs": "1"}, None, None),
    ("GET", "https://api.fal.ai/v1/models", [("endpoint_id", "a/b"), ("endpoint_id", "c/d"), ("q", "a b&c")], None, None),
    ("POST", "https://queue.fal.run/fal-ai/flux/dev", {"fal_webhook": "https://x.test/h?a=1"}, b'{"prompt":"fox"}', {"Content-Type": "application/json"}),
    ("POST", "https://queue.fal.run/fal-ai/flux/dev", None, None, None),
    ("POST", "https://queue.fal.run/fal-ai/flux/dev", None, b"", None),
    ("PUT", "https://queue.fal.run/fal-ai/flux/requests/abc/cancel", None, None, {"accept": "text/event-stream", "X-Extra": "1"}),
    ("GET", "http://127.0.0.1:8080/fal-ai/echo/requests/x/status/stream", {}, None, {"Accept": "text/event-stream"}),
    ("GET", "https://Queue.FAL.run/a/./b/../c", None, None, None),
    ("GET", "https://q.test", None, None, None),
    ("GET", "https://user:pw@q.test/a", None, None, None),
    ("GET", "https://q.test/ä b/%7e?x=ü#frag", None, None, None),
    ("GET", "https://q.test/a", None, None, {"User-Agent": None, "X-Gone": None}),
    ("PUT", "https://storage.test/upload/part", {"partNumber": 3, "uploadId": "u"}, b"\x00" * 10, {"Content-Type": "application/octet-stream"}),
]


@pytest.mark.parametrize(("method", "url", "params", "body", "headers"), CALLS)
def test_prepares_what_session_request_prepares(monkeypatch, method, url, params, body, headers):
    expected, got = both(monkeypatch, method, url, params, body, headers)
    assert got == expected


@pytest.mark.parametrize("env", [
    {"HTTPS_PROXY": "http://proxy.test:3128"},
    {"https_proxy": "http://proxy.test:3128", "no_proxy": "queue.fal.run"},
    {"HTTP_PROXY": "http://p.test:1", "ALL_PROXY": "socks5://s.test:2", "NO_PROXY": "other.test"},
    {"REQUESTS_CA_BUNDLE": "/tmp/bundle.pem"},
    {"CURL_CA_BUNDLE": "/tmp/curl.pem"},
])
def test_environment_settings_as_session_request_reads_them(monkeypatch, env):
    expected, got = both(monkeypatch, "GET", "https://queue.fal.run/fal-ai/flux/requests/abc/status", env=env)
    assert got == expected


def test_session_settings_are_honoured(monkeypatch):
    def setup(session: requests.Session) -> None:
        session.proxies = {"https": "http://session-proxy.test:8080"}
        session.verify = False
        session.cert = ("/tmp/c.pem", "/tmp/k.pem")
        session.headers["X-Session"] = "1"

    expected, got = both(monkeypatch, "GET", "https://queue.fal.run/a/b", session_setup=setup,
                         env={"HTTP_PROXY": "http://env.test:1"})
    assert got == expected


def test_trust_env_false_is_honoured(monkeypatch):
    def setup(session: requests.Session) -> None:
        session.trust_env = False
        session.proxies = {"https": "http://only-this.test:1"}

    expected, got = both(monkeypatch, "GET", "https://queue.fal.run/a", session_setup=setup,
                         env={"HTTPS_PROXY": "http://env.test:1", "REQUESTS_CA_BUNDLE": "/tmp/env.pem"})
    assert got == expected


def test_proxies_are_read_once_per_origin(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://first.test:1")
    client = Transport(Config.load({}))
    assert client._proxies_for("https://queue.fal.run/a")["https"] == "http://first.test:1"
    monkeypatch.setenv("HTTPS_PROXY", "http://second.test:1")
    assert client._proxies_for("https://queue.fal.run/b")["https"] == "http://first.test:1"  # same origin: kept
    assert client._proxies_for("https://api.fal.ai/v1")["https"] == "http://second.test:1"  # a new origin: read now


def _random_url(rnd: random.Random) -> str:
    def label() -> str:
        return rnd.choice("abz09") + "".join(rnd.choice("abz09-") for _ in range(rnd.randrange(0, 6)))

    host = ".".join(label() for _ in range(rnd.randrange(1, 4)))
    if rnd.random() < 0.3:
        host = ".".join(str(rnd.randrange(0, 300)) for _ in range(4))
    port = rnd.choice(["", "", ":1", ":80", ":443", ":8080", ":65535", ":65536", ":99999", ":0", ":08"])
    alphabet = rnd.choice(["aZ09._~-", "aZ09._~-", "aZ09._~-%!$&'()*+,;=:@ é"])
    segments = ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 8))) for _ in range(rnd.randrange(0, 5))]
    path = "".join("/" + s for s in segments) + rnd.choice(["", "/", "?a=1", "#x"])
    return rnd.choice(["https", "http", "HTTPS"]) + "://" + host + port + path


def test_plain_urls_are_exactly_what_prepare_url_returns():
    rnd = random.Random(3)
    matched = 0
    for _ in range(20000):
        url = _random_url(rnd)
        if not _PLAIN_URL.match(url):
            continue
        matched += 1
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        assert prepared.url == url
    assert matched > 1000


def test_transmit_sends_through_a_mounted_adapter():
    client = Transport(Config.load({}))
    adapter = Recorder()
    client.session.mount("https://queue.test", adapter)
    response = client.transmit("get", "https://queue.test/a", None, None, {}, (1, 2))
    assert response.status_code == 200 and adapter.sent[0][0].method == "GET"
    assert adapter.sent[0][1]["stream"] is True and adapter.sent[0][1]["timeout"] == (1, 2)
