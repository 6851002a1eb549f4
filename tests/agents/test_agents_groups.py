"""Tool groups: every action has one; ``mcp --groups`` and ``export --groups`` offer only theirs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from suite_helpers import subprocess_env

from connector import Connector
from connector.agents.groups import GROUPS, parse_groups
from connector.manifest import load_manifest
from connector.testing import connector_for

GROUP_OF = {spec.id: spec.group for spec in load_manifest()}


def test_every_manifest_action_is_in_a_known_group():
    assert set(GROUP_OF.values()) == set(GROUPS)
    assert GROUP_OF["subscribe"] == "queue" and GROUP_OF["get_models"] == "models"
    assert GROUP_OF["get_balance"] == "account" and GROUP_OF["list_requests"] == "platform"
    assert GROUP_OF["sign_file_url"] == "storage" and GROUP_OF["verify_webhook"] == "webhooks"


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp", "jsonschema"])
def test_tool_specs_of_some_groups(fmt):
    conn = Connector(environ={}, load_entry_points=False)
    every = conn.tool_specs(fmt)
    some = conn.tool_specs(fmt, {"queue", "models"})
    name = (lambda t: t["function"]["name"]) if fmt == "openai" else (lambda t: t.get("name") or t.get("id"))
    assert [name(t) for t in some] == [a for a, g in GROUP_OF.items() if g in ("queue", "models")]
    assert len(every) == len(GROUP_OF) and len(some) < len(every)
    assert conn.tool_specs(fmt, {"account"})[0] == next(t for t in every if name(t) == "get_usage")
    conn.close()


def test_parse_groups_names_the_unknown_one():
    assert parse_groups(" queue, platform ") == {"queue", "platform"}
    with pytest.raises(ValueError, match="unknown group.*'billing'.*queue, models"):
        parse_groups("queue,billing")
    with pytest.raises(ValueError, match="at least one"):
        parse_groups(",")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(), check=False)


def test_export_groups_from_the_command_line():
    proc = _cli("export", "--format", "mcp", "--groups", "account,storage")
    assert proc.returncode == 0, proc.stderr
    names = [t["name"] for t in json.loads(proc.stdout)]
    assert names == ["get_usage", "get_analytics", "get_billing_events", "get_balance", "sign_file_url"]
    bad = _cli("export", "--groups", "queue,nope")
    assert bad.returncode == 2 and "'nope'" in json.loads(bad.stdout)["error"]


def test_the_commands_offer_the_queue_and_models_groups_unless_told_all():
    default = [t["name"] for t in json.loads(_cli("export", "--format", "mcp").stdout)]
    assert default == [a for a, g in GROUP_OF.items() if g in ("queue", "models")]
    assert "verify_webhook" not in default and "delete_request_payloads" not in default
    every = [t["name"] for t in json.loads(_cli("export", "--format", "mcp", "--groups", "all").stdout)]
    assert every == list(GROUP_OF)


def test_mcp_offers_and_runs_only_its_groups(fal_emulator):
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client

    from connector.agents.mcp_server import build_server

    conn = connector_for(fal_emulator, load_entry_points=False)
    seen = {}

    async def main() -> None:
        async with Client(build_server(conn, groups={"account"})) as client:
            seen["tools"] = [t.name for t in (await client.list_tools()).tools]
            seen["balance"] = await client.call_tool("get_balance", {})
            seen["outside"] = await client.call_tool("get_models", {})

    anyio.run(main)
    conn.close()
    assert seen["tools"] == ["get_usage", "get_analytics", "get_billing_events", "get_balance"]
    assert seen["balance"].is_error is False and seen["balance"].structured_content["currency"] == "USD"
    outside = seen["outside"].structured_content
    assert outside["failure"]["type"] == "unknown_action" and "--groups" in outside["error"]
    assert fal_emulator.requests_log and not any("/v1/models?" in line[1] or line[1].endswith("/v1/models")
                                                 for line in fal_emulator.requests_log)


def test_mcp_main_refuses_an_unknown_group(monkeypatch, capsys):
    pytest.importorskip("mcp")
    import argparse

    from connector.agents.mcp_server import main

    monkeypatch.setenv("FAL_KEY", "k")
    assert main(argparse.Namespace(text="summary", groups="queue,bogus")) == 2
    assert "'bogus'" in capsys.readouterr().err
