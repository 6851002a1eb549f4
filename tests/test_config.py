"""Configuration from the environment and keywords, and where the key may go."""

from __future__ import annotations

import pytest

from connector import Action, Connector, hookimpl
from connector.config import Config, ConfigError
from connector.manifest import manifest_spec

RID = "abc"
STATUS_PATH = f"/fal-ai/flux/requests/{RID}/status"
STATUS_INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}
IN_QUEUE = {"status": "IN_QUEUE", "queue_position": 0}


def test_defaults_match_the_contract():
    config = Config.load({})
    assert config.api_key is None
    assert config.queue_url == "https://queue.fal.run"
    assert config.run_url == "https://fal.run"
    assert config.api_url == "https://api.fal.ai/v1"
    assert config.jwks_url == "https://rest.fal.ai/.well-known/jwks.json"
    assert config.rest_url == "https://rest.fal.ai"
    assert config.cdn_url == "https://v3.fal.media"
    assert config.timeout == 30
    assert config.max_retries is None
    assert config.retry_deadline == 60
    assert config.connect_timeout <= 5


@pytest.mark.parametrize(
    ("environ", "kwarg", "expected"),
    [
        ({"FAL_KEY": "id:secret-1"}, None, "id:secret-1"),
        ({"FAL_KEY_ID": "kid", "FAL_KEY_SECRET": "ksecret"}, None, "kid:ksecret"),
        ({"FAL_KEY": "", "FAL_KEY_ID": "kid", "FAL_KEY_SECRET": "ksecret"}, None, "kid:ksecret"),
        ({"FAL_KEY": "id:secret-1", "FAL_KEY_ID": "kid", "FAL_KEY_SECRET": "ksecret"}, None, "id:secret-1"),
        ({"FAL_KEY": "id:secret-1"}, "kw:secret-2", "kw:secret-2"),
        ({}, "kw:secret-2", "kw:secret-2"),
        ({"FAL_KEY": ""}, None, None),
        ({"FAL_KEY_ID": "kid"}, None, None),
        ({"FAL_KEY_SECRET": "ksecret"}, None, None),
        ({"FAL_KEY_ID": "kid", "FAL_KEY_SECRET": ""}, None, None),
        ({"FAL_KEY": "id:secret-1"}, "", "id:secret-1"),  # an empty keyword counts as not given
    ],
)
def test_key_resolution(make_conn, mocked, environ, kwarg, expected):
    conn = make_conn(api_key=kwarg, environ=environ)
    mocked.get("https://queue.test" + STATUS_PATH, status=202, json=IN_QUEUE)
    out = conn.run("get_request_status", STATUS_INPUT)
    if expected is None:
        assert out["failure"]["type"] == "missing_credentials"
        assert len(mocked.calls) == 0
    else:
        assert out["success"] is True, out
        assert mocked.calls[0].request.headers["Authorization"] == f"Key {expected}"


def test_urls_and_settings_from_environment(mocked):
    environ = {
        "FAL_KEY": "env:key-123456",
        "FAL_QUEUE_URL": "http://127.0.0.1:8080/queue/",
        "FAL_API_URL": "http://127.0.0.1:8080/v1",
        "FAL_JWKS_URL": "http://127.0.0.1:8080/jwks.json",
        "FAL_CONNECTOR_TIMEOUT": "7",
        "FAL_CONNECTOR_MAX_RETRIES": "1",
    }
    conn = Connector(environ=environ, load_entry_points=False, backoff_base=0)
    try:
        mocked.get("http://127.0.0.1:8080/queue" + STATUS_PATH, status=500)
        mocked.get("http://127.0.0.1:8080/v1/models", json={"models": [], "has_more": False})
        mocked.get("http://127.0.0.1:8080/jwks.json", json={"keys": []})
        out = conn.run("get_request_status", STATUS_INPUT)
        assert out["failure"]["attempts"] == 2
        assert conn.run("get_models", {})["success"] is True
        assert conn.run("get_jwks", {})["success"] is True
        assert mocked.calls[0].request.url == "http://127.0.0.1:8080/queue" + STATUS_PATH
        assert mocked.calls[0].request.req_kwargs["timeout"][1] == pytest.approx(7, abs=0.5)
        assert mocked.calls[0].request.headers["Authorization"] == "Key env:key-123456"
        assert "Authorization" not in mocked.calls[-1].request.headers  # the JWKS never gets it
    finally:
        conn.close()


