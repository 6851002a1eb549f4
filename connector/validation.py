"""Input validation with errors a person can act on: the field, what was expected, what came."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from connector.errors import InvalidInputError

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


def check_input(validator: Draft202012Validator, inputs: Any) -> None:
    """Raise ``InvalidInputError`` naming the first (most relevant) problem, if any."""
    error = best_match(validator.iter_errors(inputs))
    if error is not None:
        raise input_error(error)


def input_error(error: ValidationError) -> InvalidInputError:
    field = field_path(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [name for name in value if isinstance(instance, dict) and name not in instance]
        name = missing[0] if missing else "?"
        return InvalidInputError(_join(field, name), "is required")
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        accepted = ", ".join(allowed) if allowed else "none"
        return InvalidInputError(_join(field, extra[0] if extra else "?"), f"is not an accepted field (accepted: {accepted})")
    if kind == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        got = json_type(instance) if instance is None or isinstance(instance, (dict, list)) else f"{json_type(instance)} {short(instance)}"
        return InvalidInputError(field, f"expected {expected}, got {got}")
    if kind == "enum":
        return InvalidInputError(field, f"expected one of {', '.join(map(repr, value))}, got {short(instance)}")
    if kind == "const":
        return InvalidInputError(field, f"expected {value!r}, got {short(instance)}")
    if kind == "pattern":
        shown = value.replace("$(?!\\n)", "$")  # the schemas' guard against a trailing newline
        return InvalidInputError(field, f"{short(instance)} is not in the expected form (pattern {shown})")
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return InvalidInputError(field, f"expected a number {words[kind]} {value}, got {short(instance)}")
    if kind in ("minLength", "maxLength"):
        words = "at least" if kind == "minLength" else "at most"
        return InvalidInputError(field, f"expected {words} {value} characters, got {len(instance)}")
    if kind in ("minItems", "maxItems"):
        words = "at least" if kind == "minItems" else "at most"
        return InvalidInputError(field, f"expected {words} {value} items, got {len(instance)}")
    if kind in ("minProperties", "maxProperties"):
        words = "at least" if kind == "minProperties" else "at most"
        return InvalidInputError(field, f"expected {words} {value} entries, got {len(instance)}")
    if kind == "uniqueItems":
        return InvalidInputError(field, "items must be unique")
    if kind in ("oneOf", "anyOf") and not error.context:
        return InvalidInputError(field, error.message[:300])
    return InvalidInputError(field, " ".join(error.message.split())[:300])


def field_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
