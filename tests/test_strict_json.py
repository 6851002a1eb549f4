"""Outputs are strict JSON on every surface: NaN and infinity that fal sends are written as
``null`` (the CLI, ``call_tool``, the MCP server), and text that is not Unicode never breaks
the printer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from suite_helpers import BASE_URLS

from connector.cli import main
from connector.strict_json import dumps, parse_input, strict

# fal's model list with non-finite numbers in it (Python's json reads them; JSON has none).
MODELS_BODY = ('{"models": [{"endpoint_id": "fal-ai/flux/dev", "metadata": {"score": NaN, "max": Infinity, '
               '"min": -Infinity, "name": "\\ud800 lone"}}], "has_more": false, "next_cursor": null}')


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_dumps_writes_non_finite_numbers_as_null_and_keeps_other_data():
    value = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5, "é"], "c": {"d": None}}
    assert strict_loads(dumps(value)) == {"a": None, "b": [None, None, 1.5, "é"], "c": {"d": None}}
    assert dumps(value, indent=2).startswith("{\n  ")
    plain = {"x": [1, {"y": "z"}]}
    assert strict(plain) is plain  # nothing to change: no copy
    assert json.loads(dumps({"s": "a\udcffb"})) == {"s": "a\ufffdb"}  # a lone surrogate cannot be printed


def test_parse_input_refuses_deep_nesting_as_invalid_input():
    from connector.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as caught:
        parse_input("[" * 100_000 + "]" * 100_000, "--input")
    assert caught.value.field == "--input" and "nested" in caught.value.message


def test_cli_prints_null_for_nan(monkeypatch, capsys, mocked):
    for name, url in {"FAL_API_URL": BASE_URLS["api_url"], "FAL_KEY": "k-id:k-secret-123456"}.items():
        monkeypatch.setenv(name, url)
    mocked.get(f"{BASE_URLS['api_url']}/models", body=MODELS_BODY, content_type="application/json")
    assert main(["run", "get_models", "--input", '{"q": "flux"}']) == 0
    out = strict_loads(capsys.readouterr().out)
    assert out["models"][0]["metadata"] == {"score": None, "max": None, "min": None, "name": "\ufffd lone"}


def test_call_tool_and_mcp_results_are_strict(make_conn, mocked):
    mocked.get(f"{BASE_URLS['api_url']}/models", body=MODELS_BODY, content_type="application/json")
    conn = make_conn()
    out = conn.call_tool("get_models", {"q": "flux"})
    assert out["success"], out
    assert json.loads(json.dumps(out, allow_nan=False))["models"][0]["metadata"]["score"] is None

    pytest.importorskip("mcp")
    import anyio
    from mcp import Client

    from connector.agents.mcp_server import build_server

    seen: dict[str, Any] = {}

    async def run() -> None:
        async with Client(build_server(conn, text="json")) as client:
            seen["result"] = await client.call_tool("get_models", {"q": "flux"})

    anyio.run(run)
    result = seen["result"]
    assert strict_loads(result.content[0].text)["models"][0]["metadata"]["max"] is None
    assert result.structured_content["models"][0]["metadata"]["min"] is None
