"""Loading the manifest and its schemas, once per process, from the installed package.

``manifest.yaml`` and ``schemas/`` ship inside the wheel and are read through
``importlib.resources``, so an installed package works from any directory. The manifest is
validated against ``schemas/manifest.schema.json`` before it becomes typed ``ActionSpec``s;
a broken manifest fails with a message naming the action and the field. Each schema is made
self-contained by inlining the ``common.json`` definitions it references, so ``describe``
can print it and validation needs no registry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from connector import manifest_cache
from connector.models import Action, ActionSpec, Handler
from connector.operation import DeclaredHandler, Operation, OperationError, compile_operation
from connector.schema_check import SchemaValidator
from connector.schema_refs import ManifestError, bundle, load_schema_file, self_contained
from connector.schema_refs import package_file as _package_file
from connector.schema_walk import copy_json


def spec_from_entry(entry: dict[str, Any], where: str, bundled: Mapping[str, Any] | None = None) -> ActionSpec:
    """An ``ActionSpec`` from a manifest-style entry; schemas may be file names or inline dicts.
    ``bundled``: the entry's schemas, already loaded and made self-contained (kept between starts)."""
    values = dict(entry)
    for key in ("input_schema", "output_schema"):
        if bundled is not None:
            values[key] = self_contained(bundled[key])
            continue
        schema = values.get(key)
        shipped = isinstance(schema, str)
        if shipped:
            schema = load_schema_file(schema)
        if not isinstance(schema, dict):
            raise ManifestError(f"{where}: field {key!r} must name a schema file or be a schema object")
        if not shipped:
            # The package's own schema files are checked against the 2020-12 metaschema by
            # tests/test_schemas.py (that check costs more than all the rest of loading).
            _check_schema(schema, where, key)
        values[key] = bundle(schema, f"{where}: {key}")
    values["aliases"] = tuple(values.get("aliases") or ())
    if isinstance(values.get("operation"), dict):
        # The spec keeps where the call goes; the rest of the declaration is the Operation's.
        values["operation"] = {key: values["operation"][key] for key in ("method", "host", "path") if key in values["operation"]}
    try:
        return ActionSpec(**values)
    except Exception as exc:
        raise ManifestError(f"{where}: {exc}") from None


def _check_schema(schema: dict[str, Any], where: str, key: str) -> None:
    from jsonschema import Draft202012Validator

    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # jsonschema.SchemaError, with a long message
        raise ManifestError(f"{where}: field {key!r} is not a valid JSON Schema: {str(exc).splitlines()[0]}") from None


@functools.lru_cache(maxsize=1)
def _manifest_validator() -> SchemaValidator:
    schema = copy_json(load_schema_file("manifest.schema.json"))  # a copy: the loaded file is shared
    # An operation's parts are each shaped like an operation without parts or uses: the schema
    # file says so in words (its $refs point only into common.json), the loader checks it here.
    operation = schema["properties"]["actions"]["items"]["properties"]["operation"]
    part = {**operation, "properties": {k: v for k, v in operation["properties"].items() if k not in ("parts", "uses")}}
    operation["properties"]["parts"]["additionalProperties"] = part
    return SchemaValidator(schema)


def validate_entries(document: Any, source: str = "manifest.yaml") -> None:
    """Check a manifest document against manifest.schema.json, naming action and field."""
    errors = sorted(_manifest_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    path = list(error.absolute_path)
    where = source
    if len(path) >= 2 and path[0] == "actions" and isinstance(path[1], int):
        entry = document["actions"][path[1]]
        name = entry.get("id") if isinstance(entry, dict) else None
        where += f": action {name!r}" if name else f": action #{path[1] + 1}"
        path = path[2:]
    field = ".".join(str(p) for p in path) or "(top level)"
    raise ManifestError(f"{where}: field {field}: {error.message}")


def load_manifest() -> tuple[ActionSpec, ...]:
    """The built-in action specs, in manifest order (parsed and validated once)."""
    return _load()[0]


def manifest_operation(action_id: str, part: str | None = None) -> Operation:
    """The declared operation of a built-in action (or one of its ``parts``): what handlers
    build their requests from."""
    operation = _load()[1][action_id]
    return operation if part is None else operation.part(part)


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[ActionSpec, ...], _Operations]:
    source = _package_file("manifest.yaml")
    raw = source.read_bytes()
    kept = manifest_cache.read(source, raw)
    if kept is not None:
        try:
            return parse_manifest_operations(kept["document"], bundled=kept["bundled"])
        except (ManifestError, KeyError, TypeError):
            pass  # a kept copy that does not fit this code: load from the files
    document = _parse_yaml(raw.decode("utf-8"))
    loaded = parse_manifest_operations(document)
    manifest_cache.write(source, raw, document, {spec.id: {"input_schema": spec.input_schema, "output_schema": spec.output_schema}
                                                 for spec in loaded[0]})
    return loaded


