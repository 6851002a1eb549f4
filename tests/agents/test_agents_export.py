"""Tool definitions: OpenAI strict mode, Anthropic and MCP shapes, the connector's own view."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector import Action, ActionSpec, Connector, hookimpl
from connector.agents.export import FORMATS, strict_parameters
from connector.manifest import load_manifest

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MANIFEST_IDS = [spec.id for spec in load_manifest()]

# -- a strict-mode checker, from OpenAI's Structured Outputs rules ---------------------------

# The keywords strict mode supports; anything else is a 400 from the API (or ignored, which
# strict mode does not allow either).
STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "description",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    "format", "$defs", "$ref",
}
STRICT_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def strict_problems(schema: Any, path: str = "$", root: bool = True) -> list[str]:
    """Everything that keeps ``schema`` from being accepted in OpenAI strict mode."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: not a schema object"]
    if root:
        if schema.get("type") != "object" or "anyOf" in schema:
            problems.append(f"{path}: the root must be a plain object schema")
    for key in schema:
        if key not in STRICT_KEYWORDS:
            problems.append(f"{path}: keyword {key!r} is not supported in strict mode")
    if "$ref" in schema:
        problems.append(f"{path}: $ref left in (the export inlines)")
    if "format" in schema and schema["format"] not in STRICT_FORMATS:
        problems.append(f"{path}: format {schema['format']!r} is not supported")
    types = schema.get("type")
    type_list = [types] if isinstance(types, str) else list(types or [])
    if "type" not in schema and "anyOf" not in schema:
        problems.append(f"{path}: neither type nor anyOf")
    for t in type_list:
        if t not in JSON_TYPES:
            problems.append(f"{path}: unknown type {t!r}")
    if "enum" in schema and None in schema["enum"] and "null" not in type_list:
        problems.append(f"{path}: enum has null but type does not")
    if "object" in type_list:
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: object without additionalProperties: false")
        props = schema.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{path}: object without properties")
            props = {}
        if set(schema.get("required", [])) != set(props) or len(schema.get("required", [])) != len(props):
            problems.append(f"{path}: required must list every property exactly once")
        for name, sub in props.items():
            problems += strict_problems(sub, f"{path}.{name}", root=False)
    if "array" in type_list:
        if "items" not in schema:
            problems.append(f"{path}: array without items")
        else:
            problems += strict_problems(schema["items"], f"{path}[]", root=False)
    for i, branch in enumerate(schema.get("anyOf", [])):
        problems += strict_problems(branch, f"{path}.anyOf[{i}]", root=False)
    return problems


