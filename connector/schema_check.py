"""Fast validity checks for JSON Schema (2020-12), compiled once per schema into closures.

``compile_check(schema)`` returns ``check(instance) -> bool`` that answers exactly what
``jsonschema.Draft202012Validator(schema).is_valid(instance)`` answers (no format checker,
as the connector's validators have none), in a fraction of the time and without importing
jsonschema, or ``None`` when the schema uses something it does not implement
(``patternProperties``, ``prefixItems``, ``contains``, ``multipleOf``, ``unevaluated*``,
``dependentSchemas``, ``$dynamicRef``, embedded ``$id``/``$anchor``, refs outside the schema),
in which case the caller keeps using jsonschema.

The runner trusts a ``True`` and asks jsonschema for the error of a ``False`` (so error
messages are jsonschema's, unchanged). ``tests/test_schema_check.py`` compares both answers
on every shipped schema over generated valid and invalid instances.
"""

from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

Check = Callable[[Any], bool]

# Keywords jsonschema's Draft202012Validator applies that this module does not implement.
_UNSUPPORTED = frozenset({
    "$dynamicRef", "contains", "dependentSchemas", "multipleOf", "patternProperties", "prefixItems",
    "unevaluatedItems", "unevaluatedProperties", "$id", "$anchor", "$dynamicAnchor", "$recursiveRef",
    "$recursiveAnchor",
})


class Unsupported(Exception):
    """The schema uses something ``compile_check`` does not implement."""


