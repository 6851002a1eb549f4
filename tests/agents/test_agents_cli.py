"""``fal-connector export`` and ``fal-connector mcp`` on the command line; docs and packaging."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from connector.cli import main
from connector.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_IDS = [spec.id for spec in load_manifest()]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_CONNECTOR_ALLOWED_MODELS", "FAL_CONNECTOR_MAX_COST_USD"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("fmt, name_of", [
    ("openai", lambda t: t["function"]["name"]),
    ("anthropic", lambda t: t["name"]),
    ("mcp", lambda t: t["name"]),
    ("jsonschema", lambda t: t["id"]),
])
def test_export_prints_json_tools(capsys, fmt, name_of):
    assert main(["export", "--format", fmt, "--groups", "all"]) == 0
    captured = capsys.readouterr()
    tools = json.loads(captured.out)
    assert [name_of(t) for t in tools] == MANIFEST_IDS
    assert captured.err == ""


def test_export_defaults_to_openai(capsys):
    assert main(["export"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["function"]["strict"] is True


def test_export_unknown_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--format", "gemini"])
    assert exc.value.code == 2
    assert capsys.readouterr().out == ""


def test_bad_guardrail_configuration_is_reported(capsys, monkeypatch):
    monkeypatch.setenv("FAL_CONNECTOR_MAX_COST_USD", "cheap")
    assert main(["export"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # a bad setting is a diagnostic (one line on stderr), not tool definitions
    assert captured.err.count("\n") == 1 and "FAL_CONNECTOR_MAX_COST_USD" in captured.err


def test_mcp_without_the_sdk_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if the extra were not installed
    assert main(["mcp"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "pip install '.[mcp]'" in captured.err
    assert "fal-connector[mcp]" not in captured.err  # not on PyPI: install from the checkout


def test_mcp_extra_and_readme_section():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extras = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    assert 'mcp = ["mcp>=2,<3"]' in extras
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Use with agents" in readme
    section = readme.split("## Use with agents", 1)[1].split("\n## ", 1)[0]
    for needle in ("fal-connector export --format openai", "--format anthropic", "--format mcp", "--format jsonschema",
                   "fal-connector mcp", '"mcpServers"', "FAL_KEY", "FAL_CONNECTOR_ALLOWED_MODELS", "FAL_CONNECTOR_MAX_COST_USD",
                   "allowed_models", "max_cost_usd", "max_tool_result_bytes", "policy_denied", "_trimmed"):
        assert needle in section, needle
    snippet = section.split("```json", 1)[1].split("```", 1)[0]
    server = json.loads(snippet)["mcpServers"]["fal"]
    # Clients start the server without the user's PATH: the absolute path of the script, and how to find it.
    assert server["command"].startswith("/") and server["command"].endswith("/fal-connector"), server["command"]
    assert server["args"] == ["mcp"] and "FAL_KEY" in server["env"]
    assert "which fal-connector" in section and "sysconfig" in section
    assert "pip install '.[mcp]'" in section and "fal-connector[mcp]" not in section  # not on PyPI
