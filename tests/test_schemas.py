"""The declarative half: manifest.yaml and schemas/*.json.

Checks, without importing the connector package:

* every schema file is a valid draft 2020-12 schema, follows the file conventions the loader
  relies on, and every ``$ref`` resolves (other files refer only to ``common.json#/$defs/<name>``);
* inlining common.json gives self-contained schemas (what ``fal-connector describe`` prints);
* outputs: every property required, with a default (the runner fills absent ones from it);
* the manifest validates against schemas/manifest.schema.json and matches the documented ids and aliases;
* our outputs are supersets of the seed connector's output schemas (tests/seeds/, extracted
  verbatim from the seed listing);
* realistic success and failure outputs validate, and a catalogue of good and bad inputs is
  accepted or rejected as documented.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
SEEDS = Path(__file__).resolve().parent / "seeds"
BASE_ID = "https://fal-connector.dev/schemas/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
COMMON_REF = re.compile(r"^common\.json#/\$defs/([A-Za-z0-9_]+)$")
LOCAL_REF = re.compile(r"^#/\$defs/([A-Za-z0-9_]+)$")
DATA_KEYWORDS = {"examples", "default", "const", "enum"}  # values are data, not subschemas
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER

# The canonical ids, in manifest order, with their aliases.
EXPECTED_ACTIONS = {
    "add_request_to_queue": ["AddRequestToQueue", "FAL_AI_SUBMIT_ASYNC_JOB"],
    "get_request_status": ["GetRequestStatus", "FAL_AI_QUEUE_GET_STATUS"],
    "stream_request_status": ["FAL_AI_QUEUE_GET_STATUS_STREAM"],
    "get_request_response": ["GetRequestResponse", "FAL_AI_GET_QUEUE_REQUEST_RESULT"],
    "cancel_request": ["CancelRequest", "FAL_AI_CANCEL_QUEUE_REQUEST"],
    "get_models": ["FAL_AI_GET_MODELS"],
    "get_pricing": ["FAL_AI_GET_PRICING"],
    "estimate_pricing": ["FAL_AI_ESTIMATE_PRICING"],
    "get_jwks": ["FAL_AI_GET_JWKS"],
    "verify_webhook": [],
    "subscribe": ["FAL_AI_SUBSCRIBE_ASYNC_JOB"],
    "run_model": ["FAL_AI_RUN_MODEL_SYNC"],
    "upload_file": ["FAL_AI_UPLOAD_FILE"],
    "download_file": ["FAL_AI_DOWNLOAD_FILE"],
    "list_requests": ["FAL_AI_LIST_REQUESTS"],
    "search_requests": ["FAL_AI_SEARCH_REQUESTS"],
    "get_usage": ["FAL_AI_GET_USAGE"],
    "get_analytics": ["FAL_AI_GET_ANALYTICS"],
    "get_billing_events": ["FAL_AI_GET_BILLING_EVENTS"],
    "get_balance": ["FAL_AI_GET_BALANCE"],
    "delete_request_payloads": ["FAL_AI_DELETE_REQUEST_PAYLOADS"],
    "list_workflows": ["FAL_AI_LIST_WORKFLOWS"],
    "get_workflow": ["FAL_AI_GET_WORKFLOW"],
    "sign_file_url": ["FAL_AI_SIGN_FILE_URL"],
}
ACTIONS = list(EXPECTED_ACTIONS)

# Retry classes: submit and run_model are billable (subscribe submits), cancel has its own class.
EXPECTED_RETRY = {a: "read" for a in ACTIONS} | {
    "add_request_to_queue": "billable",
    "subscribe": "billable",
    "run_model": "billable",
    "cancel_request": "cancel",
}
STREAMING = {"stream_request_status", "subscribe"}

# The documented per-action output fields.
ACTION_FIELDS = {
    "add_request_to_queue": ["request_id", "response_url", "status_url", "cancel_url", "queue_position"],
    "get_request_status": ["status", "queue_position", "logs", "metrics", "job_error", "job_error_type"],
    "stream_request_status": ["status", "events", "logs", "metrics", "job_error", "job_error_type"],
    "get_request_response": ["data"],
    "cancel_request": ["cancel_status"],
    "get_models": ["models", "next_cursor", "has_more"],
    "get_pricing": ["prices", "next_cursor", "has_more"],
    "estimate_pricing": ["estimate_type", "total_cost", "currency"],
    "get_jwks": ["keys"],
    "verify_webhook": ["valid", "request_id", "user_id", "timestamp", "payload"],
    "subscribe": ["request_id", "status", "data", "logs", "metrics", "cancelled"],
    "run_model": ["data"],
    "upload_file": ["url", "size", "content_type"],
    "download_file": ["path", "size", "sha256", "content_type", "url"],
    "list_requests": ["items", "next_cursor", "has_more"],
    "search_requests": ["results", "next_cursor", "has_more"],
    "get_usage": ["time_series", "summary", "next_cursor", "has_more"],
    "get_analytics": ["time_series", "summary", "next_cursor", "has_more"],
    "get_billing_events": ["billing_events", "next_cursor", "has_more"],
    "get_balance": ["current_balance", "currency", "username"],
    "delete_request_payloads": ["cdn_delete_results"],
    "list_workflows": ["workflows", "next_cursor", "has_more", "total"],
    "get_workflow": ["workflow", "input_schema"],
    "sign_file_url": ["signed_url"],
}
ALWAYS_A_LIST = {"logs", "events"}


# ----------------------------------------------------------------------------- loading helpers


def load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


SCHEMA_FILES = sorted(p.name for p in SCHEMAS.glob("*.json"))
ACTION_FILES = [f for f in SCHEMA_FILES if f.endswith((".input.json", ".output.json"))]
INPUT_FILES = [f for f in ACTION_FILES if f.endswith(".input.json")]
OUTPUT_FILES = [f for f in ACTION_FILES if f.endswith(".output.json")]
SEED_FILES = sorted(p.name for p in SEEDS.glob("*.output.json"))
COMMON = load("common.json")
DEFS = COMMON["$defs"]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
REGISTRY = Registry().with_resources(
    [(BASE_ID + name, DRAFT202012.create_resource(load(name))) for name in SCHEMA_FILES]
)


def walk_refs(node: Any, path: str = "#"):
    """Yield (json path, object holding a $ref) for every $ref in a schema document."""
    if isinstance(node, dict):
        if "$ref" in node:
            yield path, node
        for key, value in node.items():
            if key not in DATA_KEYWORDS:
                yield from walk_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_refs(value, f"{path}/{i}")


def inline(node: Any, in_common: bool = False) -> Any:
    """Replace every ``common.json#/$defs/x`` (and, inside common, ``#/$defs/x``) by a copy of the
    definition, recursively: the self-contained form ``fal-connector describe`` prints."""
    if isinstance(node, list):
        return [inline(v, in_common) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    if "$ref" in node:
        ref = node["$ref"]
        match = COMMON_REF.match(ref) or (LOCAL_REF.match(ref) if in_common else None)
        if match is None:
            raise AssertionError(f"unexpected $ref {ref!r}")
        out.update(inline(DEFS[match.group(1)], in_common=True))
    for key, value in node.items():
        if key == "$ref":
            continue
        out[key] = copy.deepcopy(value) if key in DATA_KEYWORDS else inline(value, in_common)
    return out


def inlined(name: str) -> dict[str, Any]:
    return inline(load(name))


def validator(name: str, inline_refs: bool) -> Draft202012Validator:
    if inline_refs:
        return Draft202012Validator(inlined(name), format_checker=FORMAT_CHECKER)
    return Draft202012Validator(load(name), registry=REGISTRY, format_checker=FORMAT_CHECKER)


def error_lines(errors) -> str:
    return "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors)


CONDITION_KEYWORDS = {"if", "then", "else", "not"}  # constraints on declared fields, not declarations


def all_property_schemas(node: Any, path: str = "#"):
    """Yield (path, name, subschema) for every declared property (``properties`` entries outside
    if/then/else/not) in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in DATA_KEYWORDS or key in CONDITION_KEYWORDS:
                continue
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    yield f"{path}/properties/{name}", name, sub
                    yield from all_property_schemas(sub, f"{path}/properties/{name}")
            else:
                yield from all_property_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_property_schemas(value, f"{path}/{i}")


