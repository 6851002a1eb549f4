"""Plugins: new actions, overrides, the request/retry/event hooks, and entry-point discovery."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from pathlib import Path

import pluggy
import pytest

from connector import Action, ActionError, Connector, hookimpl
from connector.http.retry import RetryPolicy
from connector.manifest import manifest_spec

SAMPLE = Path(__file__).parent / "plugins" / "sample_plugin.py"
MODELS_URL = "https://api.test/v1/models"
JWKS_URL = "https://rest.test/.well-known/jwks.json"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
STATUS_URL = f"https://queue.test/fal-ai/flux/requests/{RID}/status"
STATUS_INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}


@pytest.fixture
def sample():
    """A fresh copy of tests/plugins/sample_plugin.py (its EVENTS list starts empty)."""
    name = f"sample_plugin_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, SAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def with_sample(make_conn, sample):
    return make_conn(plugins=[sample])


def events_of(module, action):
    return [e["type"] for e in module.EVENTS if e["action"] == action]


# -- a plugin adds an action ------------------------------------------------------------------


def test_plugin_action_is_listed_and_described(with_sample):
    ids = [a["id"] for a in with_sample.actions()]
    assert "count_models" in ids
    assert "get_request_status" in ids  # the built-ins are still there
    described = with_sample.describe("CountModels")
    assert described["id"] == "count_models"
    # the common.json reference was made local, so the published schema is self-contained
    assert described["output_schema"]["properties"]["failure"]["anyOf"][0]["$ref"] == "#/$defs/failure"
    assert "failure" in described["output_schema"]["$defs"]


def test_plugin_action_runs(with_sample, sample, mocked, check_output, http_calls, fake_key):
    mocked.get(MODELS_URL, json={"models": [{"endpoint_id": "a/b"}, {"endpoint_id": "c/d"}], "has_more": False})
    out = with_sample.run("count_models", {"q": "fox"})
    check_output(with_sample, "count_models", out)
    assert out == {"success": True, "error": None, "failure": None, "count": 2, "query": "fox"}
    assert http_calls.query(mocked.calls[0]) == {"q": ["fox"]}
    assert mocked.calls[0].request.headers["Authorization"] == f"Key {fake_key}"
    assert events_of(sample, "count_models") == ["started", "succeeded"]


def test_plugin_action_alias(with_sample, mocked):
    mocked.get(MODELS_URL, json={"models": [], "has_more": False})
    assert with_sample.run("CountModels", {"q": "x"})["count"] == 0


@pytest.mark.parametrize(
    ("inputs", "field"),
    [({}, "q"), ({"q": 5}, "q"), ({"q": ""}, "q"), ({"q": "x", "extra": 1}, "extra"), ({"q": "x", "limit": "2"}, "limit")],
)
def test_plugin_action_input_is_validated(with_sample, sample, mocked, check_output, inputs, field):
    out = with_sample.run("count_models", inputs)
    check_output(with_sample, "count_models", out)
    assert out["failure"]["type"] == "invalid_input"
    assert field in out["error"]
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0
    assert events_of(sample, "count_models") == ["failed"]  # no "started": nothing ran
    failed = sample.EVENTS[-1]
    assert failed["failure"]["type"] == "invalid_input" and failed["error"] == out["error"]


def test_plugin_action_failure_and_retry_events(with_sample, sample, mocked, check_output):
    mocked.get(MODELS_URL, status=503)
    mocked.get(MODELS_URL, status=502)
    mocked.get(MODELS_URL, json={"models": [{"endpoint_id": "a/b"}], "has_more": False})
    out = with_sample.run("count_models", {"q": "fox"})
    check_output(with_sample, "count_models", out)
    assert out["count"] == 1
    assert events_of(sample, "count_models") == ["started", "retrying", "retrying", "succeeded"]
    retry = [e for e in sample.EVENTS if e["type"] == "retrying"]
    assert [e["attempt"] for e in retry] == [1, 2]
    assert all("wait" in e and "503" in retry[0]["reason"] for e in retry)


def test_plugin_action_raising_action_error(with_sample, sample, mocked, check_output):
    out = with_sample.run("count_models", {"q": "refuse"})
    check_output(with_sample, "count_models", out)
    assert out["failure"]["type"] == "policy_denied"
    assert out["count"] is None
    assert events_of(sample, "count_models") == ["started", "failed"]


def test_plugin_action_invalid_response_names_field(with_sample, mocked, check_output):
    mocked.get(MODELS_URL, json={"items": []})
    out = with_sample.run("count_models", {"q": "fox"})
    check_output(with_sample, "count_models", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "models" in out["error"]


def test_observer_sees_built_in_actions_too(with_sample, sample, mocked):
    mocked.get(STATUS_URL, status=500)
    out = with_sample.run("get_request_status", STATUS_INPUT)
    assert out["failure"]["attempts"] == 6
    assert events_of(sample, "get_request_status") == ["started"] + ["retrying"] * 5 + ["failed"]


def test_observer_sees_status_events_of_a_stream(with_sample, sample, mocked):
    body = b'data: {"status": "IN_QUEUE", "queue_position": 1}\n\ndata: {"status": "COMPLETED", "logs": []}\n\n'
    mocked.get(STATUS_URL + "/stream", body=body, content_type="text/event-stream")
    out = with_sample.run("stream_request_status", STATUS_INPUT)
    assert out["success"] is True
    assert events_of(sample, "stream_request_status") == ["started", "status", "status", "succeeded"]
    statuses = [e["status"]["status"] for e in sample.EVENTS if e["type"] == "status"]
    assert statuses == ["IN_QUEUE", "COMPLETED"]


# -- overriding and intercepting built-ins ----------------------------------------------------


class OverrideJwks:
    """Registers its own get_jwks: a plugin's action wins over the built-in of the same id."""

    @hookimpl
    def register_actions(self):
        def handler(inputs, context):
            return {"keys": [{"kty": "OKP", "kid": "from-plugin"}]}

        return [Action(manifest_spec("get_jwks"), handler)]


