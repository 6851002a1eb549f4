"""A request id or app id cannot change the path or host of a request.

Hypothesis feeds ids built from the pieces of every URL trick ('/', '..', '%2e', '?', '#',
'@', '\\', unicode look-alikes, 'http://evil') into every action that puts an id into a URL.
Either the input is ``invalid_input`` and nothing is sent, or every request went to the
configured origin, under the configured path prefix, with no dot segment, query or fragment
smuggled in. Ids that come back in fal's answers (submit's ``request_id``) are held to the
same rules.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import Connector
from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "path-key-id:path-key-secret-0123456789"
BASES = {
    "queue": "https://queue.test/q-prefix",
    "run": "https://run.test/r-prefix",
    "api": "https://api.test/v1",
    "rest": "https://rest.test/rest-prefix",
}
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"

PIECES = ["/", "..", ".", "%2e", "%2E%2e", "%2F", "%", "?", "?x=1", "#", "#frag", "@", "evil.example@", "\\", "\\\\",
          "http://evil.example", "https:", "//evil.example", ":8080", "evil.example", "fal-ai", "flux", "dev",
          "requests", "status", "é", "\u2215", "\uff0f", "\u3002", "\u2024", "\x00", " ", "\t", "\n", ";", "~", "-",
          "_", "a", "0", "workflows", "comfy", "&", "=", "+", "[::1]"]
# Mostly-allowed characters, so that many ids pass validation and their URLs get checked.
near_valid = st.lists(st.sampled_from(["a", "Z", "0", "-", "_", ".", "..", "/", "fal-ai", "x.y", "requests", "status"]),
                      min_size=1, max_size=10).map("".join)
ids = (
    near_valid
    | st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join)
    | st.text(max_size=24)
    | st.sampled_from(["fal-ai/flux/dev", "fast-sdxl", "workflows/a/b", RID, "a" * 128, "a" * 129, "fal-ai/" + "x" * 600])
)
FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# (action, field, the other inputs, the host its URL must stay on)
CASES = [
    ("add_request_to_queue", "app_id", {"data": {}}, "queue"),
    ("subscribe", "app_id", {"data": {}, "timeout": 2}, "queue"),
    ("run_model", "app_id", {"data": {}, "timeout": 2}, "run"),
    ("get_request_status", "app_id", {"request_id": RID}, "queue"),
    ("stream_request_status", "app_id", {"request_id": RID, "timeout": 2}, "queue"),
    ("get_request_response", "app_id", {"request_id": RID}, "queue"),
    ("cancel_request", "app_id", {"request_id": RID}, "queue"),
    ("get_request_status", "request_id", {"app_id": "fal-ai/flux/dev"}, "queue"),
    ("stream_request_status", "request_id", {"app_id": "fal-ai/flux/dev", "timeout": 2}, "queue"),
    ("get_request_response", "request_id", {"app_id": "fal-ai/flux/dev"}, "queue"),
    ("cancel_request", "request_id", {"app_id": "fal-ai/flux/dev"}, "queue"),
    ("get_pricing", "endpoint_id", {}, "api"),
    ("get_models", "endpoint_id", {}, "api"),
]


@pytest.fixture(scope="module")
def conn():
    c = Connector(api_key=KEY, environ={}, load_entry_points=False, max_retries=0, retry_deadline=3, timeout=2,
                  queue_url=BASES["queue"], run_url=BASES["run"], api_url=BASES["api"], rest_url=BASES["rest"],
                  jwks_url="https://rest.test/.well-known/jwks.json", cdn_url="https://cdn.test")
    yield c
    c.close()


def sent_urls(conn: Connector, action: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Run with every request answered 404 (nothing retried); the URLs that were requested."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in (responses.GET, responses.POST, responses.PUT):
            rsps.add(method, re.compile(r".*"), status=404, json={"detail": "not found"})
        out = conn.run(action, inputs)
        return out, [call.request.url for call in rsps.calls]


def check_url(url: str, host: str) -> None:
    base = urlsplit(BASES[host])
    got = urlsplit(url)
    assert (got.scheme, got.hostname, got.port) == (base.scheme, base.hostname, base.port), url
    assert got.username is None and got.password is None, url
    assert got.fragment == "", url
    assert got.path.startswith(base.path + "/"), url
    for path in (got.path, unquote(got.path)):
        segments = path.split("/")[1:]
        assert "." not in segments and ".." not in segments, url
        assert "" not in segments[:-1], url  # no empty segment ('//') smuggled in
        assert "\\" not in path and "@" not in path and "?" not in path and "#" not in path, url


@pytest.mark.parametrize(("action", "field", "others", "host"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
@FUZZ
@given(value=ids)
def test_ids_cannot_leave_the_configured_host_or_prefix(conn, action, field, others, host, value):
    value_in = [value] if field == "endpoint_id" and len(value) % 2 else value  # lists too
    out, urls = sent_urls(conn, action, {**others, field: value_in})
    if out["failure"] and out["failure"]["type"] == "invalid_input":
        assert urls == [], f"invalid input, yet {urls} were requested"
        assert out["failure"]["attempts"] == 0
        return
    assert urls, out["error"]
    for url in urls:
        check_url(url, host)
    if field == "endpoint_id":  # a query parameter: never part of the path
        assert all(urlsplit(u).path in ("/v1/models", "/v1/models/pricing") for u in urls), urls


@FUZZ
@given(key=ids)
def test_estimate_endpoint_names_stay_in_the_body(conn, key):
    out, urls = sent_urls(conn, "estimate_pricing", {"estimate_type": "unit_price", "endpoints": {key: {"unit_quantity": 1}}})
    if out["failure"] and out["failure"]["type"] == "invalid_input":
        assert urls == []
        return
    assert [urlsplit(u).path for u in urls] == ["/v1/models/pricing/estimate"]
    for url in urls:
        check_url(url, "api")


def test_the_valid_id_forms_map_to_the_documented_paths(conn):
    """The positive side: the ids that are allowed land exactly where the id rules say."""
    cases = [
        ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}}, "/q-prefix/fal-ai/flux/dev"),
        ("add_request_to_queue", {"app_id": "fast-sdxl", "data": {}}, "/q-prefix/fal-ai/fast-sdxl"),
        ("add_request_to_queue", {"app_id": "workflows/acme/up/x", "data": {}}, "/q-prefix/workflows/acme/up/x"),
        ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": RID}, f"/q-prefix/fal-ai/flux/requests/{RID}/status"),
        ("get_request_response", {"app_id": "comfy/a/b/c", "request_id": "x.y_z-1"}, "/q-prefix/comfy/a/b/requests/x.y_z-1"),
        ("cancel_request", {"app_id": "fal-ai/flux/dev", "request_id": RID}, f"/q-prefix/fal-ai/flux/requests/{RID}/cancel"),
        ("run_model", {"app_id": "fal-ai/flux/dev", "data": {}}, "/r-prefix/fal-ai/flux/dev"),
    ]
    for action, inputs, path in cases:
        out, urls = sent_urls(conn, action, inputs)
        assert [urlsplit(u).path for u in urls] == [path], (action, urls, out["error"])


# -- ids in fal's answers ---------------------------------------------------------------------

EVIL_REQUEST_IDS = ["../../v1/models", "a/../../x", "x?y=1", "x#frag", "%2e%2e", "..", ".", "@evil.example",
                    "http://evil.example/x", "a\\b", "é", "", " ", "a" * 129, "a/b", "-leading-dash"]


@pytest.fixture(scope="module")
def emu():
    e = Emulator(api_key=KEY).start()
    yield e
    e.stop()


@pytest.mark.parametrize("evil", EVIL_REQUEST_IDS)
def test_a_request_id_in_fals_answer_cannot_steer_later_requests(emu, evil):
    """subscribe follows the id submit's answer gives it: one that is not a request id is
    ``invalid_response`` and nothing else is requested."""
    conn = connector_for(emu, api_key=KEY, timeout=2, retry_deadline=3)
    emu.requests_log.clear()
    emu.faults.add("submit", status=200, body={"request_id": evil, "status": "IN_QUEUE"}, times=None)
    try:
        for action in ("subscribe", "add_request_to_queue"):
            out = conn.run(action, {"app_id": "fal-ai/echo", "data": {}})
            assert out["failure"]["type"] == "invalid_response", out["error"]
            assert out["failure"]["retryable"] is False  # fal may have taken the job: do not blindly resubmit
    finally:
        emu.faults.clear()
        conn.close()
    assert [(m, t) for m, t, _ in list(emu.requests_log)] == [("POST", "/fal-ai/echo")] * 2
