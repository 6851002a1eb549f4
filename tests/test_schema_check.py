"""connector.schema_check: ``SchemaValidator`` answers exactly what jsonschema answers.

The runner trusts a ``True`` from the jsonschema-rs check without asking jsonschema, so every
shipped schema is compared with ``Draft202012Validator.is_valid`` over instances generated from
the schema itself (valid-looking ones and mutations of them): the check never accepts what
jsonschema refuses, accepts every valid instance of a shipped schema (so a call never pays for
jsonschema), and the validator's answer is jsonschema's. The JSON Schema corner cases (``1.0``
is an integer, ``True`` is not ``1``, a tuple is not an array, ``oneOf``/``not``/``if``) are
pinned one by one. Also: the CLI's call path imports neither jsonschema nor the emulator.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.manifest import load_manifest, load_schema_file
from connector.schema_check import SchemaValidator, compile_check, tuple_places

ROOT = Path(__file__).resolve().parent.parent

SPECS = load_manifest()
SCHEMAS = [(f"{s.id}.input", s.input_schema) for s in SPECS] + [(f"{s.id}.output", s.output_schema) for s in SPECS]

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 2.5, -0.0, 10**20, "", "x", "fal-ai/flux/dev", "COMPLETED", "IN_QUEUE",
    "a" * 300, [], [1], [1, True], ["a", "a"], {}, {"a": 1}, {"type": "x"}, [[]], {"": None},
]


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref[2:].split("/") if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def generate(schema: Any, root: dict[str, Any], rnd: random.Random, depth: int = 0) -> Any:
    """A value that often (not always) fits ``schema``: enough to reach every branch."""
    if schema is True or schema is False or not isinstance(schema, dict) or depth > 8:
        return rnd.choice(ODD_VALUES)
    if "$ref" in schema and rnd.random() < 0.9:
        return generate(_resolve(root, schema["$ref"]), root, rnd, depth + 1)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if "enum" in schema:
        return copy.deepcopy(rnd.choice(schema["enum"]))
    for key in ("oneOf", "anyOf"):
        if key in schema and ("type" not in schema or rnd.random() < 0.5):
            return generate(rnd.choice(schema[key]), root, rnd, depth + 1)
    if "examples" in schema and rnd.random() < 0.5:
        return copy.deepcopy(rnd.choice(schema["examples"]))
    if "default" in schema and rnd.random() < 0.2:
        return copy.deepcopy(schema["default"])
    types = schema.get("type")
    if types is None:
        if "properties" in schema or "required" in schema:
            types = "object"
        elif "allOf" in schema:
            return generate(rnd.choice(schema["allOf"]), root, rnd, depth + 1)
        else:
            return rnd.choice(ODD_VALUES)
    kind = rnd.choice(types) if isinstance(types, list) else types
    if kind == "object":
        props = schema.get("properties", {})
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in schema.get("required", ()) or rnd.random() < 0.5:
                out[name] = generate(sub, root, rnd, depth + 1)
        if rnd.random() < 0.1:
            out["zz_extra"] = rnd.choice(ODD_VALUES)
        return out
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 3), low + 3)
        return [generate(schema.get("items", True), root, rnd, depth + 1) for _ in range(rnd.randint(low, high))]
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 12), 40)
        return "".join(rnd.choice("abc-/_.9 ") for _ in range(rnd.randint(low, max(low, high))))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -5))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 10))
        value = rnd.randint(int(low), int(max(low, high)))
        return float(value) if kind == "number" and rnd.random() < 0.5 else value
    if kind == "boolean":
        return rnd.random() < 0.5
    return None


def mutate(value: Any, rnd: random.Random) -> Any:
    """``value`` with one node replaced, dropped or extended."""
    value = copy.deepcopy(value)
    if not isinstance(value, (dict, list)) or not value or rnd.random() < 0.15:
        return rnd.choice(ODD_VALUES)
    parent: Any = value
    while True:
        key = rnd.choice(list(parent)) if isinstance(parent, dict) else rnd.randrange(len(parent))
        child = parent[key]
        if isinstance(child, (dict, list)) and child and rnd.random() < 0.6:
            parent = child
            continue
        action = rnd.random()
        if action < 0.5:
            parent[key] = rnd.choice(ODD_VALUES)
        elif action < 0.75 and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent["zz_" + str(rnd.randrange(3))] = rnd.choice(ODD_VALUES)
        else:
            parent.append(rnd.choice(ODD_VALUES))
        return value


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
def test_shipped_schema_compiles(name, schema):
    assert compile_check(schema) is not None, f"{name}: the connector would fall back to jsonschema on every call"


def agrees(schema: Any, check: Any, reference: Any, candidate: Any, what: str) -> bool:
    """jsonschema's answer for ``candidate``, after checking that the fast check and the
    ``SchemaValidator`` agree with it (the check may say False only where jsonschema decides)."""
    expected = reference.is_valid(candidate)
    fast = check(candidate)
    assert fast is False or expected, f"{what}: the fast check accepted what jsonschema refuses: {json.dumps(candidate, default=repr)[:500]}"
    assert SchemaValidator(schema).is_valid(candidate) is expected, f"{what}: {json.dumps(candidate, default=repr)[:500]} (jsonschema: {expected})"
    return expected


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
def test_agrees_with_jsonschema_on_generated_instances(name, schema):
    check, reference = compile_check(schema), Draft202012Validator(schema)
    rnd = random.Random(name)
    seen = {True: 0, False: 0}
    for _ in range(600):
        value = generate(schema, schema, rnd)
        for candidate in (value, mutate(value, rnd), mutate(mutate(value, rnd), rnd)):
            expected = reference.is_valid(candidate)
            assert check(candidate) is expected, f"{name}: {json.dumps(candidate)[:500]} (jsonschema: {expected})"
            seen[expected] += 1
    assert SchemaValidator(schema).is_valid(value) is reference.is_valid(value)
    assert seen[True] > 20 and seen[False] > 20, f"{name}: the generator reached too few cases: {seen}"


def test_agrees_on_the_manifest_and_its_mutations():
    import yaml

    schema = load_schema_file("manifest.schema.json")
    check, reference = compile_check(schema), Draft202012Validator(schema)
    assert check is not None
    document = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    assert check(document) and reference.is_valid(document)
    rnd = random.Random(7)
    for _ in range(1500):
        candidate = mutate(document, rnd)
        assert check(candidate) is reference.is_valid(candidate), json.dumps(candidate)[:300]


CORNERS: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None, 10**30, -0.0]),
    ({"type": "number"}, [1, 1.5, True, False, "1", float("inf"), float("nan"), 10**400, 1 + 2j]),
    ({"type": ["string", "null"]}, ["", None, 0, False]),
    ({"type": "array"}, [[], (), "ab", {}, (1, 2)]),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, [[1], (1,), [(1,)], {"a": (1,)}, None]),
    ({"type": "object"}, [{}, {1: 2}, {"a": b"x"}, {"a": {1, 2}}]),
    ({"properties": {"a": {"properties": {"b": {"maxItems": 1}}}, "c": {"enum": [[1, 2]]}}},
     [{"a": {"b": (1, 2)}}, {"a": {"b": [1, 2]}}, {"a": ({"b": 1},)}, {"c": (1, 2)}, {"c": [1, 2]}, {"d": (1,)}]),
    ({"$defs": {"n": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/n"}}]}}, "$ref": "#/$defs/n"},
     [(None,), [None, (None,)], [[None], [(None,)]]]),
    ({"type": "string", "pattern": "^a$"}, ["a", "a\n", "b"]),
    ({"enum": [1, "a", None, [1, 2], {"k": False}]}, [1, 1.0, True, "a", None, [1, 2], [1, 2.0], [True, 2], {"k": False}, {"k": 0}]),
    ({"const": False}, [False, 0, 0.0, None, []]),
    ({"const": {"a": [1, {"b": True}]}}, [{"a": [1, {"b": True}]}, {"a": [1, {"b": 1}]}, {"a": [True, {"b": True}]}]),
    ({"uniqueItems": True}, [[1, True], [1, 1.0], [0, False], [[1], [True]], [{"a": 1}, {"a": 1}], ["a", "b"], [None, None]]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, [5, -5, 2.5, -2.5, "x"]),
    ({"anyOf": [{"type": "string"}, {"maxLength": 0}]}, ["abc", 1, None]),
    ({"not": {"type": "object"}}, [{}, [], 1]),
    ({"if": {"properties": {"a": {"const": 1}}, "required": ["a"]}, "then": {"required": ["b"]}, "else": {"maxProperties": 1}},
     [{"a": 1}, {"a": 1, "b": 0}, {"a": 2, "c": 3}, {"a": 2}, []]),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, [{"a": "x", "b": 1}, {"b": "x"}, {"a": 1}, 3]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1, "maxProperties": 2}, [{"ab": 1}, {"A": 1}, {}, {"a": 1, "b": 2, "c": 3}]),
    ({"dependentRequired": {"a": ["b", "c"]}}, [{"a": 1}, {"a": 1, "b": 1, "c": 1}, {"b": 1}, "a"]),
    ({"items": False}, [[], [1], "x"]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2}, [[], ["a"], ["a", 1], ["a", "b", "c"]]),
    ({"pattern": "^a.c$", "minLength": 3, "maxLength": 3}, ["abc", "abcd", "a\nc", "xbc", 3]),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, [0, 0.5, 1, True, "0.5"]),
    ({"$defs": {"n": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/n"}}]}}, "$ref": "#/$defs/n"},
     [None, [], [None, [None]], [1], [[[]], [[2]]]]),
    ({"$ref": "#/$defs/a~1b", "$defs": {"a/b": {"type": "string"}}}, ["x", 1]),
]


@pytest.mark.parametrize(("schema", "instances"), CORNERS, ids=[json.dumps(s)[:60] for s, _ in CORNERS])
def test_corner_cases(schema, instances):
    check, reference = compile_check(schema), Draft202012Validator(schema)
    assert check is not None
    for instance in instances:
        agrees(schema, check, reference, instance, repr(instance))


# Keywords the connector's schemas do not use yet: jsonschema-rs answers them, as jsonschema does.
MORE: list[tuple[dict[str, Any], list[Any]]] = [
    ({"patternProperties": {"^a": {"type": "string"}}}, [{"ab": "x"}, {"ab": 1}, {"b": 1}]),
    ({"prefixItems": [{"type": "integer"}]}, [[1, "x"], ["x"], []]),
    ({"contains": {"type": "string"}}, [[1, "a"], [1], []]),
    ({"multipleOf": 2}, [4, 3, 4.0, "x"]),
    ({"properties": {"a": {}}, "unevaluatedProperties": False}, [{"a": 1}, {"b": 1}]),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"}, [1, "x"]),
]


@pytest.mark.parametrize(("schema", "instances"), MORE, ids=[json.dumps(s)[:60] for s, _ in MORE])
def test_more_keywords_agree(schema, instances):
    check, reference = compile_check(schema), Draft202012Validator(schema)
    assert check is not None
    for instance in instances:
        agrees(schema, check, reference, instance, repr(instance))


@pytest.mark.parametrize("schema", [
    {"$ref": "other.json#/x"},
    {"$ref": "https://example.invalid/schema.json"},  # never fetched
    {"$ref": "#anchor"},
    {"type": "bogus"},
    "not a schema",
])
def test_unsupported_schemas_fall_back(schema):
    assert compile_check(schema) is None


def test_validator_reports_jsonschema_errors_and_builds_it_only_when_needed():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    validator = SchemaValidator(schema)
    assert validator.is_valid({"a": "x"}) and list(validator.iter_errors({"a": "x"})) == []
    assert validator._validator is None  # the happy path never needs jsonschema
    errors = list(validator.iter_errors({"a": 1}))
    assert [e.message for e in errors] == [e.message for e in Draft202012Validator(schema).iter_errors({"a": 1})]
    assert not validator.is_valid({})
    assert validator.schema is schema and validator.evolve(schema={"type": "null"}).is_valid(None)  # the rest: jsonschema's


def test_unsupported_schema_still_validates_through_jsonschema():
    validator = SchemaValidator({"patternProperties": {"^a": {"type": "string"}}})
    assert validator.is_valid({"ab": "x"}) and not validator.is_valid({"ab": 1})


def test_a_status_call_imports_neither_jsonschema_nor_the_emulator():
    code = (
        "import sys, json\n"
        "from connector.cli import main\n"
        "code = main(['run', 'get_request_status', '--input', json.dumps({'app_id': 'fal-ai/flux/dev', 'request_id': 'abc'})])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jsonschema', 'tenacity', 'cryptography', 'pydantic', 'pydantic_core') or m.startswith('connector.emulator'))\n"
        "print(json.dumps({'code': code, 'loaded': loaded}), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL_")}
    env.update(PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p), FAL_QUEUE_URL="http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    found = json.loads(done.stderr.strip().splitlines()[-1])
    out = json.loads(done.stdout)
    assert out["failure"]["type"] == "missing_credentials" and found["code"] == 1  # no key: nothing was sent
    assert found["loaded"] == [], f"a plain call loaded {found['loaded']}"


def test_tuples_are_looked_for_only_where_an_array_keyword_applies():
    status = next(s for s in SPECS if s.id == "get_request_status")
    result = next(s for s in SPECS if s.id == "get_request_response")
    assert tuple_places(status.output_schema) == (("logs",),)
    assert tuple_places(result.output_schema) == ()  # a model's data is free-form: never walked
    assert tuple_places({"$defs": {"n": {"items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}) is None  # recursive: everywhere
    validator = SchemaValidator(result.output_schema)
    assert validator.is_valid({"success": True, "error": None, "failure": None, "data": {"sizes": (1, 2)}})
    assert validator._validator is None  # answered by jsonschema-rs alone