def string_schemas(node: Any, path: str = "#"):
    """Yield (path, subschema) for every subschema that admits strings by ``type``."""
    if isinstance(node, dict):
        types = node.get("type")
        if types == "string" or (isinstance(types, list) and "string" in types):
            yield path, node
        for key, value in node.items():
            if key not in DATA_KEYWORDS:
                yield from string_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from string_schemas(value, f"{path}/{i}")


# ----------------------------------------------------------------------------- schema files


def test_expected_files_present():
    expected = {f"{a}.{kind}.json" for a in ACTIONS for kind in ("input", "output")}
    expected |= {"common.json", "manifest.schema.json"}
    assert set(SCHEMA_FILES) == expected, (
        f"missing: {sorted(expected - set(SCHEMA_FILES))}, unexpected: {sorted(set(SCHEMA_FILES) - expected)}"
    )


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_file_is_valid_2020_12(name):
    doc = load(name)
    Draft202012Validator.check_schema(doc)
    problems = []
    if doc.get("$schema") != DRAFT:
        problems.append(f"$schema is {doc.get('$schema')!r}, expected {DRAFT!r}")
    if doc.get("$id") != BASE_ID + name:
        problems.append(f"$id is {doc.get('$id')!r}, expected {BASE_ID + name!r}")
    for key in ("title", "description"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            problems.append(f"missing a non-empty {key!r}")
    if doc.get("type") != "object":
        problems.append(f"top-level type is {doc.get('type')!r}, expected 'object'")
    if doc.get("additionalProperties") is not False:
        problems.append("top level must say additionalProperties: false")
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_refs_resolve_and_follow_the_convention(name):
    doc = load(name)
    problems = []
    for path, holder in walk_refs(doc):
        ref = holder["$ref"]
        if name == "common.json":
            match = LOCAL_REF.match(ref)
            want = "#/$defs/<name>"
        else:
            match = COMMON_REF.match(ref)
            want = "common.json#/$defs/<name>"
        if match is None:
            problems.append(f"{path}: $ref {ref!r} is not of the form {want!r}")
        elif match.group(1) not in DEFS:
            problems.append(f"{path}: $ref {ref!r} names no definition in common.json $defs")
        # The loader inlines by replacing the {"$ref": ...} object; keep it free of siblings so
        # nothing is lost whichever way it merges.
        if set(holder) != {"$ref"}:
            problems.append(f"{path}: $ref object has sibling keys {sorted(set(holder) - {'$ref'})}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_common_has_the_shared_definitions():
    wanted = {"app_id", "request_id", "failure_type", "failure", "log_entry", "status_event", "endpoint_ids", "job_status"}
    assert wanted <= set(DEFS), f"common.json $defs lacks {sorted(wanted - set(DEFS))}"
    failure_types = set(DEFS["failure_type"]["enum"])
    contract_types = {
        "invalid_input", "unknown_action", "missing_credentials", "auth_error", "not_found",
        "rate_limited", "timeout", "connection_error", "server_error", "model_error", "not_ready",
        "already_completed", "outcome_unknown", "invalid_response", "http_error", "signature_invalid",
        "policy_denied", "cancelled",
    }
    assert failure_types == contract_types, f"failure_type differs: {sorted(failure_types ^ contract_types)}"
    failure = DEFS["failure"]
    keys = ["type", "status_code", "retryable", "attempts", "fal_request_id", "retry_after", "detail"]
    assert sorted(failure["required"]) == sorted(keys) and set(failure["properties"]) == set(keys)
    assert failure["additionalProperties"] is False
    assert DEFS["log_entry"]["additionalProperties"] is True, "log entries must pass fal's extra keys through"
    assert DEFS["status_event"]["additionalProperties"] is True, "status events must pass fal's extra keys through"


# Python-only regex syntax; JSON Schema patterns are ECMA-262 (checked with node's RegExp "u"
# mode when the files were written). "$(?!\n)" is used as the end anchor on purpose: Python's "$"
# alone also matches before a trailing newline, so "fal-ai/flux\n" would pass.
NON_PORTABLE = [r"\Z", r"\A", r"\z", "(?P<", "(?i", "(?s", "(?m", "(?x", r"\""]  # \" is invalid in ECMA "u" mode
END_ANCHOR = r"$(?!\n)"


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_patterns_are_portable(name):
    problems = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    bad_bits = [b for b in NON_PORTABLE if b in value]
                    if bad_bits:
                        problems.append(f"{path}: pattern {value!r} uses {bad_bits}")
                    elif value.startswith("^") and not value.endswith(END_ANCHOR):
                        problems.append(f"{path}: anchored pattern {value!r} should end with {END_ANCHOR!r}")
                    re.compile(value)
                elif key not in DATA_KEYWORDS:
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(load(name), "#")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", ACTION_FILES)
def test_inlined_schema_is_self_contained(name):
    schema = inlined(name)
    leftover = [p for p, _ in walk_refs(schema)]
    assert not leftover, f"{name}: $ref left after inlining at {leftover}"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", OUTPUT_FILES)
def test_output_properties_required_with_defaults(name):
    raw = load(name)
    props = raw["properties"]
    action = name.removesuffix(".output.json")
    problems = []
    missing = set(props) - set(raw.get("required", []))
    if missing:
        problems.append(f"properties not in required: {sorted(missing)}")
    for base in ("success", "error", "failure"):
        if base not in props:
            problems.append(f"lacks the common property {base!r}")
    for field in ACTION_FIELDS[action]:
        if field not in props:
            problems.append(f"lacks the documented field {field!r}")
    extra = set(props) - {"success", "error", "failure", *ACTION_FIELDS[action]}
    if extra:
        problems.append(f"declares undocumented fields: {sorted(extra)}")
    for prop, sub in props.items():
        if "default" not in sub and prop not in ("success", "error", "failure"):
            problems.append(f"{prop!r} has no default")
    # After inlining, everything but success carries its default, and the default is valid.
    full = inline(raw)
    for prop, sub in full["properties"].items():
        if prop == "success":
            continue
        if "default" not in sub:
            problems.append(f"{prop!r} has no default after inlining")
            continue
        errors = list(Draft202012Validator(sub).iter_errors(sub["default"]))
        if errors:
            problems.append(f"{prop!r}: default {sub['default']!r} is not valid for it: {errors[0].message}")
        expected_default = [] if prop in ALWAYS_A_LIST else None
        if prop == "valid":
            expected_default = False  # an unverified delivery is not valid: never null
        if sub["default"] != expected_default:
            problems.append(f"{prop!r}: default {sub['default']!r}, expected {expected_default!r}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", ACTION_FILES)
def test_every_property_has_a_description(name):
    schema = inlined(name)
    missing = [p for p, _, sub in all_property_schemas(schema) if not str(sub.get("description", "")).strip()]
    assert not missing, f"{name}: properties without a description: {missing}"


@pytest.mark.parametrize("name", INPUT_FILES)
def test_input_fields_have_examples(name):
    schema = inlined(name)
    missing = [p for p, sub in schema["properties"].items() if not sub.get("examples")]
    assert not missing, f"{name}: input fields without examples: {missing}"


@pytest.mark.parametrize("name", INPUT_FILES)
def test_free_input_strings_are_bounded(name):
    schema = inlined(name)
    unbounded = [p for p, sub in string_schemas(schema) if "maxLength" not in sub and "enum" not in sub and "const" not in sub]
    assert not unbounded, f"{name}: string fields without maxLength: {unbounded}"


def test_defaults_fill_a_bare_failure():
    """The runner builds a failure output from success/error/failure and fills the rest from the
    defaults; that must validate for every action."""
    failure = {"type": "invalid_input", "status_code": None, "retryable": False, "attempts": 0,
               "fal_request_id": None, "retry_after": None, "detail": None}
    for name in OUTPUT_FILES:
        schema = inlined(name)
        out = {"success": False, "error": "invalid input: app_id: expected a string", "failure": failure}
        for prop, sub in schema["properties"].items():
            out.setdefault(prop, copy.deepcopy(sub["default"]) if "default" in sub else None)
        errors = list(validator(name, inline_refs=True).iter_errors(out))
        assert not errors, f"{name}: defaults-filled failure output invalid:\n{error_lines(errors)}"


@pytest.mark.parametrize(
    "out, why",
    [
        ({"success": False, "error": "boom", "failure": None}, "success false needs a failure object"),
        ({"success": False, "error": None, "failure": "FAILURE"}, "success false needs an error line"),
        ({"success": False, "error": "two\nlines", "failure": "FAILURE"}, "error must be one line"),
        ({"success": False, "error": "", "failure": "FAILURE"}, "error must not be empty"),
        ({"success": True, "error": None, "failure": "FAILURE"}, "success true has failure null"),
        ({"success": False, "error": "x", "failure": {"type": "teapot"}}, "failure type and keys are closed"),
    ],
)
def test_output_invariants(out, why):
    failure = {"type": "not_found", "status_code": 404, "retryable": False, "attempts": 1,
               "fal_request_id": None, "retry_after": None, "detail": {"detail": "Not Found"}}
    out = dict(out, data=None)
    if out["failure"] == "FAILURE":
        out["failure"] = failure
    for inline_refs in (True, False):
        assert not validator("run_model.output.json", inline_refs).is_valid(out), f"accepted, but {why}: {out}"


# ----------------------------------------------------------------------------- manifest


def test_manifest_validates_against_its_schema():
    schema = load("manifest.schema.json")
    errors = list(Draft202012Validator(schema, format_checker=FORMAT_CHECKER).iter_errors(MANIFEST))
    assert not errors, "manifest.yaml does not fit schemas/manifest.schema.json:\n" + error_lines(errors)


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda m: m.update(version=2), "version is const 1"),
        (lambda m: m["actions"][0].update(id="AddRequest"), "ids are snake_case"),
        (lambda m: m["actions"][0].update(aliases=["bad-alias"]), "alias pattern"),
        (lambda m: m["actions"][0].update(retry="sometimes"), "retry enum"),
        (lambda m: m["actions"][0]["operation"].update(host="example.com"), "host enum"),
        (lambda m: m["actions"][0]["operation"].update(method="PATCH"), "method enum"),
        (lambda m: m["actions"][0]["annotations"].pop("idempotent"), "annotations need all four"),
        (lambda m: m["actions"][0].pop("output_schema"), "output_schema required"),
        (lambda m: m["actions"][0].update(colour="blue"), "no unknown keys on actions"),
        (lambda m: m["actions"][0].update(input_schema="../etc/passwd"), "schema file names only"),
    ],
)
def test_manifest_schema_rejects(mutate, why):
    manifest = copy.deepcopy(MANIFEST)
    mutate(manifest)
    assert not Draft202012Validator(load("manifest.schema.json")).is_valid(manifest), f"accepted, but {why}"