def allows_null(schema: dict[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(allows_null(b) for b in schema["anyOf"])
    t = schema.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t)


def test_the_checker_is_real():
    good = {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": ["a"], "additionalProperties": False}
    assert strict_problems(good) == []
    bad = [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": [], "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x$(?!\\n)"}}, "required": ["a"], "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": "string", "format": "uri"}}, "required": ["a"], "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": "object"}}, "required": ["a"], "additionalProperties": False},
        {"type": "object", "properties": {}, "required": [], "additionalProperties": False, "oneOf": [{"required": ["a"]}]},
        {"anyOf": [{"type": "object"}]},
    ]
    for schema in bad:
        assert strict_problems(schema), schema


# -- OpenAI ------------------------------------------------------------------------------


def test_openai_tools_pass_strict_mode(offline: Connector):
    tools = offline.tool_specs("openai")
    assert [t["function"]["name"] for t in tools] == MANIFEST_IDS
    for tool in tools:
        assert set(tool) == {"type", "function"} and tool["type"] == "function"
        fn = tool["function"]
        assert set(fn) == {"name", "description", "parameters", "strict"}
        assert NAME.match(fn["name"])
        assert fn["strict"] is True
        assert isinstance(fn["description"], str) and 0 < len(fn["description"]) <= 1024
        assert strict_problems(fn["parameters"]) == [], fn["name"]
        Draft202012Validator.check_schema(fn["parameters"])


def test_openai_optional_fields_become_nullable_and_required_ones_do_not(offline: Connector):
    for tool in offline.tool_specs("openai"):
        name = tool["function"]["name"]
        params = tool["function"]["parameters"]
        original = offline.describe(name)["input_schema"]
        required = set(original.get("required", []))
        assert set(params["properties"]) == set(original["properties"]), name
        for prop, schema in params["properties"].items():
            if prop in required:
                assert not allows_null(schema), f"{name}.{prop} is required and must not take null"
            else:
                assert allows_null(schema), f"{name}.{prop} is optional and must take null"
                assert "null means not given" in schema["description"]


def test_openai_free_form_objects_become_json_strings(offline: Connector):
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in offline.tool_specs("openai")}
    data = tools["subscribe"]["properties"]["data"]
    assert data["type"] == "string" and "JSON" in data["description"]
    assert tools["estimate_pricing"]["properties"]["endpoints"]["type"] == "string"
    assert tools["verify_webhook"]["properties"]["headers"]["type"] == "string"
    # Enums survive, with null added for optional ones; descriptions are kept.
    assert tools["subscribe"]["properties"]["priority"]["enum"] == ["normal", "low", None]
    assert tools["estimate_pricing"]["properties"]["estimate_type"]["enum"] == ["historical_api_price", "unit_price"]
    # oneOf becomes anyOf (string or list of ids), nullable because optional.
    endpoint_id = tools["get_models"]["properties"]["endpoint_id"]
    assert [b["type"] for b in endpoint_id["anyOf"]] == ["string", "array", "null"]
    # Root-level "exactly one of" constraints are said in words.
    assert "exactly one of: path, data_base64" in tools["upload_file"]["description"]


def test_strict_transformation_of_tricky_schemas():
    schema = {
        "type": "object", "additionalProperties": False, "required": ["mode"],
        "$defs": {"size": {"type": "integer", "minimum": 1, "default": 4, "description": "How many."}},
        "properties": {
            "mode": {"const": "fast"},
            "size": {"$ref": "#/$defs/size"},
            "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"}},
            "when": {"type": "string", "format": "date-time"},
            "site": {"type": "string", "format": "uri"},
            "either": {"type": ["string", "integer"]},
            "nested": {"type": "object", "additionalProperties": False, "properties": {"x": {"type": "number"}}},
        },
        "allOf": [{"if": {"required": ["size"]}, "then": {"required": ["tags"]}}],
    }
    out = strict_parameters(schema)
    assert strict_problems(out) == []
    props = out["properties"]
    assert props["mode"] == {"type": "string", "enum": ["fast"]}
    assert props["size"]["type"] == ["integer", "null"] and props["size"]["minimum"] == 1
    assert "default 4" in props["size"]["description"]
    assert props["tags"]["items"] == {"type": "string"}
    assert props["when"]["format"] == "date-time" and "format" not in props["site"]
    assert [b["type"] for b in props["either"]["anyOf"]] == ["string", "integer", "null"]
    assert props["nested"]["required"] == ["x"] and allows_null(props["nested"]["properties"]["x"])
    assert schema["properties"]["size"] == {"$ref": "#/$defs/size"}  # the input is not modified


def test_openai_tools_without_strict_for_an_open_root():
    spec = ActionSpec(id="free_form", title="Free form", description="Anything goes.",
                      input_schema={"type": "object"}, output_schema=_OUTPUT,
                      annotations={"read_only": True, "destructive": False, "idempotent": True})
    conn = _with_plugin(Action(spec, lambda inputs, ctx: {}))
    tool = next(t for t in conn.tool_specs("openai") if t["function"]["name"] == "free_form")
    assert tool["function"]["strict"] is False
    assert tool["function"]["parameters"]["type"] == "object"


# -- Anthropic ----------------------------------------------------------------------------

