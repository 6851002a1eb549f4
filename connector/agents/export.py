"""Tool definitions for agent platforms, generated from the registered actions.

Every action the connector has (the manifest's and any plugin's) becomes one tool, in one of:

``openai``      Chat Completions function tools in strict mode:
                ``{"type": "function", "function": {name, description, parameters, "strict": true}}``
``anthropic``   Messages API tools: ``{name, description, input_schema}``
``mcp``         MCP ``Tool`` objects: ``{name, title, description, inputSchema, outputSchema, annotations}``
``jsonschema``  the connector's own view: ``{id, title, aliases, description, annotations,
                input_schema, output_schema}`` (what ``fal-connector describe`` prints)

Tool names are the action ids (``^[a-zA-Z0-9_-]{1,64}$``, valid for all three platforms); a
plugin id outside that form is rewritten (other characters become ``_``, cut to 64, made unique)
and ``Connector.call_tool`` accepts the rewritten name.

OpenAI strict mode accepts a subset of JSON Schema, so ``parameters`` is a transformed copy of
the input schema (the connector still validates every call against the full schema, so nothing
the transformation drops goes unchecked):

- ``$ref`` is inlined; ``oneOf`` becomes ``anyOf``; every object lists all its properties in
  ``required`` and has ``additionalProperties: false``; a property that was optional becomes
  nullable (``"type": [..., "null"]``, or an ``anyOf`` branch ``{"type": "null"}``) and
  ``null`` means "not given" (``call_tool`` drops it before validation).
- An object strict mode cannot describe — free-form (``data``, the model's input), a map
  (``estimate_pricing.endpoints``, ``verify_webhook.headers``) or open (``jwks``) — becomes a
  string holding that object as JSON; ``call_tool`` decodes it.
- Kept: ``type``, ``properties``, ``required``, ``items``, ``enum`` (``const`` becomes a
  one-value ``enum``), ``anyOf``, ``description``, ``minimum``/``maximum``/``exclusiveMinimum``/
  ``exclusiveMaximum``/``multipleOf``, ``minItems``/``maxItems``, and ``format`` when it is one
  strict mode knows (date-time, time, date, duration, email, hostname, ipv4, ipv6, uuid).
- Dropped: ``pattern`` (the connector's patterns end in a ``(?!\\n)`` look-ahead guard that
  constrained decoders reject), ``minLength``/``maxLength``, other ``format`` values (``uri``),
  ``uniqueItems``, ``minProperties``/``maxProperties``, ``propertyNames``, ``patternProperties``,
  ``prefixItems``, ``default`` and ``examples`` (a default is kept as words in the description),
  ``title``, ``$schema``/``$id``, and the constraint-only combinators (``allOf`` branches without
  a type, ``not``, ``if``/``then``/``else``, ``dependentRequired``, ``oneOf`` of ``required``
  lists) — the field descriptions say the same in words.
- Descriptions are cut to 1,024 characters at a sentence end (OpenAI's historical limit).

Anthropic's ``input_schema`` and MCP's ``inputSchema`` keep the full JSON Schema with ``$ref``
inlined, except the root-level combinators (``oneOf``/``anyOf``/``allOf``/``if``/``not``/
``dependentRequired``): Anthropic's API rejects ``oneOf``/``anyOf``/``allOf`` at the top of an
input schema, and MCP clients hand ``inputSchema`` to such APIs. Simple ones are turned into a
sentence of the schema's description ("Give exactly one of: path, data_base64.").
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection
from typing import Any

from connector.agents.groups import in_groups
from connector.plugin_state import PerConnector
from connector.schema_walk import inline_refs
from connector.validation import json_type

# Per Connector: the tool names and the specs of each format, built once (the actions are fixed).
_CACHE: PerConnector[dict[str, Any]] = PerConnector(dict)

FORMATS = ("openai", "anthropic", "mcp", "jsonschema")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_DESCRIPTION_MAX = 1024
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_TYPED_KEYS = ("type", "properties", "items", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "additionalProperties")
_ROOT_DROP = ("$schema", "$id", "$comment", "title")
_ROOT_COMBINATORS = ("oneOf", "anyOf", "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas")


# -- public ------------------------------------------------------------------------------


def tool_specs(connector: Any, format: str = "openai", groups: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Tool definitions of every registered action in ``format`` (see ``FORMATS``); with
    ``groups``, only those of the actions in these groups (see connector.agents.groups)."""
    if format not in FORMATS:
        raise ValueError(f"unknown tool format {format!r}; expected one of {', '.join(FORMATS)}")
    cache = _CACHE.get(connector)
    specs = cache.get(format)
    if specs is None:  # two threads may both build it: the first one stored is kept
        specs = cache.setdefault(format, _build(connector, tool_names(connector), format))
    if groups is not None:
        offered = [in_groups(connector.action(action_id), groups) for action_id in tool_names(connector).values()]
        specs = [spec for spec, keep in zip(specs, offered, strict=True) if keep]
    return copy.deepcopy(specs)  # callers may edit theirs; the cached one stays intact


