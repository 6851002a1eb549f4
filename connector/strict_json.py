"""Strict JSON in and out: parsing that cannot recurse without bound, and output that any
JSON parser accepts.

* ``parse_json``: ``json.loads`` with a depth bound (a hostile body or input of 100,000
  nested brackets is a ``ValueError``, never a ``RecursionError``);
* ``parse_input``: the same for a caller's input text, as ``invalid_input`` naming where it
  came from;
* ``strict`` / ``dumps``: NaN and infinity (which fal may send, and which Python's ``json``
  would print as the non-JSON ``NaN``/``Infinity``) become ``null``; a lone surrogate (text
  that is not Unicode, so no UTF-8 writer can print it) becomes U+FFFD.
"""

from __future__ import annotations

import json
import math
from typing import Any

from connector.errors import InvalidInputError

MAX_JSON_DEPTH = 128  # deeper answers are refused: nothing downstream may hit Python's recursion limit


def parse_json(content: bytes | str) -> Any:
    """``json.loads``, but a body nested deeper than ``MAX_JSON_DEPTH`` is a ``ValueError`` too
    (no real fal answer comes close; a hostile or broken one must not crash the caller)."""
    try:
        value = json.loads(content)
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    # Nesting can never exceed the number of opening brackets: counting them (in C) spares
    # every ordinary answer the walk below.
    opening = (b"{", b"[") if isinstance(content, bytes) else ("{", "[")
    if content.count(opening[0]) + content.count(opening[1]) <= MAX_JSON_DEPTH:  # type: ignore[arg-type]
        return value
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def parse_input(text: str | bytes, source: str) -> Any:
    """A caller's JSON text (``--input``, a tool call's arguments) as data, or ``invalid_input``
    naming ``source``."""
    try:
        return parse_json(text)
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidInputError(source, f"not valid JSON: {exc}") from None


def strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and every lone surrogate by
    U+FFFD; containers are copied only when something in them changes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if is_unicode(value) else _replace_surrogates(value)
    if isinstance(value, dict):
        items = [(strict(k) if isinstance(k, str) else k, strict(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, (list, tuple)):
        cleaned = [strict(v) for v in value]
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``value`` (non-ASCII kept as is). The common case, data that is
    already strict, costs one ``json.dumps``."""
    try:
        text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(strict(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return text if is_unicode(text) else json.dumps(strict(value), indent=indent, ensure_ascii=False, allow_nan=False)


def _replace_surrogates(text: str) -> str:
    # Through UTF-16: a surrogate pair that arrived as two characters becomes its character,
    # a lone surrogate becomes U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded at all (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
