"""Connector.call_tool: function-calling arguments in, agent-safe outputs out (against the emulator)."""

from __future__ import annotations

import json
from typing import Any

from agent_helpers import billable_requests

from connector.agents.tools import prepare_arguments

OPENAI_NULLS = {"webhook_url": None, "priority": None, "hint": None, "start_timeout": None,
                "max_queue_length": None, "logs": None, "timeout": None}


def test_openai_strict_arguments_run(emu_conn, fal_emulator, check_output):
    conn = emu_conn()
    # What a strict-mode model sends: every field, null for the unused ones, data as a JSON string.
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": json.dumps({"x": 1, "keep": None}), **OPENAI_NULLS})
    check_output(conn, "subscribe", out)
    assert out["success"], out
    assert out["data"] == {"echo": {"x": 1, "keep": None}}  # nulls inside the model's data are the model's
    job = fal_emulator.job(out["request_id"])
    assert job.input == {"x": 1, "keep": None}
    assert "X-Fal-Queue-Priority" not in job.headers and "x-fal-queue-priority" not in {k.lower() for k in job.headers}


def test_arguments_as_a_json_string(emu_conn):
    conn = emu_conn()
    args = json.dumps({"app_id": "fal-ai/echo", "data": {"y": 2}})  # tool_call.function.arguments
    out = conn.call_tool("run_model", args)
    assert out["success"] and out["data"] == {"echo": {"y": 2}}


def test_aliases_and_the_same_output_as_run(emu_conn):
    conn = emu_conn()
    via_tool = conn.call_tool("FAL_AI_GET_PRICING", {"endpoint_id": "fal-ai/flux/dev"})
    via_run = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    assert via_tool == via_run


def test_unparsable_arguments_are_invalid_input_and_nothing_is_sent(emu_conn, fal_emulator, check_output):
    conn = emu_conn()
    out = conn.call_tool("subscribe", '{"app_id": "fal-ai/echo", "data": ')
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0
    assert "arguments" in out["error"] and "JSON" in out["error"]
    assert fal_emulator.jobs == [] and billable_requests(fal_emulator) == []


def test_null_for_a_required_field_is_missing_not_null(emu_conn, fal_emulator):
    conn = emu_conn()
    out = conn.call_tool("subscribe", {"app_id": None, "data": {"x": 1}})
    assert out["failure"]["type"] == "invalid_input"
    assert "app_id" in out["error"] and "required" in out["error"]
    assert fal_emulator.jobs == []


def test_a_json_string_that_is_not_an_object_is_reported(emu_conn, fal_emulator):
    conn = emu_conn()
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": "a red fox"})
    assert out["failure"]["type"] == "invalid_input" and "data" in out["error"]
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": "[1, 2]"})
    assert out["failure"]["type"] == "invalid_input" and "data" in out["error"]
    assert fal_emulator.jobs == []


def test_unknown_tool(emu_conn):
    out = emu_conn().call_tool("make_coffee", {})
    assert out["success"] is False and out["failure"]["type"] == "unknown_action"
    assert emu_conn().call_tool(None, {})["failure"]["type"] == "unknown_action"


def test_model_errors_come_back_as_data(emu_conn, check_output):
    conn = emu_conn()
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/always-fails", "data": {}})
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "model_error" and out["request_id"]
    out = conn.call_tool("add_request_to_queue", {"app_id": "fal-ai/no-such-model", "data": {}})
    assert out["failure"]["type"] == "not_found"


class _Action:
    """Just enough of an Action for prepare_arguments."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.spec = type("Spec", (), {"input_schema": schema})()


def test_prepare_arguments_rules():
    schema = {
        "type": "object", "additionalProperties": False,
        "$defs": {"opt": {"type": "integer"}},
        "properties": {
            "n": {"$ref": "#/$defs/opt"},
            "maybe": {"type": ["string", "null"]},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"q": {"type": "integer"}}}},
            "list": {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}}},
            "free": {"type": "object"},
            "text": {"type": "string"},
        },
    }
    action = _Action(schema)
    assert prepare_arguments(action, None) == {}
    assert prepare_arguments(action, "") == {}
    assert prepare_arguments(action, {"n": None, "maybe": None}) == {"maybe": None}  # null kept where allowed
    assert prepare_arguments(action, {"map": '{"a": {"q": 1, "r": null}}'}) == {"map": {"a": {"q": 1, "r": None}}}
    assert prepare_arguments(action, {"map": {"a": {"q": None}}}) == {"map": {"a": {}}}
    assert prepare_arguments(action, {"list": [{"a": None}, {"a": "x"}]}) == {"list": [{}, {"a": "x"}]}
    assert prepare_arguments(action, {"free": {"z": None}}) == {"free": {"z": None}}
    assert prepare_arguments(action, {"text": '{"not": "decoded"}'}) == {"text": '{"not": "decoded"}'}
    assert prepare_arguments(action, {"unknown": None}) == {"unknown": None}  # left for validation to name
    assert prepare_arguments(action, [1]) == [1]