def test_manifest_ids_and_aliases_are_the_documented_ones():
    got = {a["id"]: a["aliases"] for a in MANIFEST["actions"]}
    assert list(got) == ACTIONS, f"action ids/order differ from the documented ones: {list(got)}"
    for action, aliases in EXPECTED_ACTIONS.items():
        assert got[action] == aliases, f"{action}: aliases {got[action]}, expected {aliases}"


def test_manifest_names_unique():
    seen: dict[str, str] = {}
    clashes = []
    for action in MANIFEST["actions"]:
        for name in [action["id"], *action["aliases"]]:
            if name in seen:
                clashes.append(f"{name!r} used by {seen[name]} and {action['id']}")
            seen[name] = action["id"]
    assert not clashes, "duplicate ids/aliases: " + "; ".join(clashes)


def test_manifest_schema_files_exist_and_all_are_used():
    named = []
    for action in MANIFEST["actions"]:
        for key, kind in (("input_schema", "input"), ("output_schema", "output")):
            file = action[key]
            assert file == f"{action['id']}.{kind}.json", f"{action['id']}: {key} is {file!r}"
            assert (SCHEMAS / file).is_file(), f"{action['id']}: {key} {file!r} does not exist in schemas/"
            named.append(file)
    assert len(named) == len(set(named)), "a schema file is used by two actions"
    unused = set(ACTION_FILES) - set(named)
    assert not unused, f"schema files no action uses: {sorted(unused)}"


@pytest.mark.parametrize("action", MANIFEST["actions"], ids=lambda a: a["id"])
def test_manifest_behaviour_flags(action):
    aid = action["id"]
    assert action["retry"] == EXPECTED_RETRY[aid], f"{aid}: retry {action['retry']!r}, expected {EXPECTED_RETRY[aid]!r}"
    assert action["streaming"] is (aid in STREAMING), f"{aid}: streaming should be {aid in STREAMING}"
    ann = action["annotations"]
    if action["retry"] == "read" and aid not in ("upload_file", "download_file", "delete_request_payloads"):
        assert ann["read_only"] and ann["idempotent"] and not ann["destructive"], f"{aid}: a read is read_only+idempotent"
    if action["retry"] == "billable":
        assert not ann["read_only"] and not ann["idempotent"], f"{aid}: billable work is neither read_only nor idempotent"
    if aid in ("cancel_request", "delete_request_payloads"):
        assert ann["destructive"] and ann["idempotent"] and not ann["read_only"]
    if aid in ("upload_file", "download_file"):
        assert not ann["read_only"]
    assert ann["open_world"], f"{aid}: every action talks to fal (verify_webhook may fetch the JWKS)"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", action["description"].strip()) if s]
    assert 3 <= len(sentences) <= 6, f"{aid}: description has {len(sentences)} sentences, want 3 to 6"