def tool_name(action_id: str) -> str:
    """The tool name of an action id: the id itself when it is valid everywhere, else a cleaned copy."""
    if NAME_PATTERN.match(action_id):
        return action_id
    return (re.sub(r"[^a-zA-Z0-9_-]", "_", action_id) or "tool")[:64]


def tool_names(connector: Any) -> dict[str, str]:
    """Tool name -> action id for every registered action (unique names)."""
    cache = _CACHE.get(connector)
    names: dict[str, str] | None = cache.get("names")
    if names is None:
        names = cache.setdefault("names", _names(connector))
    return names


def _names(connector: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for summary in connector.actions():
        base = name = tool_name(summary["id"])
        n = 2
        while name in names:
            suffix = f"_{n}"
            name = base[: 64 - len(suffix)] + suffix
            n += 1
        names[name] = summary["id"]
    return names


def _build(connector: Any, names: dict[str, str], format: str) -> list[dict[str, Any]]:
    out = []
    for name, action_id in names.items():
        spec = connector.action(action_id).spec
        if format == "openai":
            out.append(openai_tool(spec, name))
        elif format == "anthropic":
            out.append({"name": name, "description": spec.description, "input_schema": agent_input_schema(spec.input_schema)})
        elif format == "mcp":
            out.append(mcp_tool(spec, name))
        else:
            out.append(spec.describe())
    return out


def openai_tool(spec: Any, name: str) -> dict[str, Any]:
    parameters = strict_parameters(spec.input_schema)
    strict = parameters is not None
    if parameters is None:  # an open root (a plugin's): no strict mode possible, send the plain schema
        parameters = agent_input_schema(spec.input_schema)
    return {
        "type": "function",
        "function": {"name": name, "description": _cut(spec.description, OPENAI_DESCRIPTION_MAX), "parameters": parameters, "strict": strict},
    }


def mcp_tool(spec: Any, name: str) -> dict[str, Any]:
    a = spec.annotations
    return {
        "name": name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": agent_input_schema(spec.input_schema),
        "outputSchema": agent_output_schema(spec.output_schema),
        "annotations": {
            "readOnlyHint": a.read_only,
            "destructiveHint": a.destructive,
            "idempotentHint": a.idempotent,
            "openWorldHint": a.open_world,
        },
    }


# -- OpenAI strict mode ------------------------------------------------------------------


def strict_parameters(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenAI strict-mode form of an input schema, or None when its root cannot be strict."""
    inlined, cyclic = inline_refs(schema)
    if cyclic:
        return None
    merged = _merge_all_of(inlined)
    root = _strict(merged)
    if root.get("type") != "object":
        return None
    notes = _combinator_notes(merged)
    if notes:
        root["description"] = _join(root.get("description"), " ".join(notes))
    return root


def _strict(node: Any) -> dict[str, Any]:
    if not isinstance(node, dict) or not any(k in node for k in _TYPED_KEYS):
        return _json_string(node if isinstance(node, dict) else {}, "any JSON value")
    node = _merge_all_of(node)
    description = node.get("description")
    branches = [b for b in (node.get("oneOf") or []) + (node.get("anyOf") or []) if _typed(b)]
    if branches and not any(k in node for k in ("type", "properties", "enum", "const")):
        out: dict[str, Any] = {"anyOf": [_strict(b) for b in branches]}
        return _describe(out, description)

    types = _types_of(node)
    if types is None:
        return _json_string(node, "any JSON value")
    nullable = "null" in types
    core = [t for t in types if t != "null"]
    if len(core) > 1:  # ["string", "number"]: one branch per type
        rest = {k: v for k, v in node.items() if k not in ("type", "description")}
        out = {"anyOf": [_strict({**rest, "type": t}) for t in core] + ([{"type": "null"}] if nullable else [])}
        return _describe(out, description)
    kind = core[0] if core else "null"

    if kind == "object":
        if node.get("additionalProperties") is not False or node.get("patternProperties"):
            out = _json_string(node, "an object")
            return _nullable(out) if nullable else out
        required = set(node.get("required") or [])
        props: dict[str, Any] = {}
        for name, sub in (node.get("properties") or {}).items():
            converted = _strict(sub)
            props[name] = converted if name in required else _optional(converted, sub)
        out = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    elif kind == "array":
        items = node.get("items")
        out = {"type": "array", "items": _strict(items) if isinstance(items, dict) else _json_string({}, "any JSON value")}
        for key in ("minItems", "maxItems"):
            if key in node:
                out[key] = node[key]
    else:
        out = {"type": kind}
        if kind in ("number", "integer"):
            for key in _NUMBER_KEYS:
                if key in node:
                    out[key] = node[key]
        if kind == "string" and node.get("format") in STRICT_FORMATS:
            out["format"] = node["format"]
        values = [node["const"]] if "const" in node else node.get("enum")
        if isinstance(values, list):
            out["enum"] = [v for v in values if v is not None]
    if nullable:
        out = _nullable(out)
    return _describe(out, description)


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    """Fold ``allOf`` branches that carry types into the node; constraint-only ones are dropped."""
    if "allOf" not in node:
        return node
    base = {k: v for k, v in node.items() if k != "allOf"}
    for branch in node["allOf"]:
        if not _typed(branch):
            continue
        for key, value in branch.items():
            if key == "properties":
                base["properties"] = {**value, **base.get("properties", {})}
            elif key == "required":
                base["required"] = sorted({*base.get("required", []), *value})
            else:
                base.setdefault(key, value)
    return base


def _typed(branch: Any) -> bool:
    return isinstance(branch, dict) and any(k in branch for k in _TYPED_KEYS)


def _types_of(node: dict[str, Any]) -> list[str] | None:
    types = node.get("type")
    if isinstance(types, str):
        return [types]
    if isinstance(types, list) and types:
        return [t for t in types if isinstance(t, str)]
    if "properties" in node or "additionalProperties" in node:
        return ["object"]
    if "items" in node:
        return ["array"]
    values = [node["const"]] if "const" in node else node.get("enum")
    if isinstance(values, list) and values:
        return sorted({json_type(v) for v in values})
    return None


def _json_string(node: dict[str, Any], what: str) -> dict[str, Any]:
    """A string that carries a JSON value strict mode cannot describe; ``call_tool`` decodes it."""
    example = next((e for e in node.get("examples") or [] if isinstance(e, (dict, list))), None)
    hint = f"Pass {what} encoded as a JSON string"
    if example is not None:
        hint += f", e.g. {json.dumps(example, ensure_ascii=False)}"
    out = {"type": "string", "description": _join(node.get("description"), hint + ".")}
    return out


def _nullable(out: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in out:
        if not any(b.get("type") == "null" or (isinstance(b.get("type"), list) and "null" in b["type"]) for b in out["anyOf"]):
            out["anyOf"].append({"type": "null"})
        return out
    types = out["type"] if isinstance(out["type"], list) else [out["type"]]
    if "null" not in types:
        out["type"] = [*types, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _optional(converted: dict[str, Any], original: Any) -> dict[str, Any]:
    out = _nullable(converted)
    note = "Optional: null means not given"
    default = original.get("default") if isinstance(original, dict) else None
    if default is not None and "default" not in (out.get("description") or "").lower():
        note += f" (default {json.dumps(default)})"
    out["description"] = _join(out.get("description"), note + ".")
    return out


def _describe(out: dict[str, Any], description: Any) -> dict[str, Any]:
    if isinstance(description, str) and description and "description" not in out:
        out["description"] = description
    return out


def _join(first: Any, second: str) -> str:
    first = first.strip() if isinstance(first, str) else ""
    if not first:
        return second
    return f"{first}{'' if first.endswith(('.', '!', '?')) else '.'} {second}"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    end = head.rfind(". ")
    return head[: end + 1] if end > limit // 2 else head + "…"


# -- Anthropic / MCP ---------------------------------------------------------------------


def agent_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema for Anthropic and MCP: ``$ref`` inlined, no root-level combinators."""
    inlined, _ = inline_refs(schema)
    out = _merge_all_of({k: v for k, v in inlined.items() if k not in _ROOT_DROP})
    notes = _combinator_notes(out)
    for key in _ROOT_COMBINATORS:
        out.pop(key, None)
    if notes:
        out["description"] = _join(out.get("description"), " ".join(notes))
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return out


def agent_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The output schema for MCP ``outputSchema``: ``$ref`` inlined, otherwise complete."""
    inlined, _ = inline_refs(schema)
    return {k: v for k, v in inlined.items() if k not in ("$schema", "$id", "$comment")}


def _combinator_notes(schema: dict[str, Any]) -> list[str]:
    notes = []
    for key, words in (("oneOf", "Give exactly one of"), ("anyOf", "Give at least one of")):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and all(_single_required(b) for b in branches):
            notes.append(f"{words}: {', '.join(b['required'][0] for b in branches)}.")
    for name, needs in (schema.get("dependentRequired") or {}).items():
        notes.append(f"{name} requires {', '.join(needs)}.")
    return notes


def _single_required(branch: Any) -> bool:
    return isinstance(branch, dict) and set(branch) == {"required"} and len(branch["required"]) == 1
