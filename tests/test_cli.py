"""The fal-connector command line, run as a real subprocess from outside the checkout."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import pytest
from suite_helpers import cli_env as _env  # the subprocess environment (shared with other test folders)

NINE = [
    "add_request_to_queue", "get_request_status", "stream_request_status", "get_request_response",
    "cancel_request", "get_models", "get_pricing", "estimate_pricing", "get_jwks",
]


@pytest.fixture
def cli(tmp_path):
    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "connector", *args],
            cwd=tmp_path,
            env={**_env(), **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def only_json(stdout: str) -> Any:
    """stdout holds exactly one JSON document and nothing else."""
    return json.loads(stdout)


def walk_refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def resolve(root: Any, ref: str) -> Any:
    assert ref.startswith("#"), f"$ref {ref!r} points outside the printed object"
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref!r} does not resolve"
        node = node[part]
    return node


# -- actions / describe -----------------------------------------------------------------------


def test_actions_json(cli):
    result = cli("actions", "--json")
    assert result.returncode == 0, result.stderr
    actions = only_json(result.stdout)
    assert isinstance(actions, list) and len(actions) >= 9
    for a in actions:
        assert {"id", "title", "aliases", "description"} <= set(a)
        assert isinstance(a["aliases"], list) and a["title"] and a["description"]
    ids = [a["id"] for a in actions]
    assert set(NINE) <= set(ids)
    assert len(ids) == len(set(ids))
    by_id = {a["id"]: a for a in actions}
    assert set(by_id["get_request_status"]["aliases"]) >= {"GetRequestStatus", "FAL_AI_QUEUE_GET_STATUS"}
    assert set(by_id["add_request_to_queue"]["aliases"]) >= {"AddRequestToQueue", "FAL_AI_SUBMIT_ASYNC_JOB"}


def test_actions_plain(cli):
    result = cli("actions")
    assert result.returncode == 0, result.stderr
    for action_id in NINE:
        assert action_id in result.stdout
    assert "FAL_AI_QUEUE_GET_STATUS" in result.stdout


@pytest.mark.parametrize("name", ["get_request_status", "FAL_AI_GET_MODELS", "estimate_pricing", "cancel_request"])
def test_describe(cli, name):
    result = cli("describe", name)
    assert result.returncode == 0, result.stderr
    spec = only_json(result.stdout)
    assert {"id", "title", "aliases", "description", "annotations", "input_schema", "output_schema"} <= set(spec)
    assert spec["id"] in NINE
    assert list(walk_refs(spec)), "the schemas use shared definitions, so some $ref is expected"
    # every $ref is local and resolves inside the schema it belongs to, as printed
    for key in ("input_schema", "output_schema"):
        for ref in walk_refs(spec[key]):
            resolve(spec[key], ref)


def test_describe_schemas_validate_like_the_connector(cli):
    from jsonschema import Draft202012Validator

    spec = only_json(cli("describe", "get_request_status").stdout)
    validator = Draft202012Validator(spec["input_schema"])
    assert validator.is_valid({"app_id": "fal-ai/flux/dev", "request_id": "abc"})
    assert not validator.is_valid({"app_id": "fal-ai/flux/dev", "request_id": "../x"})
    out_validator = Draft202012Validator(spec["output_schema"])
    assert out_validator.is_valid({
        "success": True, "error": None, "failure": None, "status": "IN_QUEUE", "queue_position": 0,
        "logs": [], "metrics": None, "job_error": None, "job_error_type": None,
    })


def test_describe_unknown(cli):
    result = cli("describe", "nope")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["success"] is False and out["failure"]["type"] == "unknown_action"


# -- run --------------------------------------------------------------------------------------


def test_run_invalid_request_id(cli):
    result = cli("run", "get_request_status", "--input", '{"app_id":"fal-ai/flux/dev","request_id":"../x"}')
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["success"] is False
    assert out["failure"]["type"] == "invalid_input"
    assert out["failure"]["attempts"] == 0
    assert "request_id" in out["error"]
    assert set(out) == {"success", "error", "failure", "status", "queue_position", "logs", "metrics", "job_error", "job_error_type"}
    assert result.stdout.count("\n") == 1  # exactly one JSON line
    assert result.stderr  # the diagnostic goes to stderr


def test_run_alias(cli):
    result = cli("run", "GetRequestStatus", "--input", '{"app_id":"fal-ai/flux/dev","request_id":"."}')
    assert result.returncode == 1
    assert only_json(result.stdout)["failure"]["type"] == "invalid_input"


@pytest.mark.parametrize("raw", ["{not json", "", "{'app_id': 'x'}", "[1,"])
def test_run_invalid_json(cli, raw):
    result = cli("run", "get_request_status", "--input", raw)
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["success"] is False
    assert out["failure"]["type"] == "invalid_input"
    assert set(out["failure"]) == {"type", "status_code", "retryable", "attempts", "fal_request_id", "retry_after", "detail"}


def test_run_input_from_file(cli, tmp_path):
    (tmp_path / "in.json").write_text(json.dumps({"app_id": "fal-ai/flux/dev", "request_id": "../x"}))
    result = cli("run", "get_request_status", "--input", "@in.json")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "invalid_input" and "request_id" in out["error"]


def test_run_input_from_absolute_file(cli, tmp_path):
    path = tmp_path / "sub" / "in.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"app_id": 42, "request_id": "abc"}))
    result = cli("run", "get_request_status", "--input", f"@{path}")
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "invalid_input" and "app_id" in out["error"]


def test_run_input_from_stdin(cli):
    result = cli("run", "get_request_status", "--input", "-", stdin='{"app_id": "fal-ai/flux/dev", "logs": "yes", "request_id": "abc"}')
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "invalid_input" and "logs" in out["error"]


def test_run_unreadable_file(cli):
    result = cli("run", "get_request_status", "--input", "@does-not-exist.json")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "invalid_input"
    assert "does-not-exist.json" in out["error"]


def test_run_directory_as_file(cli, tmp_path):
    (tmp_path / "adir").mkdir()
    result = cli("run", "get_request_status", "--input", "@adir")
    assert result.returncode == 1
    assert only_json(result.stdout)["failure"]["type"] == "invalid_input"


def test_run_unknown_action(cli):
    result = cli("run", "nope", "--input", "{}")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "unknown_action"


def test_run_missing_credentials(cli):
    result = cli("run", "get_request_status", "--input", '{"app_id": "fal-ai/flux/dev", "request_id": "abc"}')
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0


def test_run_without_input_means_empty_object(cli):
    result = cli("run", "get_pricing")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "invalid_input" and "endpoint_id" in out["error"]


def test_run_network_failure_is_data(cli):
    # jwks needs no key; nothing listens on port 9, so this is a connection failure, printed as data
    result = cli("run", "get_jwks")
    assert result.returncode == 1
    out = only_json(result.stdout)
    assert out["failure"]["type"] == "connection_error"
    assert out["failure"]["attempts"] == 1  # FAL_CONNECTOR_MAX_RETRIES=0 from the environment


def test_key_never_printed(cli):
    key = "cli-key-id:cli-key-secret-abcdef"
    result = cli("run", "get_request_status", "--input", '{"app_id": "fal-ai/flux/dev", "request_id": "abc"}', env={"FAL_KEY": key})
    assert result.returncode == 1
    assert only_json(result.stdout)["failure"]["type"] == "connection_error"
    assert "cli-key-secret-abcdef" not in result.stdout + result.stderr


# -- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("frobnicate",), ("run", "get_jwks", "--bogus"), ("actions", "--yaml"), ("run",), ("describe",), ()],
    ids=["unknown-subcommand", "unknown-option", "unknown-actions-option", "run-no-action", "describe-no-action", "nothing"],
)
def test_usage_errors_exit_2_with_nothing_on_stdout(cli, args):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr  # usage goes to stderr


# -- --version, -v, --help examples -----------------------------------------------------------


def test_version_comes_from_the_package_metadata(cli):
    from importlib import metadata

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"fal-connector {metadata.version('fal-connector')}\n"


def test_top_level_help_documents_version_and_verbose(cli):
    out = cli("--help").stdout
    assert "--version" in out and "-v, --verbose" in out and "-vv" in out


def _commands() -> list[str]:
    from connector.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_ends_with_an_example(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    example = result.stdout.split("\nexample:\n", 1)
    assert len(example) == 2, result.stdout
    assert f" {command}" in example[1].splitlines()[0]  # the example runs this very command
    assert "-v, --verbose" in result.stdout  # -v also works after the command name


# -- describe as text --------------------------------------------------------------------------


def _columns(stdout: str) -> dict[str, list[str]]:
    """field name -> the rest of its line split on runs of two spaces."""
    rows = {}
    for line in stdout.splitlines():
        name, *rest = [part for part in line.split("  ") if part]
        rows[name.strip()] = [part.strip() for part in rest]
    return rows


def test_describe_fields_one_line_per_input_field(cli):
    result = cli("describe", "subscribe", "--fields")
    assert result.returncode == 0, result.stderr
    rows = _columns(result.stdout)
    assert list(rows) == ["app_id", "data", "request_id", "webhook_url", "priority", "hint", "no_retry", "store_io",
                          "object_lifecycle", "start_timeout", "max_queue_length", "logs", "timeout"]
    assert rows["app_id"][:2] == ["string", "required"] and rows["app_id"][2].startswith("fal endpoint id")
    assert rows["priority"][:2] == ['"normal"|"low"', "optional"]
    assert rows["logs"][:3] == ["boolean", "optional", "default false"]
    assert rows["timeout"][:3] == ["number", "optional", "default 600"]
    assert len(result.stdout) < 3000  # not the 9 KB of schema


def test_describe_fields_names_nested_fields_dotted(cli):
    rows = _columns(cli("describe", "verify_webhook", "--fields").stdout)
    assert rows["jwks"][:2] == ["object", "optional"] and rows["jwks.keys"][:2] == ["array of object", "required"]
    rows = _columns(cli("describe", "estimate_pricing", "--fields").stdout)
    assert rows["endpoints.*.call_quantity"][:2] == ["integer", "optional"]
    assert _columns(cli("describe", "get_models", "--fields").stdout)["expand"][0] == 'array of ("openapi-3.0"|"enterprise_status")'


def test_describe_is_text_on_a_terminal_and_json_with_json(monkeypatch):
    import io

    from connector.cli import main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for argv, is_json in ((["describe", "subscribe"], False), (["describe", "subscribe", "--json"], True)):
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(argv) == 0
        if is_json:
            assert json.loads(out.getvalue())["id"] == "subscribe"
        else:
            text = out.getvalue()
            assert text.startswith("subscribe: Subscribe") and "input fields:" in text
            assert any(line.split()[:3] == ["logs", "boolean", "optional"] for line in text.splitlines())
            assert "--json" in text  # says how to get the whole spec


def test_describe_fields_and_json_exclude_each_other(cli):
    assert cli("describe", "subscribe", "--fields", "--json").returncode == 2


def test_verbose_reads_the_settings_once_and_masks_their_key(monkeypatch, capsys):
    import logging

    from connector import cli, cli_logging
    from connector.config import Config

    loads = []
    real_load = Config.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Config, "load", classmethod(lambda cls, *a, **k: loads.append(1) or real_load(cls, *a, **k)))
    monkeypatch.setenv("FAL_KEY", "cli-key-id:cli-key-secret")
    logger = logging.getLogger("connector")
    before = list(logger.handlers)
    try:
        assert cli.main(["-v", "run", "get_request_status", "--input", "{}"]) == 1  # invalid input: nothing sent
        assert len(loads) == 1  # one configuration for the log filter and the Connector
        logger.warning("the key is cli-key-id:cli-key-secret")
    finally:
        for handler in set(logger.handlers) - set(before):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    err = capsys.readouterr().err
    assert "cli-key-secret" not in err and "the key is" in err
    # Settings that cannot be used: the key is masked as the environment gives it.
    monkeypatch.delenv("FAL_KEY")
    monkeypatch.setenv("FAL_KEY_ID", "kid")
    monkeypatch.setenv("FAL_KEY_SECRET", "ksecret")
    monkeypatch.setenv("FAL_CONNECTOR_TIMEOUT", "abc")
    assert "ksecret" not in cli_logging._redactor(Config.load)("kid:ksecret")


def test_a_bad_setting_gives_run_the_output_every_failure_has(monkeypatch, capsys):
    from connector import Connector, cli
    from connector.errors import ActionError

    value = "9" * 3000 + "x"  # the message repeats the value: cut to one output's error length, as every output's is
    monkeypatch.setenv("FAL_CONNECTOR_TIMEOUT", value)
    assert cli.main(["run", "GetRequestStatus", "--input", "{}"]) == 1  # an alias: the action's own fields
    out = json.loads(capsys.readouterr().out)
    message = f"invalid configuration: timeout (env FAL_CONNECTOR_TIMEOUT): expected a number, got '{value}'"
    detail = [{"field": "configuration", "message": message, "expected": None}]
    monkeypatch.delenv("FAL_CONNECTOR_TIMEOUT")
    expected = Connector(api_key="k", load_entry_points=False).failed(
        "get_request_status", ActionError("invalid_input", message, detail=detail))
    assert out == expected and len(out["error"]) == 2000 and "status" in out