def _parse_yaml(text: str) -> Any:
    import yaml  # here: importing PyYAML costs more than reading the kept result

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"manifest.yaml is not valid YAML: {exc}") from None


def parse_manifest(document: Any, source: str = "manifest.yaml") -> tuple[ActionSpec, ...]:
    return parse_manifest_operations(document, source)[0]


def parse_manifest_operations(
    document: Any, source: str = "manifest.yaml", *, bundled: Mapping[str, Any] | None = None
) -> tuple[tuple[ActionSpec, ...], _Operations]:
    """The specs of a manifest document and each action's declared ``Operation``, all checked.
    ``bundled`` (action id -> its bundled schemas): kept from a start that validated this very
    document with this very code, so neither is done again."""
    if bundled is None:
        validate_entries(document, source)
    specs = tuple(spec_from_entry(entry, f"{source}: action {entry['id']!r}", None if bundled is None else bundled[entry["id"]])
                  for entry in document["actions"])
    seen: dict[str, str] = {}
    for spec in specs:
        for name in (spec.id, *spec.aliases):
            if name in seen:
                raise ManifestError(f"{source}: action {spec.id!r}: name {name!r} is already used by {seen[name]!r}")
            seen[name] = spec.id
    operations = _Operations(document["actions"], specs, source)
    if bundled is None:
        for spec in specs:
            operations[spec.id]  # noqa: B018 - compiled now: a new document's mistakes fail its load
    return specs, operations


class _Operations(dict[str, Operation]):
    """Each action's ``Operation``, compiled when first asked for.

    A document loaded from the files is compiled whole at once (``parse_manifest_operations``),
    so its mistakes fail the load; a kept one passed those checks when it was kept, and a status
    call needs one operation of the two dozen, so the others are never compiled."""

    def __init__(self, entries: list[dict[str, Any]], specs: tuple[ActionSpec, ...], source: str) -> None:
        super().__init__()
        self._pending = {spec.id: (entry, spec) for entry, spec in zip(entries, specs, strict=True)}
        self._ids = frozenset(self._pending)
        self._source = source

    def __missing__(self, action_id: str) -> Operation:
        entry, spec = self._pending[action_id]  # KeyError for an id the manifest does not have
        try:
            operation = compile_operation(entry, spec.input_schema, spec.output_schema, self._ids)
        except OperationError as exc:
            raise ManifestError(f"{self._source}: action {spec.id!r}: {exc}") from None
        self[action_id] = operation  # compiling twice in a race gives equal operations: harmless
        return operation

    def declares_response(self, action_id: str) -> bool:
        """Whether the action's operation maps the answer (a ``response`` block), uncompiled."""
        return "response" in self._pending[action_id][0]["operation"]


def manifest_spec(action_id: str) -> ActionSpec:
    """The built-in spec of one action id."""
    for spec in load_manifest():
        if spec.id == action_id:
            return spec
    raise KeyError(action_id)


@functools.cache
def _manifest_action(action_id: str, handler: Handler | None) -> Action:
    return Action(manifest_spec(action_id), DeclaredHandler(lambda: manifest_operation(action_id)) if handler is None else handler)


def manifest_actions(handlers: Mapping[str, Handler | None]) -> list[Action]:
    """The built-in actions of ``handlers`` (action id -> handler), for ``register_actions``.
    A ``None`` handler is the generic one, which performs the action's declared operation.

    Built once per process and shared by every ``Connector``: an ``Action`` is never changed
    after it is made, so its bundled schemas and compiled validators are reused, not rebuilt.
    """
    return [_manifest_action(action_id, handler) for action_id, handler in handlers.items()]


def declarative_ids() -> list[str]:
    """The built-in actions the generic handler can perform alone (their operation maps the answer)."""
    specs, operations = _load()
    return [spec.id for spec in specs if operations.declares_response(spec.id)]
