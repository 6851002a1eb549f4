"""connector.schema_walk: the one JSON-Schema walker (node order, references, inlining)."""

from __future__ import annotations

import pytest

from connector.schema_walk import copy_json, def_name, deref, inline_refs, local_defs, nodes, refs, resolve_pointer

DOC = {"a": {"$ref": "#/$defs/x", "b": [{"$ref": "#/definitions/y"}, 1]}, "c": {"d": {}}, "$defs": {"x": {"type": "string"}}}


def test_nodes_come_each_before_its_children_in_key_order():
    assert [sorted(n) for n in nodes(DOC)] == [["$defs", "a", "c"], ["$ref", "b"], ["$ref"], ["d"], [], ["x"], ["type"]]
    assert list(refs(DOC)) == ["#/$defs/x", "#/definitions/y"]


def test_a_copy_shares_nothing():
    copied = copy_json(DOC)
    assert copied == DOC and copied["a"]["b"] is not DOC["a"]["b"]


def test_references_to_named_definitions():
    assert def_name("#/$defs/x") == "x" and def_name("#/definitions/y") == "y" and def_name("#/properties/a") is None
    assert local_defs({"definitions": {"x": {"type": "integer"}, "y": {}}, "$defs": {"x": {"type": "string"}}}) == {"x": {"type": "string"}, "y": {}}


def test_deref_follows_local_references_and_keeps_the_nodes_own_keywords():
    root = {"$defs": {"x": {"type": "string", "description": "theirs"}, "y": {"$ref": "#/$defs/x"}, "t": True},
            "definitions": {"z": {"type": "integer"}}, "properties": {"a": {"type": "null"}}}
    assert deref({"$ref": "#/$defs/x", "description": "mine"}, root) == {"type": "string", "description": "mine"}
    assert deref({"$ref": "#/$defs/y"}, root) == {"type": "string", "description": "theirs"}  # a chain
    assert deref({"$ref": "#/definitions/z"}, root) == {"type": "integer"}
    assert deref({"$ref": "#/properties/a"}, root) == {"type": "null"}
    for left in ({"$ref": "#/$defs/missing"}, {"$ref": "#/$defs/t"}, {"$ref": "other.json#/x"}, {"$ref": "#"}, "x"):
        assert deref(left, root) == left
    loop = {"$defs": {"a": {"$ref": "#/$defs/a"}}}
    assert deref({"$ref": "#/$defs/a"}, loop) == {"$ref": "#/$defs/a"}  # a cycle ends, it does not hang


def test_pointers():
    root = {"$defs": {"a/b": {"type": "string"}, "l": [{"const": 1}]}, "p%": 2}
    assert resolve_pointer(root, "#/$defs/a~1b") == {"type": "string"}
    assert resolve_pointer(root, "#/$defs/l/0") == {"const": 1}
    assert resolve_pointer(root, "#/p%25") == 2 and resolve_pointer(root, "#") is root
    for bad in ("other.json#/x", "#anchor", "#/$defs/nope", "#/$defs/l/x"):
        with pytest.raises(LookupError):
            resolve_pointer(root, bad)


def test_inlining():
    schema = {"type": "object", "properties": {"s": {"$ref": "#/$defs/s", "description": "mine"}}, "$defs": {"s": {"type": "string"}}}
    assert inline_refs(schema) == ({"type": "object", "properties": {"s": {"type": "string", "description": "mine"}}}, False)
    recursive = {"$ref": "#/$defs/n", "$defs": {"n": {"items": {"$ref": "#/$defs/n"}}}}
    assert inline_refs(recursive) == (recursive, True)
    elsewhere = {"properties": {"a": {"$ref": "#/properties/b"}}}
    assert inline_refs(elsewhere) == (elsewhere, True)


def _list_style_operation(field_schema: dict, **defs: dict) -> object:
    from connector.operation import compile_operation

    entry = {"id": "a", "operation": {"method": "GET", "host": "api", "path": "/x",
                                      "query": {"ids": {"field": "ids", "style": "comma"}}}}
    return compile_operation(entry, {"type": "object", "properties": {"ids": field_schema}, **defs}, {"properties": {}})


def test_declared_operations_follow_references_as_the_walker_does():
    # 'style' needs a field that can be a list: found through '#/definitions/...' and chains too.
    assert _list_style_operation({"$ref": "#/definitions/Ids"}, definitions={"Ids": {"type": "array"}})
    assert _list_style_operation({"$ref": "#/$defs/A"}, **{"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"type": ["array", "null"]}}})
    from connector.operation import OperationError

    # A schema that refers back to itself is not a list: refused with the usual error, no RecursionError.
    with pytest.raises(OperationError, match="can be a list"):
        _list_style_operation({"$ref": "#/$defs/L"}, **{"$defs": {"L": {"anyOf": [{"$ref": "#/$defs/L"}, {"type": "string"}]}}})
