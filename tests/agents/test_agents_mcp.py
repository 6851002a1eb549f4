"""``fal-connector mcp`` end to end: the MCP SDK's own client, a real stdio subprocess, the emulator.

The server runs as ``python -m connector mcp`` with the environment pointing at an emulator
started in this process; a few details are also checked in-process (no subprocess).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import anyio  # noqa: E402  (installed with mcp)
from mcp import Client, StdioServerParameters  # noqa: E402

import connector  # noqa: E402
from connector.agents.mcp_server import build_server, progress_message  # noqa: E402
from connector.manifest import load_manifest  # noqa: E402
from connector.testing import TEST_KEY, connector_for  # noqa: E402

MANIFEST_IDS = [spec.id for spec in load_manifest()]
PACKAGE_ROOT = str(Path(connector.__file__).resolve().parent.parent)


def server_env(emulator: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL_")}
    env.update(emulator.env())
    env["FAL_KEY"] = TEST_KEY
    # The same connector package the tests import (a checkout or an installed wheel).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def with_stdio_server(env: dict[str, str], scenario: Callable[[Client], Awaitable[None]], *, mode: str = "auto", timeout: float = 60) -> None:
    """Run ``scenario(client)`` against ``python -m connector mcp``. ``mode`` "auto" lets the SDK
    pick the newest protocol; "legacy" is the initialize handshake most desktop clients use."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "connector", "mcp", "--groups", "all"], env=env)

    async def main() -> None:
        with anyio.fail_after(timeout):
            async with Client(params, read_timeout_seconds=30, mode=mode) as client:
                await scenario(client)

    anyio.run(main)