# The tool shape of Anthropic's Messages API (docs: "Tool use" / tools parameter): a name of
# 1-64 letters, digits, '_' or '-', a description, an input_schema that is a JSON Schema object
# of type object; the API rejects oneOf/anyOf/allOf at the top level of input_schema.
ANTHROPIC_TOOL = {
    "type": "object",
    "required": ["name", "input_schema"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
        "description": {"type": "string", "minLength": 1},
        "input_schema": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"const": "object"}, "properties": {"type": "object"}, "required": {"type": "array", "items": {"type": "string"}}},
            "not": {"anyOf": [{"required": ["oneOf"]}, {"required": ["anyOf"]}, {"required": ["allOf"]}]},
        },
    },
}


def test_anthropic_tools_match_the_published_shape(offline: Connector):
    tools = offline.tool_specs("anthropic")
    validator = Draft202012Validator(ANTHROPIC_TOOL)
    assert [t["name"] for t in tools] == MANIFEST_IDS
    for tool in tools:
        errors = [e.message for e in validator.iter_errors(tool)]
        assert errors == [], (tool["name"], errors)
        Draft202012Validator.check_schema(tool["input_schema"])
        assert "$ref" not in json.dumps(tool["input_schema"])
        assert tool["description"] == offline.describe(tool["name"])["description"]


def test_anthropic_schema_still_describes_the_same_inputs(offline: Connector):
    """Inlining and dropping root combinators must not reject inputs the action accepts."""
    tools = {t["name"]: t["input_schema"] for t in offline.tool_specs("anthropic")}
    good = {
        "subscribe": {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}, "priority": "low", "timeout": 30},
        "get_models": {"endpoint_id": ["fal-ai/flux/dev"], "expand": ["openapi-3.0"]},
        "upload_file": {"data_base64": "aGk=", "file_name": "hi.txt"},
        "estimate_pricing": {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 1}}},
    }
    for name, inputs in good.items():
        assert offline.action(name).input_validator.is_valid(inputs)
        assert Draft202012Validator(tools[name]).is_valid(inputs), name
    assert not Draft202012Validator(tools["subscribe"]).is_valid({"app_id": "fal-ai/flux/dev", "data": {}, "bogus": 1})


# -- MCP ----------------------------------------------------------------------------------


def test_mcp_tools_validate_as_sdk_tool_models(offline: Connector):
    mcp_types = pytest.importorskip("mcp.types")
    tools = offline.tool_specs("mcp")
    assert [t["name"] for t in tools] == MANIFEST_IDS
    for spec in tools:
        tool = mcp_types.Tool.model_validate(spec)
        # Nothing the SDK does not know was sent (it would be dropped silently).
        assert tool.model_dump(by_alias=True, exclude_none=True) == spec
        assert NAME.match(tool.name)
        assert tool.title and tool.description
        assert tool.input_schema["type"] == "object" and tool.output_schema["type"] == "object"
        Draft202012Validator.check_schema(tool.input_schema)
        Draft202012Validator.check_schema(tool.output_schema)
        assert "$ref" not in json.dumps(spec)


def test_mcp_annotations_come_from_the_manifest(offline: Connector):
    tools = {t["name"]: t for t in offline.tool_specs("mcp")}
    for spec in load_manifest():
        a = tools[spec.id]["annotations"]
        assert a == {
            "readOnlyHint": spec.annotations.read_only,
            "destructiveHint": spec.annotations.destructive,
            "idempotentHint": spec.annotations.idempotent,
            "openWorldHint": spec.annotations.open_world,
        }
    assert tools["cancel_request"]["annotations"]["destructiveHint"] is True
    assert tools["get_models"]["annotations"]["readOnlyHint"] is True
    assert tools["subscribe"]["annotations"]["idempotentHint"] is False


