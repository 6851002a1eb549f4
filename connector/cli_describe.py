"""``fal-connector describe`` as text: one line per input field (type, required, default,
description), nested fields dotted (``a.b``, ``a[].b`` for array items, ``a.*.b`` for the values
of a map). Read from the action's self-contained input schema, the same one ``--json`` prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connector.schema_walk import deref

MAX_DEPTH = 8  # nesting shown; also ends a self-referencing schema


@dataclass
class Field:
    name: str
    type: str
    required: bool
    default: Any  # NO_DEFAULT when the schema gives none
    description: str


NO_DEFAULT = object()


def input_fields(schema: dict[str, Any]) -> list[Field]:
    """Every input field of ``schema``, parents before their nested fields."""
    fields: list[Field] = []
    _walk(schema, schema, "", fields, 0)
    return fields


def render_fields(schema: dict[str, Any]) -> str:
    """The field lines, columns aligned: name, type, required/optional, default, description."""
    fields = input_fields(schema)
    if not fields:
        return "(no input fields)\n"
    name_w = max(len(f.name) for f in fields)
    type_w = min(max(len(f.type) for f in fields), 40)
    lines = []
    for f in fields:
        default = "" if f.default is NO_DEFAULT else f"default {json.dumps(f.default, ensure_ascii=False)}  "
        need = "required" if f.required else "optional"
        lines.append(f"{f.name:<{name_w}}  {f.type:<{type_w}}  {need}  {default}{f.description}".rstrip())
    return "\n".join(lines) + "\n"


def render_text(spec: dict[str, Any]) -> str:
    """The terminal view of ``describe``: what the action does, then its input fields."""
    aliases = f"  (aliases: {', '.join(spec['aliases'])})" if spec.get("aliases") else ""
    head = f"{spec['id']}: {spec['title']}{aliases}\n\n{_one_line(spec.get('description'))}\n\ninput fields:\n"
    body = "".join("  " + line + "\n" for line in render_fields(spec["input_schema"]).splitlines())
    return head + body + f"\n(the whole spec and schemas as JSON: fal-connector describe {spec['id']} --json)\n"


def _walk(root: dict[str, Any], node: dict[str, Any], prefix: str, out: list[Field], depth: int) -> None:
    node = deref(node, root, MAX_DEPTH)
    required = set(node.get("required") or [])
    for name, sub in (node.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        sub = deref(sub, root, MAX_DEPTH)
        path = prefix + name
        out.append(Field(path, type_name(root, sub), name in required, sub.get("default", NO_DEFAULT),
                         _one_line(sub.get("description"))))
        if depth < MAX_DEPTH:
            for child, suffix in _children(root, sub):
                _walk(root, child, f"{path}{suffix}.", out, depth + 1)


def _children(root: dict[str, Any], node: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The nested objects that have fields of their own, with how their names continue."""
    found = []
    if node.get("properties"):
        found.append((node, ""))
    items = node.get("items")
    if isinstance(items, dict) and deref(items, root, MAX_DEPTH).get("properties"):
        found.append((items, "[]"))
    values = node.get("additionalProperties")
    if isinstance(values, dict) and deref(values, root, MAX_DEPTH).get("properties"):
        found.append((values, ".*"))
    return found


def type_name(root: dict[str, Any], node: dict[str, Any]) -> str:
    node = deref(node, root, MAX_DEPTH)
    if "const" in node:
        return json.dumps(node["const"], ensure_ascii=False)
    if "enum" in node:
        return "|".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list) and any(isinstance(b, dict) and _typed(root, b) for b in node[key]):
            names = [type_name(root, b) for b in node[key] if isinstance(b, dict) and _typed(root, b)]
            return "|".join(dict.fromkeys(names))
    kind = node.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    if kind == "array":
        items = node.get("items")
        if not isinstance(items, dict):
            return "array"
        inner = type_name(root, items)
        return f"array of ({inner})" if "|" in inner else f"array of {inner}"
    if kind == "string" and node.get("format"):
        return f"string ({node['format']})"
    return str(kind) if kind else "any"


def _typed(root: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether a oneOf/anyOf branch says what a value is (not just which fields it requires)."""
    node = deref(node, root, MAX_DEPTH)
    return any(key in node for key in ("type", "enum", "const", "oneOf", "anyOf"))


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""