def test_tools_a_queue_call_and_error_results_over_stdio(fal_emulator):
    seen: dict[str, Any] = {}

    async def scenario(client: Client) -> None:
        listed = await client.list_tools()
        seen["tools"] = {t.name: t for t in listed.tools}
        seen["submit"] = await client.call_tool("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"x": 1}})
        seen["invalid"] = await client.call_tool("add_request_to_queue", {"app_id": "fal-ai/echo"})
        seen["unknown_model"] = await client.call_tool("add_request_to_queue", {"app_id": "fal-ai/no-such-model", "data": {}})
        seen["unknown_tool"] = await client.call_tool("make_coffee", {})
        request_id = seen["submit"].structured_content["request_id"]
        seen["status"] = await client.call_tool("stream_request_status", {"app_id": "fal-ai/echo", "request_id": request_id, "timeout": 20})
        seen["result"] = await client.call_tool("get_request_response", {"app_id": "fal-ai/echo", "request_id": request_id})

    with_stdio_server(server_env(fal_emulator), scenario)

    tools = seen["tools"]
    assert list(tools) == MANIFEST_IDS
    assert tools["cancel_request"].annotations.destructive_hint is True
    assert tools["get_models"].annotations.read_only_hint is True
    assert tools["subscribe"].output_schema["type"] == "object" and tools["subscribe"].title

    submit = seen["submit"]  # validated by the SDK client against outputSchema on the way in
    assert submit.is_error is False
    out = submit.structured_content
    assert out["success"] is True and out["request_id"]
    assert [job.request_id for job in fal_emulator.jobs] == [out["request_id"]]
    assert fal_emulator.jobs[0].input == {"x": 1}
    assert submit.content[0].type == "text" and out["request_id"] in submit.content[0].text

    invalid = seen["invalid"]
    assert invalid.is_error is True
    assert invalid.structured_content["failure"]["type"] == "invalid_input"
    assert invalid.structured_content["failure"]["attempts"] == 0
    assert "data" in invalid.content[0].text and "invalid_input" in invalid.content[0].text

    unknown_model = seen["unknown_model"]
    assert unknown_model.is_error is True and unknown_model.structured_content["failure"]["type"] == "not_found"
    assert unknown_model.structured_content["failure"]["status_code"] == 404

    unknown_tool = seen["unknown_tool"]
    assert unknown_tool.is_error is True and unknown_tool.structured_content["failure"]["type"] == "unknown_action"

    assert seen["status"].structured_content["status"] == "COMPLETED"
    assert seen["result"].structured_content["data"] == {"echo": {"x": 1}}
    assert len(fal_emulator.jobs) == 1  # only the one submit


def test_subscribe_reports_progress_over_stdio(fal_emulator):
    fal_emulator.set_model("fal-ai/slow", queue_seconds=0.3, run_seconds=0.4)
    progress: list[tuple[float, float | None, str | None]] = []
    seen: dict[str, Any] = {}

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def scenario(client: Client) -> None:
        seen["result"] = await client.call_tool("subscribe", {"app_id": "fal-ai/slow", "data": {"n": 3}, "logs": True},
                                                progress_callback=on_progress)

    with_stdio_server(server_env(fal_emulator), scenario)

    result = seen["result"]
    assert result.is_error is False
    out = result.structured_content
    assert out["success"] and out["status"] == "COMPLETED" and out["data"] == {"echo": {"n": 3}}
    messages = [m or "" for _, _, m in progress]
    assert messages[0] == f"submitted: request_id {out['request_id']}"
    assert any(m.startswith("IN_QUEUE") for m in messages)
    assert any(m.startswith("IN_PROGRESS") for m in messages)
    assert messages[-1].startswith("COMPLETED")
    values = [v for v, _, _ in progress]
    assert values == sorted(set(values))  # strictly increasing, as MCP requires


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_cancelling_a_call_cancels_the_fal_job(fal_emulator, mode):
    fal_emulator.set_model("fal-ai/slow", queue_seconds=30, run_seconds=30)
    seen: dict[str, Any] = {}

    async def scenario(client: Client) -> None:
        submitted = anyio.Event()

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            if (message or "").startswith("submitted"):
                submitted.set()

        async def call() -> None:
            seen["returned"] = await client.call_tool("subscribe", {"app_id": "fal-ai/slow", "data": {}}, progress_callback=on_progress)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.fail_after(15):
                await submitted.wait()
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the call
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            job = fal_emulator.jobs[0]
            if job.cancelled_at is not None or job.cancel_requested_at is not None:
                break
            await anyio.sleep(0.05)
        # The server is still healthy after a cancellation.
        seen["after"] = await client.call_tool("get_request_status", {"app_id": "fal-ai/slow", "request_id": fal_emulator.jobs[0].request_id})

    with_stdio_server(server_env(fal_emulator), scenario, mode=mode)

    assert "returned" not in seen
    job = fal_emulator.jobs[0]
    assert job.cancelled_at is not None or job.cancel_requested_at is not None
    assert any(m == "PUT" and t.endswith(f"/requests/{job.request_id}/cancel") for m, t, _ in fal_emulator.requests_log)
    after = seen["after"].structured_content
    assert after["success"] and after["status"] == "COMPLETED" and after["job_error"]  # cancelled while queued
    assert len(fal_emulator.jobs) == 1


def test_guardrails_from_the_environment_over_stdio(fal_emulator):
    seen: dict[str, Any] = {}

    async def scenario(client: Client) -> None:
        seen["denied"] = await client.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": {}})
        seen["over_budget"] = await client.call_tool("run_model", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})

    env = server_env(fal_emulator, FAL_CONNECTOR_ALLOWED_MODELS="fal-ai/flux/*", FAL_CONNECTOR_MAX_COST_USD="0.01")
    with_stdio_server(env, scenario, mode="legacy")

    denied = seen["denied"]
    assert denied.is_error is True
    assert denied.structured_content["failure"]["type"] == "policy_denied"
    assert "allowed_models" in denied.content[0].text
    over = seen["over_budget"]
    assert over.is_error is True and "max_cost_usd" in over.structured_content["error"]
    assert fal_emulator.jobs == [] and fal_emulator.runs == []
    assert all(m != "POST" or t.startswith("/v1/") for m, t, _ in fal_emulator.requests_log)


# -- in process: the same server object, no subprocess --------------------------------------


def test_in_process_text_modes_and_trim_meta(fal_emulator):
    conn = connector_for(fal_emulator, max_tool_result_bytes=2048, load_entry_points=False)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with Client(build_server(conn)) as client:
            seen["summary"] = await client.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {"text": "word " * 2000}})
        async with Client(build_server(conn, text="json")) as client:
            seen["json"] = await client.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {"a": 1}})

    anyio.run(main)
    summary = seen["summary"]
    assert summary.is_error is False
    assert "Result shortened" in summary.content[0].text
    assert summary.meta["fal-connector/trimmed"].startswith("Result shortened")
    assert summary.structured_content["data"]["_trimmed"]
    assert json.loads(seen["json"].content[0].text) == seen["json"].structured_content
    assert seen["json"].structured_content["data"] == {"echo": {"a": 1}}



def test_progress_messages():
    status = {"status": "IN_QUEUE", "queue_position": 3, "logs": [{"message": "loading weights"}]}
    assert progress_message({"type": "status", "status": status}) == "IN_QUEUE (queue position 3): loading weights"
    assert progress_message({"type": "submitted", "request_id": "r1"}) == "submitted: request_id r1"
    assert progress_message({"type": "retrying", "wait": 1.5, "reason": "HTTP 503"}) == "retrying in 1.5 s: HTTP 503"
    assert progress_message({"type": "started"}) is None and progress_message({"type": "succeeded"}) is None
