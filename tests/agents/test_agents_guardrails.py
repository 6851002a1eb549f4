"""Cost guardrails (default plugin): refused before anything billable is sent, naming the rule."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest
from agent_helpers import billable_requests, sent

from connector import Connector
from connector.config import Config, ConfigError
from connector.default_plugins import guardrails
from connector.plugins import DEFAULT_PLUGINS

BILLABLE = {
    "add_request_to_queue": {"app_id": "fal-ai/echo", "data": {"x": 1}},
    "subscribe": {"app_id": "fal-ai/echo", "data": {"x": 1}},
    "run_model": {"app_id": "fal-ai/echo", "data": {"x": 1}},
}
ESTIMATE = ("POST", "/v1/models/pricing/estimate")


def estimates(emulator) -> int:
    return sent(emulator).count(ESTIMATE)


@pytest.mark.parametrize("action_id", sorted(BILLABLE))
def test_a_model_outside_the_allowlist_sends_nothing(emu_conn, fal_emulator, check_output, action_id):
    conn = emu_conn(allowed_models=["fal-ai/flux/*", "fal-ai/fast-sdxl"])
    out = conn.call_tool(action_id, BILLABLE[action_id])
    check_output(conn, action_id, out)
    failure = out["failure"]
    assert failure["type"] == "policy_denied" and failure["attempts"] == 0 and failure["retryable"] is False
    assert "allowed_models" in out["error"] and "fal-ai/echo" in out["error"] and "fal-ai/flux/*" in out["error"]
    assert failure["detail"] == {"rule": "allowed_models", "model": "fal-ai/echo", "allowed_models": ["fal-ai/flux/*", "fal-ai/fast-sdxl"]}
    assert fal_emulator.jobs == [] and fal_emulator.runs == [] and sent(fal_emulator) == []


def test_run_and_aliases_are_guarded_too(emu_conn, fal_emulator):
    conn = emu_conn(allowed_models=["fal-ai/flux/*"])
    for name in ("FAL_AI_SUBSCRIBE_ASYNC_JOB", "AddRequestToQueue", "FAL_AI_RUN_MODEL_SYNC"):
        assert conn.run(name, {"app_id": "fal-ai/echo", "data": {}})["failure"]["type"] == "policy_denied"
    assert sent(fal_emulator) == []


def test_allowed_models_match_the_normalised_endpoint(emu_conn, fal_emulator):
    conn = emu_conn(allowed_models=["fal-ai/flux/*", "fal-ai/fast-sdxl"])
    assert conn.call_tool("run_model", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}})["success"]
    assert conn.call_tool("run_model", {"app_id": "fal-ai/flux/dev/image-to-image", "data": {"prompt": "x"}})["success"]
    assert conn.call_tool("run_model", {"app_id": "fast-sdxl", "data": {"prompt": "a fox"}})["success"]  # bare alias
    assert conn.call_tool("run_model", {"app_id": "fal-ai/flux", "data": {}})["failure"]["type"] == "policy_denied"
    assert conn.call_tool("run_model", {"app_id": "FAL-AI/flux/dev", "data": {}})["failure"]["type"] == "policy_denied"
    assert len(fal_emulator.runs) == 3


def test_an_empty_allowlist_allows_no_billable_call_but_reads_still_work(emu_conn, fal_emulator):
    conn = emu_conn(allowed_models=[])
    out = conn.call_tool("subscribe", BILLABLE["subscribe"])
    assert out["failure"]["type"] == "policy_denied" and "the list is empty" in out["error"]
    assert conn.call_tool("get_models", {"endpoint_id": "fal-ai/echo"})["success"]
    assert conn.call_tool("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/echo": {"unit_quantity": 1}}})["success"]
    assert billable_requests(fal_emulator) == []


def test_above_budget_sends_only_the_estimate(emu_conn, fal_emulator, check_output):
    conn = emu_conn(max_cost_usd=0.01)
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}})  # 0.025 per call
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0
    assert "max_cost_usd 0.01" in out["error"] and "0.025 USD" in out["error"]
    assert out["failure"]["detail"] == {"rule": "max_cost_usd", "model": "fal-ai/flux/dev", "max_cost_usd": 0.01, "estimate_usd": 0.025}
    assert fal_emulator.jobs == [] and billable_requests(fal_emulator) == []
    assert sent(fal_emulator) == [ESTIMATE]


def test_within_budget_runs_and_estimates_are_cached(emu_conn, fal_emulator):
    conn = emu_conn(max_cost_usd=0.01)
    for _ in range(3):
        out = conn.call_tool("run_model", {"app_id": "fal-ai/flux/schnell", "data": {"prompt": "a fox"}})  # 0.003
        assert out["success"], out
    assert estimates(fal_emulator) == 1 and len(fal_emulator.runs) == 3
    for _ in range(2):
        assert conn.run("subscribe", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})["failure"]["type"] == "policy_denied"
    assert estimates(fal_emulator) == 2  # one per endpoint


def test_the_cache_expires(emu_conn, fal_emulator, monkeypatch):
    monkeypatch.setattr(guardrails, "ESTIMATE_TTL", 0.0)
    conn = emu_conn(max_cost_usd=1)
    for _ in range(2):
        assert conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {}})["success"]
    assert estimates(fal_emulator) == 2


def test_both_rules_allowlist_first(emu_conn, fal_emulator):
    conn = emu_conn(allowed_models=["fal-ai/flux/*"], max_cost_usd=0.01)
    assert "allowed_models" in conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {}})["error"]
    assert sent(fal_emulator) == []  # no estimate for a model that is not allowed anyway
    assert "max_cost_usd" in conn.call_tool("run_model", {"app_id": "fal-ai/flux/dev", "data": {}})["error"]
    assert conn.call_tool("run_model", {"app_id": "fal-ai/flux/schnell", "data": {"prompt": "x"}})["success"]


@pytest.mark.parametrize("fault", [
    {"status": 500, "times": None},
    {"action": "invalid_json", "times": None},
])
def test_no_estimate_means_no_call(emu_conn, fal_emulator, fault):
    fal_emulator.faults.add("estimate", **fault)
    conn = emu_conn(max_cost_usd=100, max_retries=0)
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": {}})
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0
    assert "could not be estimated" in out["error"] and "max_cost_usd" in out["error"]
    assert out["failure"]["detail"]["estimate_failure"]["type"] in ("server_error", "invalid_response")
    assert fal_emulator.jobs == [] and billable_requests(fal_emulator) == []


def test_a_model_pricing_does_not_know_is_refused_with_a_budget(emu_conn, fal_emulator):
    conn = emu_conn(max_cost_usd=100)
    out = conn.call_tool("run_model", {"app_id": "fal-ai/echo/sub/path", "data": {}})
    assert out["failure"]["type"] == "policy_denied" and "not_found" in out["error"]
    assert fal_emulator.runs == []


def test_no_key_with_a_budget_is_missing_credentials_and_sends_nothing(fal_emulator):
    env = {k: v for k, v in fal_emulator.env().items() if k != "FAL_KEY"}
    conn = Connector(environ={**env, "FAL_CONNECTOR_MAX_COST_USD": "1"}, load_entry_points=False)
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": {}})
    assert out["failure"]["type"] == "missing_credentials"
    assert sent(fal_emulator) == []


def test_invalid_app_id_is_still_invalid_input(emu_conn, fal_emulator):
    conn = emu_conn(allowed_models=["*"])
    assert conn.call_tool("subscribe", {"app_id": "fal-ai/../x", "data": {}})["failure"]["type"] == "invalid_input"
    assert sent(fal_emulator) == []


def test_concurrent_calls_share_the_cache(emu_conn, fal_emulator):
    conn = emu_conn(max_cost_usd=1)
    conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {}})
    results = []
    threads = [threading.Thread(target=lambda: results.append(conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {}})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8 and all(r["success"] for r in results)
    assert estimates(fal_emulator) == 1


# -- configuration and the hook itself -----------------------------------------------------


def test_configuration_from_the_environment():
    config = Config.load({"FAL_CONNECTOR_ALLOWED_MODELS": " fal-ai/flux/*, fal-ai/fast-sdxl ,", "FAL_CONNECTOR_MAX_COST_USD": "0.05",
                          "FAL_CONNECTOR_MAX_TOOL_RESULT_BYTES": "50000"})
    assert config.allowed_models == ("fal-ai/flux/*", "fal-ai/fast-sdxl")
    assert config.max_cost_usd == 0.05 and config.max_tool_result_bytes == 50_000
    defaults = Config.load({})
    assert defaults.allowed_models is None and defaults.max_cost_usd is None and defaults.max_tool_result_bytes == 100_000
    assert Config.load({"FAL_CONNECTOR_ALLOWED_MODELS": ""}).allowed_models is None  # empty = absent
    assert Config.load({"FAL_CONNECTOR_MAX_COST_USD": "1"}, max_cost_usd=2).max_cost_usd == 2  # keywords win


@pytest.mark.parametrize("env, name", [
    ({"FAL_CONNECTOR_ALLOWED_MODELS": " , "}, "FAL_CONNECTOR_ALLOWED_MODELS"),
    ({"FAL_CONNECTOR_MAX_COST_USD": "-1"}, "FAL_CONNECTOR_MAX_COST_USD"),
    ({"FAL_CONNECTOR_MAX_COST_USD": "nan"}, "FAL_CONNECTOR_MAX_COST_USD"),
    ({"FAL_CONNECTOR_MAX_COST_USD": "cheap"}, "FAL_CONNECTOR_MAX_COST_USD"),
    ({"FAL_CONNECTOR_MAX_TOOL_RESULT_BYTES": "10"}, "FAL_CONNECTOR_MAX_TOOL_RESULT_BYTES"),
    ({"FAL_CONNECTOR_DOWNLOAD_DIRS": os.pathsep}, "FAL_CONNECTOR_DOWNLOAD_DIRS"),
    ({"FAL_CONNECTOR_UPLOAD_DIRS": os.pathsep}, "FAL_CONNECTOR_UPLOAD_DIRS"),
])
def test_bad_configuration_names_the_setting(env, name):
    with pytest.raises(ConfigError, match=name):
        Config.load(env)


def test_the_plugin_is_a_default_and_runs_first():
    """A before_execute policy: it runs before any execute_action, so before anything is sent."""
    assert "connector.default_plugins.guardrails" in DEFAULT_PLUGINS
    hooks = Connector(environ={}, load_entry_points=False).plugin_manager.hook
    assert guardrails in [impl.plugin for impl in hooks.before_execute.get_hookimpls()]
    assert guardrails not in [impl.plugin for impl in hooks.execute_action.get_hookimpls()]


def test_without_guardrails_the_hook_returns_at_once():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the hook looked at {name}")

        def get(self, *args):
            raise AssertionError("the hook looked at the inputs")

    context = SimpleNamespace(agent=False, config=SimpleNamespace(allowed_models=None, max_cost_usd=None, upload_dirs=None))
    assert guardrails.before_execute(action=Untouchable(), inputs=Untouchable(), context=context) is None
    # Configured, a non-billable action is passed on without reading its inputs either.
    configured = SimpleNamespace(agent=False, config=SimpleNamespace(allowed_models=(), max_cost_usd=1.0, upload_dirs=None))
    read = SimpleNamespace(spec=SimpleNamespace(retry="read"), id="get_models")
    assert guardrails.before_execute(action=read, inputs=Untouchable(), context=configured) is None
