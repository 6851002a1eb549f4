"""Shared schema files and ``$ref`` inlining: what makes a schema self-contained.

Both the manifest and a plugin's inline ``ActionSpec`` schemas refer to ``common.json``'s
definitions; ``bundle`` copies the ones referenced into the schema's own ``$defs``, so
``describe`` can print it and validation needs no registry. This sits below ``models`` and
``manifest`` (both use it), so neither has to import the other to build an ``Action``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, cast

from connector.schema_walk import copy_json, nodes, refs

COMMON = "common.json"
_COMMON_REF = COMMON + "#/$defs/"
_LOCAL_REF = "#/$defs/"


class ManifestError(ValueError):
    """The manifest or a schema it names is broken; the message names action and field."""


def package_file(*parts: str) -> Any:
    return resources.files("connector").joinpath(*parts)


@functools.cache
def load_schema_file(name: str) -> dict[str, Any]:
    """A schema file from ``schemas/``, parsed once (callers get the shared object: do not mutate)."""
    try:
        text = package_file("schemas", name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ManifestError(f"schema file {name!r} not found in the package") from exc
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"schema file {name!r} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise ManifestError(f"schema file {name!r} is not a JSON object")
    return schema


# Schemas known to be self-contained: bundle()'s own results, and the manifest's kept ones.
# Bundling one again would only copy it, so it is given back as it is (a schema is never changed
# once made: an Action shares it with the manifest's spec). The map holds each schema, so its id
# cannot be reused while it is listed.
_SELF_CONTAINED: dict[int, dict[str, Any]] = {}


def self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """Mark ``schema`` (already bundled) as self-contained; returns it."""
    if len(_SELF_CONTAINED) >= 4096:
        _SELF_CONTAINED.clear()  # bundling again costs only time
    _SELF_CONTAINED[id(schema)] = schema
    return schema


def bundle(schema: dict[str, Any], where: str = "schema") -> dict[str, Any]:
    """A copy of ``schema`` with every ``common.json#/$defs/X`` reference made local (a schema
    that is self-contained already comes back as it is)."""
    if _SELF_CONTAINED.get(id(schema)) is schema:
        return schema
    common_defs = load_schema_file(COMMON).get("$defs", {})
    out = copy_json(schema)
    defs: dict[str, Any] = out.setdefault("$defs", {})
    pending: list[str] = []
    for node in nodes(out):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMMON_REF):
            name = ref[len(_COMMON_REF) :]
            node["$ref"] = _LOCAL_REF + name
            pending.append(name)
        elif isinstance(ref, str) and not ref.startswith("#"):
            raise ManifestError(f"{where}: $ref {ref!r} must point into {COMMON} or this schema")
    copied: set[str] = set()
    while pending:
        name = pending.pop()
        if name in copied:
            continue
        if name not in common_defs:
            raise ManifestError(f"{where}: $ref to {COMMON}#/$defs/{name}, which does not exist")
        if name in defs:
            raise ManifestError(f"{where}: local $defs/{name} clashes with {COMMON}'s definition")
        definition = copy_json(common_defs[name])
        # Inside common.json, '#/$defs/Y' means common's Y: copy those along too.
        pending.extend(ref[len(_LOCAL_REF) :] for ref in refs(definition) if ref.startswith(_LOCAL_REF))
        defs[name] = definition
        copied.add(name)
    if not defs:
        del out["$defs"]
    out.pop("$id", None)  # self-contained now; its old base URI would mislead resolvers
    return self_contained(cast(dict[str, Any], out))