# ----------------------------------------------------------------------------- seeds


ALL_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}


def resolve_local(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        match = LOCAL_REF.match(node["$ref"])
        assert match, f"unexpected seed $ref {node['$ref']!r}"
        node = root["$defs"][match.group(1)]
    return node


def branches(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema (anyOf/oneOf flattened), $refs resolved."""
    node = resolve_local(node, root)
    alts = node.get("anyOf") or node.get("oneOf")
    if alts and "type" not in node:
        return [b for alt in alts for b in branches(alt, root)]
    return [node]


def type_set(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    for b in branches(node, root):
        t = b.get("type")
        if t is None:
            types |= ALL_TYPES
        else:
            types |= {t} if isinstance(t, str) else set(t)
    return types


def covered(seed_types: set[str], our_types: set[str]) -> set[str]:
    """Seed types our schema does not admit (integer is covered by number)."""
    return {t for t in seed_types if t not in our_types and not (t == "integer" and "number" in our_types)}


def compare(seed: dict, seed_root: dict, ours: dict, path: str, problems: list[str]) -> None:
    missing = covered(type_set(seed, seed_root), type_set(ours, {}))
    if missing:
        problems.append(f"{path}: our types {sorted(type_set(ours, {}))} lack seed's {sorted(missing)}")
    seed_objs = [b for b in branches(seed, seed_root) if "object" in (b.get("type") or [])]
    seed_arrs = [b for b in branches(seed, seed_root) if "array" in (b.get("type") or [])]
    our_objs = [b for b in branches(ours, {}) if "object" in (b.get("type") or ALL_TYPES)]
    our_arrs = [b for b in branches(ours, {}) if "array" in (b.get("type") or ALL_TYPES)]
    for sobj in seed_objs:
        for name, sprop in sobj.get("properties", {}).items():
            holders = [o for o in our_objs if name in o.get("properties", {})]
            if not holders:
                problems.append(f"{path}: seed property {name!r} missing from ours")
                continue
            compare(sprop, seed_root, holders[0]["properties"][name], f"{path}/{name}", problems)
            if "default" in sprop and holders[0]["properties"][name].get("default") != sprop["default"]:
                problems.append(f"{path}/{name}: default differs from seed's {sprop['default']!r}")
        if sobj.get("additionalProperties") is True and any(o.get("additionalProperties") is False for o in our_objs):
            problems.append(f"{path}: seed allows additional properties, ours forbids them")
        for o in our_objs:
            lost = set(sobj.get("required", [])) - set(o.get("required", []))
            if lost:
                problems.append(f"{path}: seed requires {sorted(lost)}, ours does not")
    for sarr in seed_arrs:
        if "items" in sarr:
            if not our_arrs or "items" not in our_arrs[0]:
                problems.append(f"{path}: seed has array items, ours none")
            else:
                compare(sarr["items"], seed_root, our_arrs[0]["items"], f"{path}[]", problems)


@pytest.mark.parametrize("seed_file", SEED_FILES)
def test_output_is_superset_of_seed(seed_file):
    seed = json.loads((SEEDS / seed_file).read_text(encoding="utf-8"))
    ours = inlined(seed_file)
    problems: list[str] = []
    compare(seed, seed, ours, "#", problems)
    assert not problems, f"{seed_file} is not a superset of the seed:\n" + "\n".join(problems)


def test_all_four_seeds_present():
    assert SEED_FILES == sorted(
        f"{a}.output.json" for a in ("add_request_to_queue", "cancel_request", "get_request_response", "get_request_status")
    )


def relaxed(node: Any) -> Any:
    """The seed schema without additionalProperties: false. The seed closes its top level, and we
    add ``failure`` and more fields; it closes LogEntry, and our log entries pass
    fal's extra keys (source, labels) through. Everything else the seed says still applies."""
    if isinstance(node, dict):
        return {k: relaxed(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(node, list):
        return [relaxed(v) for v in node]
    return node


# ----------------------------------------------------------------------------- sample outputs

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
QURL = "https://queue.fal.run/fal-ai/flux/requests/" + RID
LOGS = [
    {"message": "Loading model weights", "level": "INFO", "source": "USER", "timestamp": "2026-03-01T12:00:01.123Z"},
    {"timestamp": "2026-03-01T12:00:03.456Z", "message": "100%|##########| 28/28", "labels": {}, "level": None},
]


def failure(type_, status_code=None, retryable=False, attempts=1, fal_request_id=None, retry_after=None, detail=None):
    return {"type": type_, "status_code": status_code, "retryable": retryable, "attempts": attempts,
            "fal_request_id": fal_request_id, "retry_after": retry_after, "detail": detail}


def ok(**fields):
    return {"success": True, "error": None, "failure": None, **fields}


def bad(error, fail, **fields):
    return {"success": False, "error": error, "failure": fail, **fields}


def event(status, **extra):
    base = {"status": status, "queue_position": None, "logs": [], "metrics": None, "job_error": None,
            "job_error_type": None, "request_id": RID}
    return base | extra


SAMPLES: dict[str, tuple[dict, dict]] = {
    "add_request_to_queue": (
        ok(request_id=RID, response_url=QURL, status_url=QURL + "/status", cancel_url=QURL + "/cancel", queue_position=0),
        bad("submit sent but no answer within 30 s; the job may be queued: check your fal dashboard before resubmitting",
            failure("outcome_unknown", attempts=1), request_id=None, response_url=None, status_url=None,
            cancel_url=None, queue_position=None),
    ),
    "get_request_status": (
        ok(status="COMPLETED", queue_position=None, logs=LOGS, metrics={"inference_time": 17.79},
           job_error="Request timed out", job_error_type="request_timeout"),
        bad("fal has no request 80e7… for fal-ai/flux (404): check app_id and request_id",
            failure("not_found", 404, attempts=1, fal_request_id="gw-123", detail="Request not found"),
            status=None, queue_position=None, logs=[], metrics=None, job_error=None, job_error_type=None),
    ),
    "stream_request_status": (
        ok(status="COMPLETED",
           events=[event("IN_QUEUE", queue_position=2), event("IN_PROGRESS", logs=LOGS[:1], metrics={}),
                   event("COMPLETED", logs=LOGS, metrics={"inference_time": 3.2}, gateway_request_id="gw-9")],
           logs=LOGS, metrics={"inference_time": 3.2}, job_error=None, job_error_type=None),
        bad("request did not reach COMPLETED within 300 s (last status IN_PROGRESS); it is still running",
            failure("timeout", None, retryable=True, attempts=1),
            status="IN_PROGRESS", events=[event("IN_PROGRESS", metrics={})], logs=[], metrics={},
            job_error=None, job_error_type=None),
    ),
    "get_request_response": (
        ok(data={"images": [{"url": "https://v3.fal.media/files/abc.png", "width": 1024, "height": 768,
                             "content_type": "image/png"}], "seed": 42, "has_nsfw_concepts": [False],
                 "timings": {"inference": 1.9}, "prompt": "a red fox"}),
        bad("the model rejected the input (422): body.prompt: field required",
            failure("model_error", 422, attempts=1, fal_request_id="gw-7",
                    detail=[{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]),
            data=None),
    ),
    "cancel_request": (
        ok(cancel_status="CANCELLATION_REQUESTED"),
        bad("request already completed; fetch its result with get_request_response",
            failure("already_completed", 400, attempts=1, detail={"status": "ALREADY_COMPLETED"}),
            cancel_status="ALREADY_COMPLETED"),
    ),
    "get_models": (
        ok(models=[{"endpoint_id": "fal-ai/flux/dev",
                    "metadata": {"display_name": "FLUX.1 [dev]", "category": "text-to-image", "status": "active",
                                 "tags": ["flux"], "updated_at": "2026-01-01T00:00:00Z", "is_favorited": None,
                                 "highlighted": False, "pinned": False},
                    "openapi": {"openapi": "3.0.4"}}],
           next_cursor="Mg==", has_more=True),
        bad("fal rate-limited the request (429); retry after 2 s",
            failure("rate_limited", 429, retryable=True, attempts=6, retry_after=2.0,
                    detail={"error": {"type": "rate_limited", "message": "Rate limit exceeded"}}),
            models=None, next_cursor=None, has_more=None),
    ),
    "get_pricing": (
        ok(prices=[{"endpoint_id": "fal-ai/flux/dev", "unit_price": 0.025, "unit": "image", "currency": "USD"},
                   {"endpoint_id": "fal-ai/kling-video", "unit_price": 1, "unit": "video", "currency": "USD", "tier": "x"}],
           next_cursor=None, has_more=False),
        bad("fal refused the API key (401): check FAL_KEY",
            failure("auth_error", 401, attempts=1, detail={"error": {"type": "authorization_error", "message": "Authentication required"}}),
            prices=None, next_cursor=None, has_more=None),
    ),
    "estimate_pricing": (
        ok(estimate_type="historical_api_price", total_cost=3.75, currency="USD"),
        bad("invalid input: endpoints: fal-ai/flux/dev needs call_quantity with historical_api_price",
            failure("invalid_input", attempts=0), estimate_type=None, total_cost=None, currency=None),
    ),
    "get_jwks": (
        ok(keys=[{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1"}]),
        bad("could not connect to https://rest.fal.ai: connection refused",
            failure("connection_error", None, retryable=True, attempts=6), keys=None),
    ),
    "verify_webhook": (
        ok(valid=True, request_id=RID, user_id="github|12345", timestamp=1767225600,
           payload={"request_id": RID, "gateway_request_id": RID, "status": "OK", "error": None,
                    "payload": {"images": [{"url": "https://v3.fal.media/files/x.png"}]}}),
        bad("webhook signature invalid: timestamp is 912 s from now (tolerance 300 s)",
            failure("signature_invalid", attempts=0), valid=False, request_id=None, user_id=None,
            timestamp=None, payload=None),
    ),
    "subscribe": (
        ok(request_id=RID, status="COMPLETED", data={"images": [{"url": "https://v3.fal.media/files/y.png"}], "seed": 7},
           logs=LOGS, metrics={"inference_time": 2.5}, cancelled=None),
        bad("job did not complete within 600 s; cancellation was requested",
            failure("timeout", None, retryable=False, attempts=14), request_id=RID, status="IN_QUEUE",
            data=None, logs=[], metrics=None, cancelled=True),
    ),
    "run_model": (
        ok(data={"output": "Hello!", "usage": {"tokens": 3}}),
        bad("run sent but no answer within 300 s; the model may have run and been billed: check before repeating",
            failure("outcome_unknown", attempts=1), data=None),
    ),
    "upload_file": (
        ok(url="https://v3.fal.media/files/rabbit/abc_photo.png", size=48213, content_type="image/png"),
        bad("invalid input: path: no such file './missing.png'", failure("invalid_input", attempts=0),
            url=None, size=None, content_type=None),
    ),
    "download_file": (
        ok(path="/work/outputs/abc_photo.png", size=48213, sha256="ab" * 32, content_type="image/png",
           url="https://v3.fal.media/files/rabbit/abc_photo.png"),
        bad("GET https://v3.fal.media/files/x.png: the file is larger than the 1024 byte limit (max_bytes); not kept",
            failure("invalid_response", 200, retryable=False, attempts=1), path=None, size=None, sha256=None,
            content_type=None, url=None),
    ),
    "list_requests": (
        ok(items=[{"request_id": RID, "endpoint_id": "fal-ai/flux/dev", "sent_at": "2026-03-01T12:00:00Z",
                   "started_at": "2026-03-01T12:00:01Z", "ended_at": "2026-03-01T12:00:04Z", "status_code": 200,
                   "duration": 3.1, "json_input": {"prompt": "a fox"}, "json_output": None}],
           next_cursor="Mg==", has_more=True),
        bad("list requests: fal answered HTTP 404: Endpoint not found: fal-ai/nope", failure("not_found", 404),
            items=None, next_cursor=None, has_more=None),
    ),
    "search_requests": (
        ok(results=[{"request_id": RID, "endpoint_id": "fal-ai/flux/dev", "similarity": 0.82}], next_cursor=None,
           has_more=False),
        bad("search requests: fal answered HTTP 429: Rate limit exceeded", failure("rate_limited", 429, True, 6),
            results=None, next_cursor=None, has_more=None),
    ),
    "get_usage": (
        ok(time_series=[{"bucket": "2026-03-01T00:00:00+00:00", "results": [
            {"endpoint_id": "fal-ai/flux/dev", "unit": "image", "quantity": 4, "unit_price": 0.025, "cost": 0.1,
             "currency": "USD"}]}], summary=None, next_cursor=None, has_more=False),
        bad("get_usage needs an admin key (fal answered HTTP 403: Access denied)", failure("auth_error", 403),
            time_series=None, summary=None, next_cursor=None, has_more=None),
    ),
    "get_analytics": (
        ok(time_series=None, summary=[{"endpoint_id": "fal-ai/flux/dev", "request_count": 12, "p50_duration": 2.4}],
           next_cursor=None, has_more=False),
        bad("analytics: fal answered HTTP 500: An unexpected error occurred", failure("server_error", 500, True, 6),
            time_series=None, summary=None, next_cursor=None, has_more=None),
    ),
    "get_billing_events": (
        ok(billing_events=[{"request_id": RID, "endpoint_id": "fal-ai/flux/dev", "timestamp": "2026-03-01T12:00:04Z",
                            "output_units": 1, "unit_price": 0.025, "cost_total": 0.025}], next_cursor=None,
           has_more=False),
        bad("get_billing_events needs an admin key (fal answered HTTP 403: Access denied)", failure("auth_error", 403),
            billing_events=None, next_cursor=None, has_more=None),
    ),
    "get_balance": (
        ok(current_balance=24.5, currency="USD", username="my-team"),
        bad("balance: fal answered HTTP 401: Authentication required", failure("auth_error", 401),
            current_balance=None, currency=None, username=None),
    ),
    "delete_request_payloads": (
        ok(cdn_delete_results=[{"link": "https://v3.fal.media/files/rabbit/a.png", "exception": None}]),
        bad("delete payloads: fal answered HTTP 404: Request not found", failure("not_found", 404),
            cdn_delete_results=None),
    ),
    "list_workflows": (
        ok(workflows=[{"name": "my-image-workflow", "title": "My Image Workflow", "user_nickname": "johndoe",
                       "endpoint_ids": ["fal-ai/flux/dev"]}], next_cursor=None, has_more=False, total=1),
        bad("workflows: fal answered HTTP 401: Authentication required", failure("auth_error", 401),
            workflows=None, next_cursor=None, has_more=None, total=None),
    ),
    "get_workflow": (
        ok(workflow={"name": "my-image-workflow", "user_nickname": "johndoe", "contents": {"nodes": {}}},
           input_schema={"prompt": {"name": "prompt", "type": "string"}}),
        bad("workflow: fal answered HTTP 404: Workflow not found", failure("not_found", 404), workflow=None,
            input_schema=None),
    ),
    "sign_file_url": (
        ok(signed_url="https://v3.fal.media/files/b/0a1b/out.png?identity=abc"),
        bad("sign file URL: fal answered HTTP 404: File not found", failure("not_found", 404), signed_url=None),
    ),
}
SAMPLE_CASES = [(a, kind, SAMPLES[a][i]) for a in ACTIONS for i, kind in enumerate(("success", "failure"))]


def test_samples_cover_every_action():
    assert set(SAMPLES) == set(ACTIONS)


@pytest.mark.parametrize("action, kind, out", SAMPLE_CASES, ids=[f"{a}-{k}" for a, k, _ in SAMPLE_CASES])
def test_sample_output_validates(action, kind, out):
    name = f"{action}.output.json"
    for inline_refs in (True, False):
        errors = list(validator(name, inline_refs).iter_errors(out))
        assert not errors, f"{name} ({kind}, inlined={inline_refs}) rejects a realistic output:\n{error_lines(errors)}"
    seed_path = SEEDS / name
    if seed_path.exists():
        seed = relaxed(json.loads(seed_path.read_text(encoding="utf-8")))
        errors = list(Draft202012Validator(seed).iter_errors(out))
        assert not errors, f"seed {name} (relaxed) rejects our {kind} output:\n{error_lines(errors)}"


# ----------------------------------------------------------------------------- input catalogue

DATA = {"prompt": "a red fox in fresh snow"}
B64_OK = "eyJzdGF0dXMiOiJPSyJ9"
HEADERS = {
    "X-Fal-Webhook-Request-Id": RID,
    "X-Fal-Webhook-User-Id": "github|12345",
    "X-Fal-Webhook-Timestamp": "1767225600",
    "X-Fal-Webhook-Signature": "ab" * 64,
}
EPS_50 = [f"fal-ai/model-{i}" for i in range(50)]
QUEUE_ACTIONS = ["get_request_status", "stream_request_status", "get_request_response", "cancel_request"]
SUBMITTING = ["add_request_to_queue", "subscribe", "run_model"]

# (action, input, field the error must name)
GOOD: list[tuple[str, dict]] = [
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": DATA}),
    ("add_request_to_queue", {"app_id": "fast-sdxl", "data": {}}),
    ("add_request_to_queue", {"app_id": "workflows/acme/upscale/v2", "data": DATA}),
    ("add_request_to_queue", {"app_id": "comfy/acme/flow", "data": DATA}),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": DATA, "webhook_url": "https://example.com/hooks/fal?x=1",
                              "priority": "low", "hint": "lora-7f3a", "start_timeout": 1, "max_queue_length": 1}),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "http://127.0.0.1:9000/hook",
                              "priority": "normal", "start_timeout": 30.5}),
    ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": RID}),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "logs": True}),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "logs": False, "timeout": 0.5}),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": "a", "timeout": 86400}),
    ("get_request_response", {"app_id": "fal-ai/flux", "request_id": "req_1.2-3"}),
    ("cancel_request", {"app_id": "fal-ai/flux", "request_id": "A" * 128}),
    ("get_models", {}),
    ("get_models", {"endpoint_id": "fal-ai/flux/dev"}),
    ("get_models", {"endpoint_id": EPS_50, "expand": ["openapi-3.0", "enterprise_status"]}),
    ("get_models", {"q": "upscale", "category": "image-to-image", "status": "deprecated", "limit": 1000, "cursor": "Mg=="}),
    ("get_models", {"expand": []}),
    ("get_pricing", {"endpoint_id": "fal-ai/flux/dev"}),
    ("get_pricing", {"endpoint_id": ["fal-ai/flux/dev", "fal-ai/flux/schnell"]}),
    ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 100}}}),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 0.000001},
                                                                       "fal-ai/kling": {"unit_quantity": 12.5}}}),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {e: {"unit_quantity": 1} for e in EPS_50}}),
    ("get_jwks", {}),
    ("verify_webhook", {"headers": HEADERS, "body": '{"status":"OK"}'}),
    ("verify_webhook", {"headers": {k.lower(): v for k, v in HEADERS.items()}, "body_base64": B64_OK,
                        "tolerance_seconds": 0, "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc"}]}}),
    ("verify_webhook", {"headers": HEADERS, "body": "", "tolerance_seconds": 600.5}),
    ("subscribe", {"app_id": "fal-ai/flux/dev", "data": DATA}),
    ("subscribe", {"app_id": "fal-ai/flux/dev", "data": DATA, "logs": True, "timeout": 60, "priority": "low",
                   "hint": "h", "start_timeout": 10, "max_queue_length": 5, "webhook_url": "https://example.com/h"}),
    ("run_model", {"app_id": "fal-ai/any-llm", "data": {"prompt": "hi"}}),
    ("run_model", {"app_id": "fal-ai/any-llm", "data": {}, "timeout": 3600, "hint": "x", "start_timeout": 2}),
    ("upload_file", {"path": "./inputs/photo.png"}),
    ("upload_file", {"path": "/tmp/x.bin", "file_name": "renamed.bin", "content_type": "application/octet-stream"}),
    ("upload_file", {"data_base64": "iVBORw0KGgo=", "file_name": "photo.png", "content_type": "image/png"}),
    ("upload_file", {"data_base64": "", "file_name": "empty.txt", "content_type": "text/plain; charset=utf-8"}),
    ("upload_file", {"path": "notes.txt", "content_type": 'text/plain;charset="utf-8"'}),
    ("download_file", {"url": "https://v3.fal.media/files/rabbit/abc_photo.png"}),
    ("download_file", {"url": "http://127.0.0.1:8080/cdn/images/64x64/ff0000.png", "dest": "./out/", "overwrite": True,
                       "max_bytes": 1, "timeout": 0.5}),
    ("list_requests", {"endpoint_id": "fal-ai/flux/dev"}),
    ("list_requests", {"endpoint_id": "workflows/acme/upscale", "status": "user_error", "start": "2026-03-01",
                       "end": "2026-03-01T12:00:00.5+02:00", "request_id": RID, "expand": ["payloads"],
                       "sort_by": "duration", "limit": 100, "cursor": "Mg=="}),
    ("search_requests", {"query": "fox", "endpoint_id": ["fal-ai/a", "fal-ai/b"], "min_similarity": 0.5}),
    ("search_requests", {"image_url": "https://v3.fal.media/a.png"}),
    ("get_usage", {}),
    ("get_usage", {"expand": ["summary", "auth_method"], "timeframe": "week", "timezone": "America/New_York"}),
    ("get_analytics", {"endpoint_id": "fal-ai/flux/dev", "expand": ["time_series", "p99_duration"]}),
    ("get_billing_events", {"limit": 10000, "start": "2026-01-01", "end": "2026-03-01"}),
    ("get_balance", {}),
    ("delete_request_payloads", {"request_id": RID}),
    ("list_workflows", {"search": "upscale", "used_endpoint_ids": "fal-ai/flux/dev"}),
    ("get_workflow", {"username": "john_doe", "workflow_name": "my-flow-2"}),
    ("sign_file_url", {"url": "https://v3.fal.media/files/b/0a1b/out.png", "expiration_seconds": 604800}),
]