def compile_check(schema: Any) -> Check | None:
    """``check(instance) -> bool`` equal to jsonschema's ``is_valid``, or None (unsupported)."""
    try:
        return _Compiler(schema).root()
    except (Unsupported, TypeError, ValueError, KeyError, IndexError, re.error):
        return None


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def _all(checks: list[Check]) -> Check:
    """One check that passes when every one of ``checks`` passes (loops, not generators: speed)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    frozen = tuple(checks)

    def check(v: Any) -> bool:
        for each in frozen:
            if not each(v):
                return False
        return True

    return check


def _any(checks: list[Check]) -> Check:
    """One check that passes when any of ``checks`` passes (none: never)."""
    if not checks:
        return _never
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check(v: Any) -> bool:
        for each in frozen:
            if each(v):
                return True
        return False

    return check


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


# JSON type -> the Python type(s) jsonschema's type checker accepts, or a check for the two
# numeric types, which exclude bool (and integer accepts 1.0).
_PLAIN_TYPES: dict[str, type] = {"array": list, "boolean": bool, "null": type(None), "object": dict, "string": str}
_NUMERIC_TYPES: dict[str, Check] = {"integer": _is_integer, "number": _is_number}


class _Compiler:
    def __init__(self, root: Any) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def root(self) -> Check:
        if isinstance(self._root, dict):
            schema = self._root
            if "$schema" in schema and "2020-12" not in str(schema["$schema"]):
                raise Unsupported("$schema")
            return self.compile({k: v for k, v in schema.items() if k not in ("$schema", "$id")})
        return self.compile(self._root)

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object or a boolean")
        bad = _UNSUPPORTED.intersection(schema)
        if bad or "$schema" in schema:
            raise Unsupported(", ".join(sorted(bad)) or "$schema")
        checks: list[Check] = []
        for key, value in schema.items():
            make = _KEYWORDS.get(key)
            if make is not None:
                check = make(self, value, schema)
                if check is not _always:
                    checks.append(check)
        return _all(checks)

    def ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise Unsupported(f"$ref {ref!r}")
        compiled = self._refs.get(ref)
        if compiled is not None:
            return compiled
        slot: list[Check] = []

        def deferred(value: Any) -> bool:  # compiled on first use: refs may be recursive
            return slot[0](value)

        self._refs[ref] = deferred
        slot.append(self.compile(self._resolve(ref)))
        return slot[0]

    def _resolve(self, ref: str) -> Any:
        fragment = unquote(ref[1:])
        node = self._root
        if not fragment:
            return node
        if not fragment.startswith("/"):
            raise Unsupported(f"$ref {ref!r} (anchors)")
        for part in fragment[1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                if node is not self._root and "$id" in node:
                    raise Unsupported("$ref through an embedded $id")
                node = node[part]
            elif isinstance(node, list):
                node = node[int(part)]
            else:
                raise Unsupported(f"$ref {ref!r}")
        return node


# -- keywords: each mirrors jsonschema._keywords for Draft 2020-12 ----------------------------


def _type(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    plain: list[type] = []
    numeric: list[Check] = []
    for name in names:
        if not isinstance(name, str) or (name not in _PLAIN_TYPES and name not in _NUMERIC_TYPES):
            raise Unsupported(f"type {value!r}")
        if name in _PLAIN_TYPES:
            plain.append(_PLAIN_TYPES[name])
        else:
            numeric.append(_NUMERIC_TYPES[name])
    types = tuple(plain)
    plain_check: list[Check] = [lambda v: isinstance(v, types)] if types or not numeric else []
    return _any(plain_check + numeric)


def _properties(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    props = tuple((name, sub) for name, sub in ((name, c.compile(sub)) for name, sub in value.items()) if sub is not _always)
    if not props:
        return _always

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for name, sub in props:
            if name in v and not sub(v[name]):
                return False
        return True

    return check


def _additional_properties(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    known = frozenset(schema.get("properties", {}))
    if isinstance(value, dict):
        sub = c.compile(value)

        def check_extras(v: Any) -> bool:
            if isinstance(v, dict):
                for k in v:
                    if k not in known and not sub(v[k]):
                        return False
            return True

        return check_extras
    if not value:  # False (or a falsy non-schema, as jsonschema reads it)

        def no_extras(v: Any) -> bool:
            if isinstance(v, dict):
                for k in v:
                    if k not in known:
                        return False
            return True

        return no_extras
    return _always


def _required(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    names = tuple(value)

    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for name in names:
                if name not in v:
                    return False
        return True

    return check


def _dependent_required(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    deps = tuple((name, tuple(needs)) for name, needs in value.items())

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all(need in v for name, needs in deps if name in v for need in needs)

    return check


def _property_names(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    sub = c.compile(value)
    return lambda v: not isinstance(v, dict) or all(sub(k) for k in v)


def _min_properties(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, dict) or not len(v) < value


def _max_properties(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, dict) or not len(v) > value


def _items(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    if value is False:
        return lambda v: not isinstance(v, list) or not v
    sub = c.compile(value)
    if sub is _always:
        return _always

    def check(v: Any) -> bool:
        if isinstance(v, list):
            for item in v:
                if not sub(item):
                    return False
        return True

    return check


def _min_items(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, list) or not len(v) < value


def _max_items(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, list) or not len(v) > value


def _unique_items(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    if not value:
        return _always
    return lambda v: not isinstance(v, list) or _uniq(v)


def _min_length(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or not len(v) < value


def _max_length(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or not len(v) > value


def _pattern(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    search = re.compile(value).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _minimum(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v < value


def _maximum(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v > value


def _exclusive_minimum(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v <= value


def _exclusive_maximum(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v >= value


def _enum(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    options = tuple(value)
    if all(type(o) is str for o in options):
        strings = frozenset(options)
        return lambda v: isinstance(v, str) and v in strings or any(_equal(o, v) for o in options)
    return lambda v: any(_equal(o, v) for o in options)


def _const(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: _equal(v, value)


def _all_of(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return _all([sub for sub in (c.compile(sub) for sub in value) if sub is not _always])


def _any_of(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return _any([c.compile(sub) for sub in value])


def _one_of(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    subs = tuple(c.compile(sub) for sub in value)

    def check(v: Any) -> bool:
        found = False
        for sub in subs:
            if sub(v):
                if found:
                    return False
                found = True
        return found

    return check


def _not(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    sub = c.compile(value)
    return lambda v: not sub(v)


def _if(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    condition = c.compile(value)
    then = c.compile(schema["then"]) if "then" in schema else _always
    otherwise = c.compile(schema["else"]) if "else" in schema else _always
    return lambda v: then(v) if condition(v) else otherwise(v)


def _ref(c: _Compiler, value: Any, schema: dict[str, Any]) -> Check:
    return c.ref(value)


_KEYWORDS: dict[str, Callable[[_Compiler, Any, dict[str, Any]], Check]] = {
    "$ref": _ref,
    "additionalProperties": _additional_properties,
    "allOf": _all_of,
    "anyOf": _any_of,
    "const": _const,
    "dependentRequired": _dependent_required,
    "enum": _enum,
    "exclusiveMaximum": _exclusive_maximum,
    "exclusiveMinimum": _exclusive_minimum,
    "if": _if,
    "items": _items,
    "maxItems": _max_items,
    "maxLength": _max_length,
    "maxProperties": _max_properties,
    "maximum": _maximum,
    "minItems": _min_items,
    "minLength": _min_length,
    "minProperties": _min_properties,
    "minimum": _minimum,
    "not": _not,
    "oneOf": _one_of,
    "pattern": _pattern,
    "properties": _properties,
    "propertyNames": _property_names,
    "required": _required,
    "type": _type,
    "uniqueItems": _unique_items,
}


# -- jsonschema._utils.equal / uniq, reproduced (bool is not 1, recursively) ----------------------


def _equal(one: Any, two: Any) -> bool:
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(i, j) for i, j in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and _equal(value, two[key]) for key, value in one.items())
    return bool(_unbool(one) == _unbool(two))


_TRUE, _FALSE = object(), object()


def _unbool(element: Any) -> Any:
    if element is True:
        return _TRUE
    if element is False:
        return _FALSE
    return element


def _uniq(container: list[Any]) -> bool:
    try:
        ordered = sorted(_unbool(i) for i in container)
        for i, j in zip(ordered, itertools.islice(ordered, 1, None), strict=False):
            if _equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen: list[Any] = []
        for e in container:
            e = _unbool(e)
            for i in seen:
                if _equal(i, e):
                    return False
            seen.append(e)
    return True


class SchemaValidator:
    """A ``jsonschema.Draft202012Validator`` whose ``is_valid`` and ``iter_errors`` answer
    from the compiled check first: valid instances never touch jsonschema, and the jsonschema
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
        if check is None:
            return False
        try:
            return check(instance)
        except Exception:  # e.g. comparing a complex number: let jsonschema say what it says
            return False

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
        state = "not compiled yet" if self._check is self._UNCOMPILED else "compiled" if self._check is not None else "jsonschema only"
        return f"<SchemaValidator {state}>"
