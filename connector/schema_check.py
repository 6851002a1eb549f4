"""JSON Schema (2020-12) validation for the runner: fast answers, jsonschema's own errors.

``SchemaValidator(schema)`` answers ``is_valid`` with jsonschema-rs (a compiled Rust
validator, built once per schema on first use: about a microsecond for a status call's input
or output), and explains an invalid instance with ``jsonschema.Draft202012Validator``, built
(and jsonschema imported) only then, so every error message is jsonschema's, unchanged.

The runner trusts a ``True`` from jsonschema-rs, so it must never accept what jsonschema
refuses: formats are not checked (the connector's jsonschema validators check none), and an
instance holding a tuple (an array to jsonschema-rs, not to jsonschema) is left to jsonschema.
A ``False``, or anything jsonschema-rs cannot read (a non-string key, bytes, NaN), is decided
by jsonschema. ``tests/test_schema_check.py`` compares both answers on every shipped schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.schema_walk import resolve_pointer

Check = Callable[[Any], bool]


def compile_check(schema: Any) -> Check | None:
    """``check(instance) -> bool`` whose ``True`` jsonschema would give too (a ``False`` may be
    jsonschema-rs not reading the instance as jsonschema does: ask jsonschema), or None when
    jsonschema-rs cannot compile the schema."""
    import jsonschema_rs

    try:
        is_valid = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True).is_valid
    except Exception:  # a schema jsonschema-rs refuses (or a reference it would have to fetch)
        return None
    places = tuple_places(schema)

    def check(instance: Any) -> bool:
        try:
            valid = is_valid(instance)
        except Exception:  # not JSON to jsonschema-rs (bytes, a set, a non-string key): jsonschema decides
            return False
        return bool(valid) and not (places != () and _tuple_at(instance, places))

    return check


# -- tuples: an array to jsonschema-rs, not to jsonschema -------------------------------------------
#
# A tuple is read alike by both wherever the schema says nothing about arrays (both refuse it as an
# object, a string..., compare it equal to a list in enum/const, accept it where anything goes, as
# in a model's free-form data). So only the places where an array keyword applies are looked at.

class _Every:
    """A path step: every item of an array, or every value of an object."""

    def __repr__(self) -> str:
        return "*"


EVERY = _Every()
_ARRAY_KEYWORDS = frozenset({"items", "prefixItems", "contains", "minContains", "maxContains", "minItems", "maxItems",
                             "uniqueItems", "unevaluatedItems", "additionalItems"})
_HERE = ("allOf", "anyOf", "oneOf")  # subschemas applied at the same place
_HERE_ONE = ("not", "if", "then", "else", "$ref")
_BELOW = ("additionalProperties", "unevaluatedProperties", "items", "contains", "unevaluatedItems", "additionalItems")
Places = tuple[tuple[Any, ...], ...]


class _Anywhere(Exception):
    """A recursive or unfollowable reference: a tuple could matter anywhere."""


def tuple_places(schema: Any) -> Places | None:
    """The instance paths (property names and ``EVERY``) where an array keyword applies, or None
    when they cannot be listed (a recursive reference): then the whole instance is looked at."""
    found: set[tuple[Any, ...]] = set()

    def visit(node: Any, path: tuple[Any, ...], following: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if _ARRAY_KEYWORDS.intersection(node) or kind == "array" or (isinstance(kind, list) and "array" in kind):
            found.add(path)
        if "$dynamicRef" in node or "$recursiveRef" in node:
            raise _Anywhere
        for key in _HERE:
            for sub in node.get(key) or ():
                visit(sub, path, following)
        for key in _HERE_ONE:
            sub = node.get(key)
            if key == "$ref" and isinstance(sub, str):
                if sub in following:
                    raise _Anywhere
                try:
                    sub, following = resolve_pointer(schema, sub), following | {sub}
                except LookupError:
                    raise _Anywhere from None
            visit(sub, path, following)
        for sub in (node.get("dependentSchemas") or {}).values():
            visit(sub, path, following)
        for name, sub in (node.get("properties") or {}).items():
            visit(sub, (*path, name), following)
        for key in _BELOW:
            visit(node.get(key), (*path, EVERY), following)
        for sub in [*(node.get("patternProperties") or {}).values(), *(node.get("prefixItems") or ())]:
            visit(sub, (*path, EVERY), following)

    try:
        visit(schema, (), frozenset())
    except (_Anywhere, RecursionError):
        return None
    return tuple(sorted(found, key=len))


def _tuple_at(instance: Any, places: Places | None) -> bool:
    """Whether a tuple sits at one of ``places`` in ``instance`` (None: anywhere)."""
    if places is None:
        return _has_tuple(instance)
    stack = [(instance, path) for path in places]
    while stack:
        value, path = stack.pop()
        if isinstance(value, tuple):
            return True
        if not path:
            continue
        step, rest = path[0], path[1:]
        if isinstance(value, dict):
            if step is EVERY:
                stack.extend((child, rest) for child in value.values())
            elif step in value:
                stack.append((value[step], rest))
        elif isinstance(value, list) and step is EVERY:
            stack.extend((child, rest) for child in value)
    return False


def _has_tuple(instance: Any) -> bool:
    stack = [instance]
    while stack:  # iterative: no depth limit to hit
        item = stack.pop()
        if isinstance(item, tuple):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class SchemaValidator:
    """A ``jsonschema.Draft202012Validator`` whose ``is_valid`` and ``iter_errors`` answer
    from jsonschema-rs first: valid instances never touch jsonschema, and the jsonschema
    validator itself is built (and jsonschema imported) only when an instance is not valid or
    another of its attributes is used. Errors are always jsonschema's own."""

    _UNCOMPILED: Any = object()

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._check: Any = self._UNCOMPILED  # compiled on first use (a CLI run uses two schemas of 26)
        self._validator: Any = None

    @property
    def validator(self) -> Any:
        """The jsonschema validator, built on first use."""
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        return self._validator

    def _fast(self, instance: Any) -> bool:
        check: Check | None = self._check
        if check is self._UNCOMPILED:
            check = self._check = compile_check(self.schema)
        return check is not None and check(instance)

    def is_valid(self, instance: Any) -> bool:
        return self._fast(instance) or self.validator.is_valid(instance)

    def iter_errors(self, instance: Any) -> Any:
        if self._fast(instance):
            return iter(())
        return self.validator.iter_errors(instance)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_check", "_validator", "schema"):
            raise AttributeError(name)
        return getattr(self.validator, name)

    def __repr__(self) -> str:
        state = "not compiled yet" if self._check is self._UNCOMPILED else "jsonschema-rs" if self._check is not None else "jsonschema only"
        return f"<SchemaValidator {state}>"
