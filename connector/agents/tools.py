"""One tool call from an agent: find the action, turn the arguments into its input.

Agents send arguments in the shapes ``export`` published, so before the usual validation:

- a JSON string as the whole arguments (what OpenAI returns in ``tool_call.function.arguments``)
  is parsed;
- ``null`` for a field whose schema does not accept null means "not given" and is dropped
  (OpenAI strict mode makes every optional field required-but-nullable);
- a string where the schema wants an object or array is parsed as JSON (strict mode cannot
  describe free-form objects such as ``data``, so it asks for them as JSON strings).

Everything else is left to the action's own input validation, which names the field.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connector.agents.results import agent_output
from connector.errors import ActionError
from connector.schema_walk import deref
from connector.strict_json import parse_input, parse_json

if TYPE_CHECKING:
    from connector.context import EventSink
    from connector.runner import Connector


def call_tool(
    connector: Connector, name: Any, arguments: Any = None, *, on_event: EventSink | None = None, cancelled: threading.Event | None = None
) -> dict[str, Any]:
    """What ``Connector.call_tool`` does: the action's output for one tool call, made agent-safe."""
    found = find_action(connector, name)
    if found is None:
        return connector.failed(name, ActionError("unknown_action", "no such tool"))  # unknown_action naming the known ones
    try:
        inputs = prepare_arguments(found, arguments)
    except ActionError as exc:
        output = connector.failed(found.id, exc)
    else:
        output = connector._run(found, inputs, on_event, cancelled, agent=True)
    return agent_output(found, output, connector.config.max_tool_result_bytes)


def find_action(connector: Any, name: Any) -> Any:
    """The action for a tool name (an action id, an alias, or an exported tool name)."""
    if not isinstance(name, str):
        return None
    action = connector.action(name)
    if action is None:
        from connector.agents.export import tool_names

        action_id = tool_names(connector).get(name)
        action = connector.action(action_id) if action_id else None
    return action


def prepare_arguments(action: Any, arguments: Any) -> Any:
    """The action input for a tool call's ``arguments``; raises ``InvalidInputError`` for unparsable (or too deeply nested) JSON."""
    if arguments is None:
        return {}
    if isinstance(arguments, (str, bytes)):
        arguments = parse_input(arguments, "arguments") if arguments.strip() else {}
    schema = action.spec.input_schema
    return _clean(arguments, schema, schema)


def _types(schema: Any) -> set[str] | None:
    """The JSON types a schema accepts at its top, or None for "anything / cannot tell"."""
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return set(t)
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    return None


def _accepts_null(schema: Any, root: dict[str, Any]) -> bool:
    schema = deref(schema, root)
    if not isinstance(schema, dict):
        return schema is not False
    if "const" in schema:
        return schema["const"] is None
    if "enum" in schema:
        return None in schema["enum"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return any(_accepts_null(b, root) for b in schema[key])
    types = _types(schema)
    return types is None or "null" in types


def _clean(value: Any, schema: Any, root: dict[str, Any]) -> Any:
    schema = deref(schema, root)
    if not isinstance(schema, dict):
        return value
    types = _types(schema)
    if isinstance(value, str) and types is not None and "string" not in types and types & {"object", "array"}:
        try:
            decoded = parse_json(value)
        except ValueError:
            return value  # validation reports "expected object, got string", naming the field
        if isinstance(decoded, (dict, list)):
            value = decoded
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is None:
                out[key] = item  # free-form (e.g. the model's data): passed on untouched, nulls included
            elif item is None and not _accepts_null(sub, root):
                continue  # null = not given
            else:
                out[key] = _clean(item, sub, root)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_clean(item, schema["items"], root) for item in value]
    return value
