"""Input validation with errors a person can act on: the field, what was expected, what came."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from connector.errors import InvalidInputError
from connector.strict_json import is_unicode

if TYPE_CHECKING:  # jsonschema is imported only to explain an invalid input
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    from connector.schema_check import SchemaValidator

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}

# Limits checked before the schema (which recurses, and reprs what it rejects): an input
# nested deeper than this, a number JSON cannot carry, or a model input (``data``) larger than
# this is ``invalid_input`` naming the field, never a RecursionError or a body fal refuses.
MAX_DEPTH = 64  # containers nested inside one top-level field
MAX_INT_DIGITS = 4000  # Python refuses to print longer integers (sys.get_int_max_str_digits)
MAX_FIELD_BYTES = {"data": 8 * 1024 * 1024}  # about, as compact JSON
_MAX_INT = 10**MAX_INT_DIGITS


def check_input(validator: Draft202012Validator | SchemaValidator, inputs: Any) -> None:
    """Raise ``InvalidInputError`` listing every problem (the most relevant first), if any."""
    check_json_value(inputs)
    errors = list(validator.iter_errors(inputs))
    if not errors:
        return
    from jsonschema.exceptions import best_match

    first = best_match(errors)
    if first is not None and first.validator in ("oneOf", "anyOf") and not first.context:
        # "valid under each of" a top-level oneOf says little; a field's own error says more.
        first = best_match(e for e in errors if e.path) or first
    problems: list[dict[str, Any]] = []
    for error in sorted(errors, key=lambda e: e is not first):  # the most relevant first, then in order
        if error.validator in ("oneOf", "anyOf") and error.context:
            error = best_match(error.context) or error  # the branch's error that explains most
        for problem in input_error(error).detail:
            if problem not in problems:
                problems.append(problem)
    raise InvalidInputError.of(problems)


def check_json_value(inputs: Any) -> None:
    """Raise ``InvalidInputError`` unless ``inputs`` is plain JSON data within the limits above.

    Iterative (no recursion), so any depth is refused cheaply; the error names the field.
    """
    if isinstance(inputs, dict):
        fields = list(inputs.items())
        for name, _ in fields:
            if not isinstance(name, str):
                raise InvalidInputError("", f"field names must be strings, got {json_type(name)}", expected="string field names")
            if not is_unicode(name):
                raise InvalidInputError(field_path([name]), _NOT_UNICODE, expected=_UNICODE)
    else:
        fields = [("", inputs)]
    for name, value in fields:
        _check_field(name, value, MAX_FIELD_BYTES.get(name))


def _check_field(name: str, value: Any, max_bytes: int | None) -> None:
    size = 0
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                raise InvalidInputError(_where(name, path), _NOT_UNICODE, expected=_UNICODE)
            size += len(item) + 2
        elif item is None or isinstance(item, bool):
            size += 5
        elif isinstance(item, int):
            if not -_MAX_INT < item < _MAX_INT:
                raise InvalidInputError(_where(name, path), f"integers may have at most {MAX_INT_DIGITS} digits",
                                        expected=f"an integer of at most {MAX_INT_DIGITS} digits")
            size += 8
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInputError(_where(name, path), f"{item!r} is not a JSON number (NaN and infinity are not allowed)",
                                        expected="a finite number")
            size += 8
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise InvalidInputError(_where(name, path), f"nested more than {MAX_DEPTH} levels deep", expected=f"at most {MAX_DEPTH} levels of nesting")
            size += 2 + len(item)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise InvalidInputError(_where(name, path), f"object keys must be strings, got {json_type(key)}", expected="string keys")
                    if not is_unicode(key):
                        raise InvalidInputError(_where(name, (*path, key)), "the key " + _NOT_UNICODE, expected=_UNICODE)
                    size += len(key) + 3
                    stack.append((child, depth + 1, (*path, key)))
            else:
                stack.extend((child, depth + 1, (*path, i)) for i, child in enumerate(item))
        else:
            raise InvalidInputError(_where(name, path), f"expected JSON data (object, array, string, number, boolean or null), got {type(item).__name__}",
                                    expected="JSON data")
        if max_bytes is not None and size > max_bytes:
            raise InvalidInputError(
                name, f"is larger than the {max_bytes} byte limit as JSON; upload large files with upload_file and pass their URL",
                expected=f"at most {max_bytes} bytes as JSON",
            )


# A lone surrogate: what Python makes of a byte that is not UTF-8 (a \xff in a command line
# argument), or of a "\ud800" escape in JSON. No request can carry it.
_UNICODE = "valid Unicode text"
_NOT_UNICODE = "contains a lone surrogate (U+D800-U+DFFF), which is not valid Unicode text (was it decoded from bytes that are not UTF-8?)"


def _where(name: str, path: tuple[Any, ...]) -> str:
    return field_path((name or "input", *path))


def input_error(error: ValidationError) -> InvalidInputError:
    """One jsonschema error as an ``InvalidInputError``; ``detail`` has one problem per field
    (two unknown fields are two problems)."""
    problems = [{"field": field or "input", "message": message, "expected": expected} for field, message, expected in _problems(error)]
    return InvalidInputError.of(problems)


def _problems(error: ValidationError) -> list[tuple[str, str, Any]]:
    """(field, message, expected) for one jsonschema error."""
    field = field_path(error.absolute_path)
    kind: Any = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if kind == "required":
        missing = [name for name in value if isinstance(instance, dict) and name not in instance] or ["?"]
        return [(_join(field, name), "is required", "a value") for name in missing]
    if kind == "dependentRequired" and isinstance(instance, dict):
        found = [(_join(field, name), f"is required with {given}", f"a value, since {given} is given")
                 for given, needs in value.items() if given in instance for name in needs if name not in instance]
        if found:
            return found
    if kind == "additionalProperties" and isinstance(instance, dict) and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed) or ["?"]
        accepted = ", ".join(allowed) if allowed else "none"
        return [(_join(field, name), f"is not an accepted field (accepted: {accepted})", f"one of: {accepted}") for name in extra]
    if kind == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        got = json_type(instance) if instance is None or isinstance(instance, (dict, list)) else f"{json_type(instance)} {short(instance)}"
        return [(field, f"expected {expected}, got {got}", expected)]
    if kind == "enum":
        return [(field, f"expected one of {', '.join(map(repr, value))}, got {short(instance)}", f"one of: {', '.join(map(str, value))}")]
    if kind == "const":
        return [(field, f"expected {value!r}, got {short(instance)}", repr(value))]
    if kind == "pattern":
        shown = value.replace("$(?!\\n)", "$")  # the schemas' guard against a trailing newline
        return [(field, f"{short(instance)} is not in the expected form (pattern {shown})", f"a string matching {shown}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        compare = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return [(field, f"expected a number {compare} {value}, got {short(instance)}", f"a number {compare} {value}")]
    sizes = {"minLength": ("at least", "characters"), "maxLength": ("at most", "characters"), "minItems": ("at least", "items"),
             "maxItems": ("at most", "items"), "minProperties": ("at least", "entries"), "maxProperties": ("at most", "entries")}
    if kind in sizes:
        words, unit = sizes[kind]
        return [(field, f"expected {words} {value} {unit}, got {len(instance)}", f"{words} {value} {unit}")]
    if kind == "uniqueItems":
        return [(field, "items must be unique", "unique items")]
    if kind == "oneOf" and not error.context and isinstance(instance, dict) and all(
        isinstance(branch, dict) and list(branch) == ["required"] for branch in value
    ):
        names = [name for branch in value for name in branch["required"]]
        given = [name for name in names if name in instance]
        return [(_join(field, given[0] if given else names[0]), f"give exactly one of {', '.join(names)}", f"exactly one of: {', '.join(names)}")]
    return [(field, " ".join(error.message.split())[:300], None)]


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.-]*\Z")


def field_path(path: Any) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif len(str(part)) > 80 or not _PLAIN_NAME.match(str(part)):
            out += f"[{short(part)}]"  # a name that would not read as one: quoted, shortened
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(parent: str, name: str) -> str:
    rendered = field_path([name])
    if not parent:
        return rendered
    return parent + rendered if rendered.startswith("[") else f"{parent}.{rendered}"


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