BAD: list[tuple[str, dict, str]] = [
    # app_id: type and every character class the id rules reject
    *[(a, {"app_id": 42, "data": DATA}, "app_id") for a in SUBMITTING],
    ("add_request_to_queue", {"app_id": "../x", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "a//b", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux?x", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux#frag", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/fl%2Fux", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal ai/flux", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai\\flux", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flüx", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "/fal-ai/flux", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux\n", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/./flux", "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "a/" + "b" * 511, "data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": ["fal-ai/flux"], "data": DATA}, "app_id"),
    # data
    ("add_request_to_queue", {"app_id": "fal-ai/flux"}, "data"),
    ("add_request_to_queue", {"data": DATA}, "app_id"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": "prompt=fox"}, "data"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": [DATA]}, "data"),
    ("run_model", {"app_id": "fal-ai/flux", "data": None}, "data"),
    # submit options
    *[(a, {"app_id": "fal-ai/flux", "data": DATA, "priority": "high"}, "priority") for a in ("add_request_to_queue", "subscribe")],
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "start_timeout": 0.5}, "start_timeout"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "start_timeout": "30"}, "start_timeout"),
    ("run_model", {"app_id": "fal-ai/flux", "data": DATA, "start_timeout": 0}, "start_timeout"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "max_queue_length": 0}, "max_queue_length"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "max_queue_length": 2.5}, "max_queue_length"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "max_queue_length": True}, "max_queue_length"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "javascript:alert(1)"}, "webhook_url"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "https://ex ample.com/"}, "webhook_url"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "https://example.com/\n"}, "webhook_url"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "https://e.com/" + "a" * 2048}, "webhook_url"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "hint": "h" * 257}, "hint"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "hint": "a\r\nX-Injected: 1"}, "hint"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "hint": ""}, "hint"),
    ("add_request_to_queue", {"app_id": "fal-ai/flux", "data": DATA, "logs": True}, "logs"),
    ("run_model", {"app_id": "fal-ai/flux", "data": DATA, "webhook_url": "https://example.com/h"}, "webhook_url"),
    ("run_model", {"app_id": "fal-ai/flux", "data": DATA, "priority": "low"}, "priority"),
    # request_id and logs on every request-scoped action
    *[(a, {"app_id": "fal-ai/flux", "request_id": ".."}, "request_id") for a in QUEUE_ACTIONS],
    *[(a, {"app_id": "fal-ai/flux"}, "request_id") for a in QUEUE_ACTIONS],
    *[(a, {"app_id": "../flux", "request_id": RID}, "app_id") for a in QUEUE_ACTIONS],
    *[(a, {"app_id": "fal-ai/flux", "request_id": RID, "extra": 1}, "extra") for a in QUEUE_ACTIONS],
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "."}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": ""}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "a/b"}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "-abc"}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "abc\n"}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": "A" * 129}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": 12345}, "request_id"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "logs": "yes"}, "logs"),
    ("get_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "logs": 1}, "logs"),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "logs": "true"}, "logs"),
    ("get_request_response", {"app_id": "fal-ai/flux", "request_id": RID, "logs": True}, "logs"),
    # timeouts
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "timeout": 0}, "timeout"),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "timeout": -5}, "timeout"),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "timeout": 86401}, "timeout"),
    ("stream_request_status", {"app_id": "fal-ai/flux", "request_id": RID, "timeout": "300"}, "timeout"),
    ("subscribe", {"app_id": "fal-ai/flux", "data": DATA, "timeout": 0}, "timeout"),
    ("subscribe", {"app_id": "fal-ai/flux", "data": DATA, "timeout": 86401}, "timeout"),
    ("subscribe", {"app_id": "fal-ai/flux", "data": DATA, "logs": "yes"}, "logs"),
    ("run_model", {"app_id": "fal-ai/flux", "data": DATA, "timeout": 3601}, "timeout"),
    ("run_model", {"app_id": "fal-ai/flux", "data": DATA, "timeout": 0}, "timeout"),
    # get_models / get_pricing
    ("get_models", {"endpoint_id": EPS_50 + ["fal-ai/one-too-many"]}, "endpoint_id"),
    ("get_models", {"endpoint_id": []}, "endpoint_id"),
    ("get_models", {"endpoint_id": [""]}, "endpoint_id"),
    ("get_models", {"endpoint_id": ""}, "endpoint_id"),
    ("get_models", {"endpoint_id": 7}, "endpoint_id"),
    ("get_models", {"endpoint_id": "x" * 513}, "endpoint_id"),
    ("get_models", {"expand": ["bogus"]}, "expand"),
    ("get_models", {"expand": "openapi-3.0"}, "expand"),
    ("get_models", {"expand": ["openapi-3.0", "openapi-3.0"]}, "expand"),
    ("get_models", {"limit": 0}, "limit"),
    ("get_models", {"limit": 1001}, "limit"),
    ("get_models", {"limit": "10"}, "limit"),
    ("get_models", {"status": "all"}, "status"),
    ("get_models", {"q": "q" * 257}, "q"),
    ("get_models", {"cursor": "c" * 1025}, "cursor"),
    ("get_models", {"category": 5}, "category"),
    ("get_models", {"search": "flux"}, "search"),
    ("get_pricing", {}, "endpoint_id"),
    ("get_pricing", {"endpoint_id": []}, "endpoint_id"),
    ("get_pricing", {"endpoint_id": EPS_50 + ["x/y"]}, "endpoint_id"),
    ("get_pricing", {"endpoint_id": "fal-ai/flux", "limit": 5}, "limit"),
    # estimate_pricing
    ("estimate_pricing", {"endpoints": {"fal-ai/flux": {"call_quantity": 1}}}, "estimate_type"),
    ("estimate_pricing", {"estimate_type": "historical_api_price"}, "endpoints"),
    ("estimate_pricing", {"estimate_type": "bogus", "endpoints": {"fal-ai/flux": {"call_quantity": 1}}}, "estimate_type"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {}}, "endpoints"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {}}}, "fal-ai/flux"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {"unit_quantity": 1, "call_quantity": 1}}}, "fal-ai/flux"),
    ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux": {"call_quantity": 0}}}, "call_quantity"),
    ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux": {"call_quantity": 1.5}}}, "call_quantity"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {"unit_quantity": 0}}}, "unit_quantity"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {"unit_quantity": "5"}}}, "unit_quantity"),
    ("estimate_pricing", {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux": {"unit_quantity": 5}}}, "fal-ai/flux"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {"call_quantity": 5}}}, "fal-ai/flux"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux": {"unit_quantity": 5, "note": "x"}}}, "note"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"../x": {"unit_quantity": 5}}}, "../x"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {e: {"unit_quantity": 1} for e in EPS_50 + ["x/y"]}}, "endpoints"),
    ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": [{"fal-ai/flux": {"unit_quantity": 5}}]}, "endpoints"),
    # get_jwks
    ("get_jwks", {"url": "https://evil.example/jwks.json"}, "url"),
    # verify_webhook
    ("verify_webhook", {"body": "{}"}, "headers"),
    ("verify_webhook", {"headers": HEADERS}, "body"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "body_base64": B64_OK}, "body"),
    ("verify_webhook", {"headers": HEADERS, "body_base64": "not base64!"}, "body_base64"),
    ("verify_webhook", {"headers": HEADERS, "body_base64": "abc"}, "body_base64"),
    ("verify_webhook", {"headers": HEADERS, "body_base64": B64_OK + "\n"}, "body_base64"),
    ("verify_webhook", {"headers": {"X-Fal-Webhook-Timestamp": 1767225600}, "body": "{}"}, "X-Fal-Webhook-Timestamp"),
    ("verify_webhook", {"headers": [["X-Fal-Webhook-Request-Id", RID]], "body": "{}"}, "headers"),
    ("verify_webhook", {"headers": HEADERS, "body": {"status": "OK"}}, "body"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "tolerance_seconds": -1}, "tolerance_seconds"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "tolerance_seconds": "300"}, "tolerance_seconds"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "jwks": {}}, "keys"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "jwks": {"keys": ["abc"]}}, "keys"),
    ("verify_webhook", {"headers": HEADERS, "body": "{}", "secret": "s"}, "secret"),
    # upload_file
    ("upload_file", {}, "path"),
    ("upload_file", {"file_name": "a.png"}, "path"),
    ("upload_file", {"path": "./a.png", "data_base64": B64_OK, "file_name": "a.png"}, "path"),
    ("upload_file", {"data_base64": B64_OK}, "file_name"),
    ("upload_file", {"data_base64": "%%%", "file_name": "a.png"}, "data_base64"),
    ("upload_file", {"path": ""}, "path"),
    ("upload_file", {"path": 123}, "path"),
    ("upload_file", {"path": "./a.png", "content_type": "png"}, "content_type"),
    ("upload_file", {"path": "./a.png", "content_type": "image/png\r\nX-Evil: 1"}, "content_type"),
    ("upload_file", {"data_base64": B64_OK, "file_name": "a/b.png"}, "file_name"),
    ("upload_file", {"data_base64": B64_OK, "file_name": ".."}, "file_name"),
    ("upload_file", {"data_base64": B64_OK, "file_name": "a\nb"}, "file_name"),
    ("upload_file", {"data_base64": B64_OK, "file_name": "f" * 256}, "file_name"),
    ("upload_file", {"path": "./a.png", "url": "https://example.com/a.png"}, "url"),
    # download_file
    ("download_file", {}, "url"),
    ("download_file", {"url": "ftp://example.com/a.png"}, "url"),
    ("download_file", {"url": "file:///etc/passwd"}, "url"),
    ("download_file", {"url": "https://example.com/a b.png"}, "url"),
    ("download_file", {"url": "https://example.com/a.png\n"}, "url"),
    ("download_file", {"url": "https://example.com/a.png", "dest": ""}, "dest"),
    ("download_file", {"url": "https://example.com/a.png", "max_bytes": 0}, "max_bytes"),
    ("download_file", {"url": "https://example.com/a.png", "max_bytes": 1.5}, "max_bytes"),
    ("download_file", {"url": "https://example.com/a.png", "timeout": 0}, "timeout"),
    ("download_file", {"url": "https://example.com/a.png", "overwrite": "yes"}, "overwrite"),
    ("list_requests", {}, "endpoint_id"),
    ("list_requests", {"endpoint_id": "fal-ai/x", "limit": 0}, "limit"),
    ("list_requests", {"endpoint_id": "fal-ai/x", "start": "01/03/2026"}, "start"),
    ("list_requests", {"endpoint_id": "fal-ai/x", "expand": ["payloads", "payloads"]}, "expand"),
    ("search_requests", {"query": "a", "video_url": "https://x.test/v.mp4"}, "video_url"),
    ("search_requests", {"query": "a", "min_similarity": 2}, "min_similarity"),
    ("search_requests", {}, "query"),
    ("get_usage", {"expand": ["auth_method"]}, "expand"),
    ("get_usage", {"timezone": "Mars/Base; rm"}, "timezone"),
    ("get_analytics", {"endpoint_id": "fal-ai/x", "expand": ["p42_duration"]}, "expand"),
    ("get_billing_events", {"limit": 10001}, "limit"),
    ("delete_request_payloads", {}, "request_id"),
    ("get_workflow", {"username": "a/b", "workflow_name": "w"}, "username"),
    ("sign_file_url", {"url": "https://v3.fal.media/a.png", "expiration_seconds": 604801}, "expiration_seconds"),
    ("sign_file_url", {"url": "ftp://v3.fal.media/a.png", "expiration_seconds": 60}, "url"),
    ("sign_file_url", {"url": "https://v3.fal.media/a.png#frag", "expiration_seconds": 60}, "url"),
]

