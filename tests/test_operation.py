"""Declared operations: load-time errors that name the action and the key, request building,
and an action written in YAML alone (performed by the generic handler, no Python)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

import connector
from connector import Connector
from connector.errors import InvalidInputError
from connector.hookspecs import hookimpl
from connector.manifest import ManifestError, manifest_operation, parse_manifest_operations, spec_from_entry
from connector.models import Action
from connector.operation import DeclaredHandler, Operation, OperationError, Value, compile_operation
from connector.operation_transforms import TRANSFORMS

DOCUMENT = yaml.safe_load((Path(connector.__file__).parent / "manifest.yaml").read_text(encoding="utf-8"))
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"


def _broken(action_id: str, change: Any) -> str:
    document = copy.deepcopy(DOCUMENT)
    entry = next(e for e in document["actions"] if e["id"] == action_id)
    change(entry["operation"])
    with pytest.raises(ManifestError) as caught:
        parse_manifest_operations(document)
    return str(caught.value)


# -- load-time errors name the action and the key ------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "change", "expected"),
    [
        ("get_jwks", lambda op: op.update(host="local"),
         "action 'get_jwks': operation.response: host local sends no request, so there is no answer to map"),
        ("get_models", lambda op: op["query"].update(limit="limitt"),
         "action 'get_models': operation.query.limit: input field 'limitt' does not exist"),
        ("get_models", lambda op: op.update(path="/models/{family}"),
         "action 'get_models': operation.path: input field 'family' does not exist"),
        ("get_models", lambda op: op.update(path="/models/{q}"),
         "action 'get_models': operation.path: input field 'q' fills the path, so the input schema must require it"),
        ("get_models", lambda op: op["query"].update(q={"field": "q", "style": "comma"}),
         "action 'get_models': operation.query.q: 'style' applies only to an input field that can be a list"),
        ("get_models", lambda op: op["query"].update(q={"field": "q", "value": "x"}),
         "action 'get_models': operation.query.q: give exactly one of 'field'"),
        ("get_models", lambda op: op["response"]["output"].update(modelz="body.models"),
         "action 'get_models': operation.response.output.modelz: 'modelz' is not a field of the output schema"),
        ("get_models", lambda op: op["response"]["pagination"].update(cursor="page"),
         "action 'get_models': operation.response.pagination.cursor: 'page' is not a query parameter"),
        ("get_request_status", lambda op: op["response"].update(transform="shout"),
         "action 'get_request_status': operation.response.transform: 'shout' is not a registered transform"),
        ("estimate_pricing", lambda op: op["response"]["output"].update(currency="input.money"),
         "action 'estimate_pricing': operation.response.output.currency: 'input.money' names no input field"),
        ("estimate_pricing", lambda op: op.update(body={"fields": ["estimate_type", "budget"]}),
         "action 'estimate_pricing': operation.body.fields: input field 'budget' does not exist"),
        ("cancel_request", lambda op: op["outcomes"][0].update(failure="gone"),
         "action 'cancel_request': operation.outcomes.0.failure: 'gone' is not a failure type"),
        ("cancel_request", lambda op: op["outcomes"][1].update(message="request {rid} is gone"),
         "action 'cancel_request': operation.outcomes.1.message: {rid} is neither an input field"),
        ("cancel_request", lambda op: op["outcomes"][0].update(partial={"cancelled": True}),
         "action 'cancel_request': operation.outcomes.0.partial: 'cancelled' is not a field of the output schema"),
        ("get_request_response", lambda op: op["outcomes"][0].update(match="(unclosed"),
         "action 'get_request_response': operation.outcomes.0.match: not a valid regular expression"),
        ("subscribe", lambda op: op.update(uses=["get_request_status", "follow_job"]),
         "action 'subscribe': operation.uses: 'follow_job' is not an action of this manifest"),
        ("upload_file", lambda op: op["parts"]["storage"]["query"].update(kind="storage_kind"),
         "action 'upload_file': operation.parts.storage.query.kind: input field 'storage_kind' does not exist"),
        ("run_model", lambda op: op["headers"].update({"X-Fal-Queue-Priority": "priority"}),
         "action 'run_model': operation.headers.X-Fal-Queue-Priority: input field 'priority' does not exist"),
    ],
)
def test_meaning_errors_name_action_and_key(action_id: str, change: Any, expected: str) -> None:
    assert expected in _broken(action_id, change)


@pytest.mark.parametrize(
    ("action_id", "change", "expected"),
    [
        ("get_models", lambda op: op.update(querry={}), "action 'get_models': field operation: Additional properties are not allowed ('querry'"),
        ("get_models", lambda op: op["query"].update(limit={"field": "limit", "format": "hex"}),
         "action 'get_models': field operation.query.limit.format: 'hex' is not one of"),
        ("get_models", lambda op: op.update(auth="sometimes"), "action 'get_models': field operation.auth: 'sometimes' is not one of"),
        ("add_request_to_queue", lambda op: op["headers"].update({"Authorization": "priority"}),
         "action 'add_request_to_queue': field operation.headers: 'Authorization' does not match"),
        ("get_models", lambda op: op["response"].update(output={"models": "models"}),
         "action 'get_models': field operation.response.output.models"),
        ("cancel_request", lambda op: op["outcomes"][0].update(status="4x"), "action 'cancel_request': field operation.outcomes.0.status"),
        ("upload_file", lambda op: op["parts"]["cdn_token"].update(method="FETCH"),
         "action 'upload_file': field operation.parts.cdn_token.method: 'FETCH' is not one of"),
        ("upload_file", lambda op: op["parts"]["cdn_token"].update(parts={}),
         "action 'upload_file': field operation.parts.cdn_token: Additional properties are not allowed ('parts'"),
    ],
)
def test_shape_errors_name_action_and_key(action_id: str, change: Any, expected: str) -> None:
    assert expected in _broken(action_id, change)


def test_the_shipped_manifest_declares_the_simple_actions_without_python() -> None:
    from connector.manifest import declarative_ids

    assert set(declarative_ids()) >= {"get_request_status", "get_request_response", "cancel_request", "get_models",
                                      "get_pricing", "estimate_pricing", "get_jwks"}
    conn = Connector(api_key="k", load_entry_points=False, environ={})
    for action_id in declarative_ids():
        action = conn.action(action_id)
        assert action is not None and isinstance(action.handler, DeclaredHandler), action_id


def test_transforms_are_few_and_documented() -> None:
    assert set(TRANSFORMS) == {"queue_status", "cancel_status"}
    assert all(function.__doc__ for function in TRANSFORMS.values())


# -- building requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "inputs", "pairs"),
    [
        (Value("logs", "logs", format="flag"), {"logs": True}, [("logs", "1")]),
        (Value("logs", "logs", format="flag"), {"logs": False}, []),
        (Value("store", "store_io", format="binary"), {"store_io": False}, [("store", "0")]),
        (Value("n", "n", format="int"), {"n": 5}, [("n", "5")]),
        (Value("t", "t", format="float"), {"t": 5}, [("t", "5.0")]),
        (Value("b", "b"), {"b": True}, [("b", "true")]),
        (Value("ids", "ids"), {"ids": ["a", "b"]}, [("ids", "a"), ("ids", "b")]),
        (Value("ids", "ids", style="comma"), {"ids": ["a", "b"]}, [("ids", "a,b")]),
        (Value("ids", "ids"), {"ids": "a"}, [("ids", "a")]),
        (Value("pref", "lifecycle", format="json"), {"lifecycle": {"expiration_duration_seconds": 60}},
         [("pref", '{"expiration_duration_seconds":60}')]),
        (Value("expand", constant="credits"), {}, [("expand", "credits")]),
        (Value("q", "q"), {}, []),
    ],
)
def test_value_formats(value: Value, inputs: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    assert value.pairs(inputs) == pairs


def test_a_part_is_one_request_even_without_the_manifest_schema() -> None:
    """A plugin's entry compiled directly (no manifest schema pass) still may not nest parts."""
    entry = copy.deepcopy(next(e for e in DOCUMENT["actions"] if e["id"] == "upload_file"))
    entry["operation"]["parts"]["cdn_token"]["uses"] = ["get_jwks"]
    spec = spec_from_entry({**entry, "operation": {"method": "POST", "host": "cdn", "path": ""}}, "plugin.yaml")
    with pytest.raises(OperationError, match="operation.parts.cdn_token.uses: a part is one request"):
        compile_operation(entry, spec.input_schema, spec.output_schema)