def test_plugin_overrides_built_in_action(make_conn, mocked, check_output):
    conn = make_conn(plugins=[OverrideJwks()])
    mocked.get(JWKS_URL, json={"keys": [{"kid": "from-fal"}]})
    for name in ("get_jwks", "FAL_AI_GET_JWKS"):
        out = conn.run(name, {})
        check_output(conn, "get_jwks", out)
        assert out["keys"] == [{"kty": "OKP", "kid": "from-plugin"}]
    assert len(mocked.calls) == 0
    assert [a["id"] for a in conn.actions()].count("get_jwks") == 1


class Intercept:
    """execute_action for get_models only; returns None (pass) for everything else."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def execute_action(self, action, inputs, context):
        self.seen.append((action.id, inputs))
        if action.id == "get_models":
            return {"models": [{"endpoint_id": "cached/model"}], "next_cursor": None, "has_more": False}
        return None


def test_execute_action_intercepts(make_conn, mocked, check_output):
    plugin = Intercept()
    conn = make_conn(plugins=[plugin])
    mocked.get(JWKS_URL, json={"keys": []})
    out = conn.run("get_models", {"q": "x"})
    check_output(conn, "get_models", out)
    assert out["models"] == [{"endpoint_id": "cached/model"}]
    assert len(mocked.calls) == 0  # the built-in never ran
    out = conn.run("get_jwks", {})
    assert out["success"] is True and len(mocked.calls) == 1  # passing on reaches the built-in
    assert plugin.seen == [("get_models", {"q": "x"}), ("get_jwks", {})]


def test_execute_action_sees_only_validated_input(make_conn, mocked):
    plugin = Intercept()
    conn = make_conn(plugins=[plugin])
    out = conn.run("get_models", {"limit": "5"})
    assert out["failure"]["type"] == "invalid_input"
    assert plugin.seen == []


def test_intercepted_output_is_still_checked_against_the_schema(make_conn, check_output):
    class Bad:
        @hookimpl
        def execute_action(self, action, inputs, context):
            return {"models": "not a list"}

    conn = make_conn(plugins=[Bad()])
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["failure"]["type"] == "invalid_response"
    assert "models" in out["error"]


def test_buggy_handler_becomes_a_failure_not_a_raise(make_conn, check_output):
    class Crash:
        @hookimpl
        def execute_action(self, action, inputs, context):
            raise ZeroDivisionError("bug")

    conn = make_conn(plugins=[Crash()])
    out = conn.run("get_models", {})
    check_output(conn, "get_models", out)
    assert out["success"] is False


# -- prepare_request, retry_policy, action_event ----------------------------------------------


class AddHeader:
    def __init__(self):
        self.seen = []

    @hookimpl
    def prepare_request(self, action, request, context):
        self.seen.append((action.id, request.method, request.url))
        request.headers["X-Trace-Id"] = f"trace-{action.id}"
        if action.id == "get_models":
            request.params = list(request.params or []) + [("limit", "3")]


def test_prepare_request_edits_the_request(make_conn, mocked, http_calls):
    plugin = AddHeader()
    conn = make_conn(plugins=[plugin])
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    mocked.get(MODELS_URL, json={"models": [], "has_more": False})
    assert conn.run("get_request_status", STATUS_INPUT)["success"] is True
    assert conn.run("get_models", {"q": "fox"})["success"] is True
    assert mocked.calls[0].request.headers["X-Trace-Id"] == "trace-get_request_status"
    assert mocked.calls[0].request.headers["Authorization"].startswith("Key ")  # auth still added
    assert mocked.calls[1].request.headers["X-Trace-Id"] == "trace-get_models"
    assert http_calls.query(mocked.calls[1]) == {"q": ["fox"], "limit": ["3"]}
    assert plugin.seen == [("get_request_status", "GET", STATUS_URL), ("get_models", "GET", MODELS_URL)]


def test_prepare_request_cannot_get_the_key_sent_elsewhere(make_conn, mocked):
    class Redirect:
        @hookimpl
        def prepare_request(self, action, request, context):
            request.url = request.url.replace("https://queue.test", "https://elsewhere.test")

    conn = make_conn(plugins=[Redirect()])
    mocked.get(f"https://elsewhere.test/fal-ai/flux/requests/{RID}/status", status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    conn.run("get_request_status", STATUS_INPUT)
    assert "Authorization" not in mocked.calls[0].request.headers


class OneRetry:
    def __init__(self):
        self.classes = []

    @hookimpl
    def retry_policy(self, action, retry_class, context):
        self.classes.append((action.id, retry_class))
        return RetryPolicy(retry_class, 1, 60, backoff_base=0, backoff_max=0)


@pytest.mark.parametrize(
    ("action", "inputs", "method", "url", "retry_class"),
    [
        ("get_request_status", STATUS_INPUT, "GET", STATUS_URL, "read"),
        ("cancel_request", STATUS_INPUT, "PUT", STATUS_URL.replace("/status", "/cancel"), "cancel"),
        ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}}, "POST", "https://queue.test/fal-ai/flux/dev", "billable"),
    ],
)
def test_retry_policy_changes_max_retries(make_conn, mocked, action, inputs, method, url, retry_class):
    plugin = OneRetry()
    conn = make_conn(plugins=[plugin])
    mocked.add(method, url, status=503)
    out = conn.run(action, inputs)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 2
    assert plugin.classes == [(action, retry_class)]


def test_raising_observer_does_not_break_the_action(make_conn, sample, mocked, check_output, caplog):
    class Explodes:
        @hookimpl
        def action_event(self, event, context):
            raise RuntimeError("observer bug")

    conn = make_conn(plugins=[Explodes(), sample])
    mocked.get(STATUS_URL, status=503)
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 2})
    with caplog.at_level("WARNING", logger="connector"):
        out = conn.run("get_request_status", STATUS_INPUT)
    check_output(conn, "get_request_status", out)
    assert out["queue_position"] == 2
    # the other observer still saw everything
    assert events_of(sample, "get_request_status") == ["started", "retrying", "succeeded"]
    assert any("observer" in r.getMessage() for r in caplog.records)


def test_an_observer_may_take_a_subset_of_the_arguments(make_conn, mocked):
    """pluggy passes each implementation only the arguments it names."""
    seen, contexts = [], []

    class EventOnly:
        @hookimpl
        def action_event(self, event):
            seen.append(event["type"])

    class ContextOnly:
        @hookimpl
        def action_event(self, context):
            contexts.append(context.action.id)

    conn = make_conn(plugins=[EventOnly(), ContextOnly()])
    mocked.get(STATUS_URL, status=503)
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 2})
    assert conn.run("get_request_status", STATUS_INPUT)["success"] is True
    assert seen == ["started", "retrying", "succeeded"]
    assert contexts == ["get_request_status"] * 3


def test_a_raising_observer_is_logged_and_the_next_one_still_runs(make_conn, mocked, caplog):
    seen = []

    class Explodes:
        @hookimpl
        def action_event(self, event):
            raise RuntimeError("observer bug")

    class Counts:
        @hookimpl
        def action_event(self, event):
            seen.append(event["type"])

    # pluggy calls the last registered first: Explodes runs before Counts and after it alike
    conn = make_conn(plugins=[Counts(), Explodes(), Counts()])
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 2})
    with caplog.at_level("WARNING", logger="connector"):
        out = conn.run("get_request_status", STATUS_INPUT)
    assert out["success"] is True and out["queue_position"] == 2
    assert seen.count("started") == 2 and seen.count("succeeded") == 2
    failures = [r for r in caplog.records if "action_event observer" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info and "observer bug" in str(r.exc_info[1]) for r in failures)


@pytest.mark.parametrize("misspelt", ["action_events", "execute", "before_exec"])
def test_a_misspelt_hook_fails_at_registration(make_conn, misspelt):
    plugin = type("Typo", (), {misspelt: hookimpl(lambda self, event: None)})()
    with pytest.raises(pluggy.PluginValidationError, match=rf"unknown hook '{misspelt}'.*the hooks are: .*action_event"):
        make_conn(plugins=[plugin])


def test_a_hook_with_an_unknown_argument_fails_at_registration(make_conn):
    class Wrong:
        @hookimpl
        def action_event(self, evnt):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="evnt"):
        make_conn(plugins=[Wrong()])


def test_before_execute_can_refuse_before_any_request(make_conn, mocked, check_output):
    asked = []

    class Policy:
        @hookimpl
        def before_execute(self, action, inputs, context):
            asked.append((action.id, dict(inputs), context.config.api_key is not None))
            if inputs.get("app_id", "").startswith("fal-ai/flux"):
                raise ActionError("policy_denied", f"{action.id} refused: no flux here", detail={"rule": "no_flux"})

    conn = make_conn(plugins=[Policy()])
    events = []
    out = conn.run("get_request_status", STATUS_INPUT, on_event=events.append)
    check_output(conn, "get_request_status", out)
    assert out["success"] is False
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0
    assert out["failure"]["detail"] == {"rule": "no_flux"}
    assert len(mocked.calls) == 0  # nothing was sent
    assert [e["type"] for e in events] == ["started", "failed"]
    assert asked == [("get_request_status", STATUS_INPUT, True)]
    # allowed: the action runs as usual
    other = {"app_id": "fal-ai/fast-sdxl", "request_id": RID}
    mocked.get(f"https://queue.test/fal-ai/fast-sdxl/requests/{RID}/status", status=202, json={"status": "IN_QUEUE", "queue_position": 1})
    assert conn.run("get_request_status", other)["success"] is True


def test_before_execute_does_not_see_invalid_input(make_conn, mocked):
    asked = []

    class Policy:
        @hookimpl
        def before_execute(self, action):
            asked.append(action.id)

    conn = make_conn(plugins=[Policy()])
    assert conn.run("get_request_status", {"app_id": "fal-ai/flux"})["failure"]["type"] == "invalid_input"
    assert asked == []


def test_raising_on_event_callback_does_not_break_the_action(conn, mocked):
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 2})

    def boom(event):
        raise ValueError("callback bug")

    assert conn.run("get_request_status", STATUS_INPUT, on_event=boom)["success"] is True


def test_plugins_are_per_connector(make_conn, sample, mocked):
    plain = make_conn()
    assert plain.action("count_models") is None
    assert plain.run("count_models", {"q": "x"})["failure"]["type"] == "unknown_action"
    assert make_conn(plugins=[sample]).action("count_models") is not None


# -- entry-point discovery --------------------------------------------------------------------

FAKE_PLUGIN = textwrap.dedent(
    '''
    from connector import Action, ActionSpec, hookimpl

    SPEC = ActionSpec(
        id="fake_ping",
        title="Fake ping",
        description="Answers pong without any HTTP.",
        input_schema={"type": "object", "additionalProperties": False, "properties": {}},
        output_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "success": {"type": "boolean"},
                "error": {"type": ["string", "null"], "default": None},
                "failure": {"default": None, "anyOf": [{"$ref": "common.json#/$defs/failure"}, {"type": "null"}]},
                "pong": {"type": ["string", "null"], "default": None},
            },
        },
        annotations={"read_only": True, "destructive": False, "idempotent": True, "open_world": False},
    )

    @hookimpl
    def register_actions():
        return [Action(SPEC, lambda inputs, context: {"pong": "pong"})]
    '''
)


@pytest.fixture
def installed_fake_plugin(tmp_path, monkeypatch):
    (tmp_path / "fake_fal_plugin.py").write_text(FAKE_PLUGIN)
    dist = tmp_path / "fake_fal_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-fal-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[fal_connector]\nfake_fal_plugin = fake_fal_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fake_fal_plugin", None)


def test_entry_point_plugins_are_discovered(installed_fake_plugin, mocked):
    conn = Connector(environ={})  # load_entry_points defaults to True
    try:
        assert "fake_ping" in [a["id"] for a in conn.actions()]
        out = conn.run("fake_ping", {})
        assert out == {"success": True, "error": None, "failure": None, "pong": "pong"}
        assert len(mocked.calls) == 0
    finally:
        conn.close()


def test_entry_points_can_be_switched_off(installed_fake_plugin, make_conn):
    assert make_conn(load_entry_points=False).action("fake_ping") is None


def test_action_error_is_public():
    err = ActionError("not_found", "x")
    assert err.failure()["type"] == "not_found"
    with pytest.raises(ValueError):
        ActionError("no_such_type", "x")


def test_a_module_plugin_registers_the_hooks_pluggy_would(tmp_path):
    # The manager skips what cannot be a hook implementation before pluggy looks: the marked
    # functions (a plain one, a wrapper) are found, the rest never is, as with pluggy's own.
    from connector import hookspecs
    from connector.plugins import PluginManager

    source = tmp_path / "module_plugin.py"
    source.write_text(textwrap.dedent("""
        from connector import hookimpl

        @hookimpl
        def action_event(event, context):
            pass

        @hookimpl(wrapper=True)
        def execute_action(action, inputs, context):
            return (yield)

        def register_actions():  # a hook's name, unmarked: not an implementation
            return []

        class prepare_request:  # nor is a class
            pass

        retry_policy = 3
        """))
    spec = importlib.util.spec_from_file_location(f"module_plugin_{uuid.uuid4().hex}", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = {}
    for manager in (PluginManager("fal_connector"), pluggy.PluginManager("fal_connector")):
        manager.add_hookspecs(hookspecs)
        manager.register(module, "sample")
        found[type(manager)] = sorted(caller.name for caller in manager.get_hookcallers(module))
    assert found[PluginManager] == found[pluggy.PluginManager] == ["action_event", "execute_action"]
