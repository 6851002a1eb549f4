"""One owner per decision, checked over the package's source with ``ast``.

* ``failure.retryable`` is decided in ``connector/http/retry.py`` alone: nowhere else is it a
  literal ``True``/``False`` or an expression of its own;
* an error is never edited once raised: no assignment to a failure field of an object other
  than ``self`` (``err.type = ...``, ``err.message += ...``, ``err.detail[...] = ...``);
* the HTTP layer uses only public parts of requests (no ``_content``/``_content_consumed``);
* fal's webhook header names are spelt in one module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from connector.errors import ActionError, HTTPStatusError

PACKAGE = Path(__file__).resolve().parent.parent / "connector"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py"))
FIELDS = {"type", "message", "status_code", "retryable", "attempts", "fal_request_id", "retry_after", "detail", "partial"}


def _trees():
    for path in SOURCES:
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_retryable_is_decided_only_in_retry_py():
    allowed = {"http/retry.py", "errors.py"}  # the table, and the constructor's default
    found = []
    for name, tree in _trees():
        if name in allowed:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "retryable":
                value = node.value
                # Only a verdict's answer (``x.retryable``, or a ``retryable`` parameter handed on)
                # or a retry.py function's may be passed on.
                ok = (isinstance(value, ast.Attribute) and value.attr == "retryable") or (
                    isinstance(value, ast.Name) and value.id == "retryable") or (
                    isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "inherited")
                if not ok:
                    found.append(f"{name}:{node.value.lineno}")
    assert found == [], f"retryable decided outside connector/http/retry.py at {found}"


def test_no_error_is_edited_after_it_is_raised():
    found = []
    for name, tree in _trees():
        if name.startswith("emulator/"):
            continue  # the emulator's job records are not errors
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    base = element.value if isinstance(element, ast.Subscript) else element
                    if (isinstance(base, ast.Attribute) and base.attr in FIELDS and isinstance(base.value, ast.Name)
                            and base.value.id in ("exc", "err", "error", "failed", "e")):
                        found.append(f"{name}:{node.lineno}")
    assert found == [], f"an error edited after it was raised at {found}"


def test_the_http_layer_touches_no_private_attribute_of_requests():
    private = {"_content", "_content_consumed"}
    found = [f"{name}:{node.lineno}" for name, tree in _trees() if name.startswith("http/")
             for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in private]
    assert found == []


def test_webhook_header_names_are_spelt_in_one_module():
    found = sorted({name for name, tree in _trees() for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"(?i)x-fal-webhook-[a-z-]+", node.value)})
    assert found == ["fal/webhook_wire.py"]


@pytest.mark.parametrize("error", [
    ActionError("timeout", "slow", status_code=None, retryable=True, attempts=2, partial={"events": [1]}),
    HTTPStatusError("not_found", "gone", response=object(), status_code=404, detail={"detail": "x"}),
])
def test_derive_makes_a_new_error_and_leaves_the_old_one(error):
    before = (error.type, error.message, error.failure(), dict(error.partial))
    new = error.derive(type="already_completed", message="done", retryable=False, partial={"cancel_status": "OK"})
    assert (error.type, error.message, error.failure(), dict(error.partial)) == before
    assert type(new) is type(error) and new is not error
    assert (new.type, new.message, str(new), new.retryable, new.partial) == ("already_completed", "done", "done", False, {"cancel_status": "OK"})
    assert new.status_code == error.status_code and new.detail == error.detail and new.attempts == error.attempts
    if isinstance(error, HTTPStatusError):
        assert new.response is error.response
    with pytest.raises(ValueError, match="unknown failure type"):
        error.derive(type="no_such_type")