def test_parts_are_found_by_name() -> None:
    token = manifest_operation("upload_file", "cdn_token")
    assert (token.method, token.host, token.path, token.params({})) == ("POST", "rest", "/storage/auth/token", [("storage_type", "fal-cdn-v3")])
    with pytest.raises(KeyError, match="upload_file declares no operation part 'tokens'"):
        manifest_operation("upload_file", "tokens")


def test_path_templates_fill_the_app_parts_and_check_ids() -> None:
    status = manifest_operation("get_request_status")
    assert status.path_for({"app_id": "workflows/acme/wf/step", "request_id": RID}) == f"/workflows/acme/wf/requests/{RID}/status"
    assert manifest_operation("add_request_to_queue").path_for({"app_id": "fast-sdxl"}) == "/fal-ai/fast-sdxl"
    with pytest.raises(InvalidInputError) as caught:
        status.path_for({"app_id": "fal-ai/flux", "request_id": "../x"})
    assert caught.value.field == "request_id"
    with pytest.raises(InvalidInputError) as caught:
        status.path_for({"app_id": "fal-ai/../x", "request_id": RID})
    assert caught.value.field == "app_id"


# -- an action in YAML alone ----------------------------------------------------------------------

PLUGIN_MANIFEST = """
version: 1
actions:
  - id: delete_request_payloads
    title: Delete request payloads
    aliases: []
    description: >-
      Delete the stored input and output payloads of one request, for privacy. Needs an admin key.
    input_schema:
      type: object
      additionalProperties: false
      required: [request_id]
      properties:
        request_id: {$ref: "common.json#/$defs/request_id"}
        owner: {type: string, minLength: 1}
        tags: {type: array, items: {type: string}}
    output_schema:
      type: object
      additionalProperties: false
      properties:
        success: {$ref: "common.json#/$defs/success"}
        error: {$ref: "common.json#/$defs/error"}
        failure: {$ref: "common.json#/$defs/failure_or_null"}
        cdn_delete_results: {type: [array, "null"], default: null}
        next_cursor: {type: [string, "null"], default: null}
        has_more: {type: [boolean, "null"], default: null}
      required: [success, error, failure, cdn_delete_results, next_cursor, has_more]
    operation:
      method: DELETE
      host: api
      path: "/models/requests/{request_id}/payloads"
      idempotency_key: true
      query:
        owner: owner
        tags: {field: tags, style: comma}
        cursor: {value: start}
      response:
        what: delete payloads
        require: {cdn_delete_results: array}
        output: {cdn_delete_results: body.cdn_delete_results}
        pagination: {cursor: cursor, next_cursor: body.page.next, has_more: body.page.more}
      outcomes:
        - status: 403
          failure: auth_error
          message: "deleting the payloads of {request_id}{owner} needs an admin key (HTTP {status}: {detail})"
    retry: read
    streaming: false
    annotations: {read_only: false, destructive: true, idempotent: true, open_world: true}
"""
URL = f"https://api.test/v1/models/requests/{RID}/payloads"