def test_keywords_win_over_environment(make_conn, mocked):
    conn = make_conn(environ={"FAL_QUEUE_URL": "https://env-queue.test", "FAL_CONNECTOR_MAX_RETRIES": "3"}, max_retries=0)
    mocked.get("https://queue.test" + STATUS_PATH, status=503)
    out = conn.run("get_request_status", STATUS_INPUT)
    assert out["failure"]["attempts"] == 1
    assert mocked.calls[0].request.url.startswith("https://queue.test/")


def test_retry_deadline_from_environment(make_conn, mocked, monkeypatch):
    conn = make_conn(environ={"FAL_CONNECTOR_RETRY_DEADLINE": "5"})
    waits = []
    monkeypatch.setattr(conn.http, "sleep", waits.append)
    mocked.get("https://queue.test" + STATUS_PATH, status=429, headers={"Retry-After": "10"})
    out = conn.run("get_request_status", STATUS_INPUT)
    assert out["failure"]["type"] == "rate_limited"
    assert out["failure"]["attempts"] == 1
    assert out["failure"]["retry_after"] == 10
    assert waits == []


def test_connect_timeout_is_capped(make_conn, mocked):
    conn = make_conn(timeout=120)
    mocked.get("https://queue.test" + STATUS_PATH, status=202, json=IN_QUEUE)
    conn.run("get_request_status", STATUS_INPUT)
    connect, read = mocked.calls[0].request.req_kwargs["timeout"]
    assert connect <= 5
    assert 0 < read <= 120


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"queue_url": "ftp://queue.test"}, "queue_url"),
        ({"api_url": "not a url"}, "api_url"),
        ({"run_url": "https://run.test/?x=1"}, "run_url"),
        ({"environ": {"FAL_CONNECTOR_TIMEOUT": "abc"}}, "FAL_CONNECTOR_TIMEOUT"),
        ({"environ": {"FAL_CONNECTOR_MAX_RETRIES": "-1"}}, "FAL_CONNECTOR_MAX_RETRIES"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_configuration_names_the_setting(kwargs, names):
    with pytest.raises(ConfigError) as info:
        Connector(load_entry_points=False, **{"environ": {}, **kwargs})
    assert names in str(info.value)


# -- the key goes only to the configured keyed origins ----------------------------------------


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        ("https://queue.test/x", True),
        ("https://run.test/fal-ai/flux", True),
        ("https://api.test/other", True),  # the origin, not the path prefix, is what counts
        ("https://rest.test/storage/upload/initiate", True),
        ("https://cdn.test/files/upload", False),  # the CDN gets its token, never the key
        ("https://queue.test:8443/x", False),  # another port is another origin
        ("http://queue.test/x", False),  # another scheme is another origin
        ("https://queue.test.evil.example/x", False),
        ("https://evil.test/x", False),
        ("https://v3.fal.media/files/x", False),
    ],
)
def test_authorization_only_to_keyed_origins(make_conn, mocked, url, keyed, fake_key):
    class Fetch:
        @hookimpl
        def register_actions(self):
            def handler(inputs, context):
                context.request("GET", url)
                return {"keys": []}

            return [Action(manifest_spec("get_jwks"), handler)]

    conn = make_conn(plugins=[Fetch()])
    mocked.get(url, json={})
    out = conn.run("get_jwks", {})
    assert out["success"] is True, out
    headers = mocked.calls[0].request.headers
    if keyed:
        assert headers["Authorization"] == f"Key {fake_key}"
    else:
        assert "Authorization" not in headers