# Every action rejects an unknown field next to an otherwise valid input.
BAD += [(a, {**next(d for g, d in GOOD if g == a), "unknown_field": 1}, "unknown_field") for a in ACTIONS]


@pytest.mark.parametrize("action, data", GOOD, ids=[f"{a}-{i}" for i, (a, _) in enumerate(GOOD)])
def test_good_input_accepted(action, data):
    name = f"{action}.input.json"
    for inline_refs in (True, False):
        errors = list(validator(name, inline_refs).iter_errors(data))
        assert not errors, f"{name} (inlined={inline_refs}) rejects a valid input {data!r}:\n{error_lines(errors)}"


@pytest.mark.parametrize("action, data, field", BAD, ids=[f"{a}-{f}-{i}" for i, (a, _, f) in enumerate(BAD)])
def test_bad_input_rejected(action, data, field):
    name = f"{action}.input.json"
    for inline_refs in (True, False):
        errors = list(validator(name, inline_refs).iter_errors(data))
        assert errors, f"{name} (inlined={inline_refs}) accepts an invalid input {data!r:.300} (field {field!r})"
        # The error an agent is shown (jsonschema's best_match) must name the offending field.
        best = best_match(errors)
        text = "/".join(map(str, best.absolute_path)) + " " + best.message
        assert field in text, (
            f"{name}: the best error does not name {field!r} for {data!r:.200}: {text[:300]}\n"
            f"all errors:\n{error_lines(errors)}"
        )


def test_catalogue_covers_every_action():
    assert {a for a, _ in GOOD} == set(ACTIONS), f"no good input for {set(ACTIONS) - {a for a, _ in GOOD}}"
    assert {a for a, _, _ in BAD} == set(ACTIONS)


@pytest.mark.parametrize("name", INPUT_FILES)
def test_input_examples_validate(name):
    """Each field's own examples are valid values of that field."""
    schema = inlined(name)
    problems = []
    for prop, sub in schema["properties"].items():
        for example in sub.get("examples", []):
            errors = list(Draft202012Validator(sub, format_checker=FORMAT_CHECKER).iter_errors(example))
            if errors:
                problems.append(f"{prop}: example {example!r:.80} invalid: {errors[0].message[:200]}")
    assert not problems, f"{name}:\n" + "\n".join(problems)