def plugin_action(document: dict[str, Any]) -> tuple[Any, Operation]:
    """A plugin's manifest entry (inline schemas) as a spec and its checked operation."""
    entry = document["actions"][0]
    spec = spec_from_entry(entry, "plugin.yaml: action 'delete_request_payloads'")
    return spec, compile_operation(entry, spec.input_schema, spec.output_schema)


class YamlOnlyPlugin:
    """A third-party plugin whose action is YAML alone: the generic handler performs it."""

    def __init__(self) -> None:
        spec, operation = plugin_action(yaml.safe_load(PLUGIN_MANIFEST))
        self.actions = [Action(spec, DeclaredHandler(operation))]

    @hookimpl
    def register_actions(self) -> list[Action]:
        return self.actions


@pytest.fixture
def yaml_conn(make_conn: Any) -> Connector:
    conn: Connector = make_conn(plugins=[YamlOnlyPlugin()])
    return conn


def test_yaml_only_action_sends_the_declared_request(yaml_conn: Connector, mocked: Any, http_calls: Any, check_output: Any) -> None:
    mocked.delete(URL, json={"cdn_delete_results": [{"url": "https://cdn/x", "ok": True}], "page": {"next": "c2", "more": True}})
    out = yaml_conn.run("delete_request_payloads", {"request_id": RID, "owner": "acme", "tags": ["a", "b"]})
    check_output(yaml_conn, "delete_request_payloads", out)
    assert out["success"] is True, out
    assert out["cdn_delete_results"] == [{"url": "https://cdn/x", "ok": True}]
    assert (out["next_cursor"], out["has_more"]) == ("c2", True)
    call = mocked.calls[0]
    assert call.request.method == "DELETE"
    assert http_calls.url(call) == URL
    assert http_calls.query(call) == {"owner": ["acme"], "tags": ["a,b"], "cursor": ["start"]}
    assert call.request.headers["Authorization"].startswith("Key ")
    uuid.UUID(call.request.headers["Idempotency-Key"])


