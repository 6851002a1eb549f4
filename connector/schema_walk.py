"""Walking JSON Schemas: visiting every node, and following local ``$ref`` references.

The one place that knows how a schema document is traversed. Used to bundle the shared
``common.json`` definitions into each schema (``manifest``), to inline references for agent
tools (``agents.export``), to read tool-call arguments against their schema (``agents.tools``)
and to find where the validator must look for tuples (``schema_check``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

# Local references to a named definition: '#/$defs/name' (2020-12) or '#/definitions/name' (older drafts).
DEFS_PREFIXES = ("#/$defs/", "#/definitions/")


def copy_json(node: Any) -> Any:
    """``copy.deepcopy`` for JSON data, several times faster (schemas are copied per Action)."""
    if isinstance(node, dict):
        return {key: copy_json(value) for key, value in node.items()}
    if isinstance(node, list):
        return [copy_json(value) for value in node]
    if node is None or isinstance(node, (str, int, float)):
        return node
    return copy.deepcopy(node)


def nodes(document: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON document, each before its children, in key order (iterative).

    A caller may change the values of the object it is given (such as its ``$ref``) before the
    walk goes on into it."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def refs(document: Any) -> Iterator[str]:
    """Every ``$ref`` string in a JSON document, in the order of ``nodes``."""
    for node in nodes(document):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref


def local_defs(schema: Any) -> dict[str, Any]:
    """The named definitions of a schema's root (``$defs`` wins over ``definitions``)."""
    if not isinstance(schema, dict):
        return {}
    return {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}


def def_name(ref: Any) -> str | None:
    """The definition name of a '#/$defs/name' or '#/definitions/name' reference, else None."""
    if isinstance(ref, str):
        for prefix in DEFS_PREFIXES:
            if ref.startswith(prefix):
                return ref[len(prefix) :]
    return None


def deref(node: Any, root: Any, limit: int = 32) -> Any:
    """``node`` with its chain of local ``$ref`` ('#/...') followed within ``root``; the node's
    own keywords (a description) win over the target's. A reference that points nowhere, or to
    something that is not a schema object, is left in place; a cycle stops after ``limit`` steps."""
    for _ in range(limit):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        try:
            target = resolve_pointer(root, ref)
        except LookupError:
            return node
        if not isinstance(target, dict):
            return node
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def resolve_pointer(root: Any, ref: str) -> Any:
    """The node a local reference ('#', '#/a/b~1c', percent-encoded) points to in ``root``.

    Raises ``LookupError`` for a reference that is not a local JSON pointer or points nowhere."""
    from urllib.parse import unquote

    if not ref.startswith("#"):
        raise LookupError(f"not a local reference: {ref!r}")
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        raise LookupError(f"anchors are not followed: {ref!r}")
    node = root
    for part in fragment.split("/")[1:] if fragment else []:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise LookupError(f"{ref!r} points nowhere") from None
    return node


class RefCycle(Exception):
    """A reference that is recursive, or to a definition this schema does not have."""


def inline_refs(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``schema`` with every reference to a named definition replaced by its target and the
    definitions dropped; ``(copy, False)``, or ``(unchanged copy, True)`` when a reference is
    recursive or points elsewhere and so cannot be inlined."""
    defs = local_defs(schema)

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(v, stack) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = def_name(ref)
            if name is None or name not in defs or ref in stack:
                raise RefCycle(ref)
            merged = walk(defs[name], (*stack, ref))
            siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
            return {**merged, **siblings} if isinstance(merged, dict) else merged
        return {k: walk(v, stack) for k, v in node.items()}

    root = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    try:
        return walk(root, ()), False
    except RefCycle:
        return copy.deepcopy(schema), True