def test_mcp_output_schema_accepts_real_outputs(offline: Connector):
    """The MCP client validates structuredContent against outputSchema: it must fit both ways."""
    tools = {t["name"]: t for t in offline.tool_specs("mcp")}
    keyless = Connector(environ={}, load_entry_points=False)
    for name in ("subscribe", "get_pricing", "add_request_to_queue"):
        out = keyless.run(name, {"app_id": "fal-ai/flux/dev", "data": {}} if name != "get_pricing" else {"endpoint_id": "x"})
        assert out["failure"]["type"] == "missing_credentials"
        assert Draft202012Validator(tools[name]["outputSchema"]).is_valid(out)
        broken = {**out, "failure": None}  # success false with no failure breaks the contract
        assert not Draft202012Validator(tools[name]["outputSchema"]).is_valid(broken)


# -- jsonschema, formats, plugins ---------------------------------------------------------


def test_jsonschema_format_is_the_describe_view(offline: Connector):
    tools = offline.tool_specs("jsonschema")
    assert [t["id"] for t in tools] == MANIFEST_IDS
    for tool in tools:
        assert tool == offline.describe(tool["id"])
        assert {"id", "input_schema", "output_schema"} <= set(tool)


def test_unknown_format_is_refused(offline: Connector):
    with pytest.raises(ValueError, match="openai, anthropic, mcp, jsonschema"):
        offline.tool_specs("gemini")
    assert FORMATS == ("openai", "anthropic", "mcp", "jsonschema")


def test_specs_are_copies(offline: Connector):
    first = offline.tool_specs("openai")
    first[0]["function"]["name"] = "changed"
    assert offline.tool_specs("openai")[0]["function"]["name"] == "add_request_to_queue"


_OUTPUT = {
    "type": "object", "additionalProperties": False,
    "properties": {"success": {"type": "boolean"}, "error": {"type": ["string", "null"]},
                   "failure": {"anyOf": [{"$ref": "common.json#/$defs/failure"}, {"type": "null"}]},
                   "count": {"type": ["integer", "null"], "default": None}},
}


def _with_plugin(*actions: Action) -> Connector:
    class Plugin:
        @hookimpl
        def register_actions(self):
            return list(actions)

    return Connector(environ={}, load_entry_points=False, plugins=[Plugin()])


def test_plugin_actions_are_tools_too_with_valid_names():
    spec = ActionSpec(
        id="acme.count models", title="Count models", description="How many models match a query.",
        input_schema={"type": "object", "additionalProperties": False, "required": ["q"],
                      "properties": {"q": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}}},
        output_schema=_OUTPUT,
        annotations={"read_only": True, "destructive": False, "idempotent": True, "open_world": False},
    )
    conn = _with_plugin(Action(spec, lambda inputs, ctx: {"count": len(inputs["q"]) + inputs.get("limit", 0)}))
    for fmt in FORMATS:
        specs = conn.tool_specs(fmt)
        assert len(specs) == len(MANIFEST_IDS) + 1
    openai = {t["function"]["name"]: t for t in conn.tool_specs("openai")}
    assert "acme_count_models" in openai
    assert strict_problems(openai["acme_count_models"]["function"]["parameters"]) == []
    mcp = {t["name"]: t for t in conn.tool_specs("mcp")}
    assert mcp["acme_count_models"]["annotations"]["openWorldHint"] is False
    assert "$ref" not in json.dumps(mcp["acme_count_models"]["outputSchema"])
    # The cleaned name is callable, and null for the optional field means "not given".
    out = conn.call_tool("acme_count_models", {"q": "abc", "limit": None})
    assert out["success"] and out["count"] == 3
    assert conn.call_tool("acme.count models", {"q": "ab", "limit": 2})["count"] == 4


def test_export_does_not_touch_the_action_schemas(offline: Connector):
    before = copy.deepcopy([offline.describe(i) for i in MANIFEST_IDS])
    for fmt in FORMATS:
        offline.tool_specs(fmt)
    assert [offline.describe(i) for i in MANIFEST_IDS] == before