def test_yaml_only_action_retries_with_the_same_idempotency_key(yaml_conn: Connector, mocked: Any) -> None:
    mocked.delete(URL, status=503)
    mocked.delete(URL, body=requests.exceptions.ConnectionError("reset"))
    mocked.delete(URL, json={"cdn_delete_results": []})
    assert yaml_conn.run("delete_request_payloads", {"request_id": RID})["success"] is True
    keys = {call.request.headers["Idempotency-Key"] for call in mocked.calls}
    assert len(mocked.calls) == 3 and len(keys) == 1
    mocked.delete(URL, json={"cdn_delete_results": []})
    yaml_conn.run("delete_request_payloads", {"request_id": RID})
    assert mocked.calls[3].request.headers["Idempotency-Key"] not in keys  # a new call, a new key


def test_yaml_only_action_declared_outcome_and_body_checks(yaml_conn: Connector, mocked: Any, check_output: Any) -> None:
    mocked.delete(URL, status=403, json={"detail": "admin key required"})
    out = yaml_conn.run("delete_request_payloads", {"request_id": RID})
    check_output(yaml_conn, "delete_request_payloads", out)
    assert out["failure"]["type"] == "auth_error" and out["failure"]["status_code"] == 403
    assert out["error"] == f"deleting the payloads of {RID} needs an admin key (HTTP 403: admin key required)"
    mocked.replace("DELETE", URL, json={"cdn_delete_results": {"not": "a list"}})
    out = yaml_conn.run("delete_request_payloads", {"request_id": RID})
    assert out["failure"]["type"] == "invalid_response"
    assert "'cdn_delete_results' of type object, expected array" in out["error"]


def test_yaml_only_action_checks_ids_and_key_before_any_http(make_conn: Any, mocked: Any) -> None:
    conn = make_conn(plugins=[YamlOnlyPlugin()])
    out = conn.run("delete_request_payloads", {"request_id": "../../account"})
    assert out["failure"]["type"] == "invalid_input" and "request_id" in out["error"]
    keyless = make_conn(plugins=[YamlOnlyPlugin()], api_key=None)
    assert keyless.run("delete_request_payloads", {"request_id": RID})["failure"]["type"] == "missing_credentials"
    assert len(mocked.calls) == 0


def test_path_segments_from_inputs_are_one_encoded_segment(make_conn: Any, mocked: Any) -> None:
    document = yaml.safe_load(PLUGIN_MANIFEST)
    entry = document["actions"][0]
    entry["input_schema"]["required"].append("owner")
    entry["operation"]["path"] = "/workflows/{owner}/{request_id}"
    spec, op = plugin_action(document)
    assert op.path_for({"owner": "a/b?c", "request_id": RID}) == f"/workflows/a%2Fb%3Fc/{RID}"
    with pytest.raises(InvalidInputError) as caught:
        op.path_for({"owner": "..", "request_id": RID})
    assert caught.value.field == "owner"
    assert json.dumps(spec.operation.model_dump()) == json.dumps({"method": "DELETE", "host": "api", "path": "/workflows/{owner}/{request_id}"})
