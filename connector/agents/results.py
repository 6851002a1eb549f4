"""Agent-safe outputs: no inline media, and at most ``max_tool_result_bytes`` of JSON.

A model's output can be megabytes (an OpenAPI document, a 50 MB JSON body, base64 images from
``sync_mode``), which overflows an agent's context or costs a fortune in tokens. ``agent_output``
returns a copy of the action's output that

1. never carries media inline: a ``data:`` URI, a base64 string that decodes to a known media
   format (PNG, JPEG, GIF, WebP, WAV, MP3, OGG, FLAC, MP4, WebM, PDF), a value under a key such as
   ``b64_json`` or ``*_base64``, or any base64 run of 4 KiB or more, is replaced by a short note
   saying what it was and how big — even when it is small;
2. fits in ``limit`` bytes of compact JSON: when it does not, long strings (never URLs) are
   replaced by a note first, with the gentlest bound that fits; if that is not enough, long lists
   keep as many of their first items as fit (logs and status events: their last); as a last
   resort whole fields are emptied. URLs, numbers, booleans and short strings (the metadata)
   survive longest.

Nothing is cut silently. Whenever anything changed, a note saying what was left out goes where
the action's output schema accepts an extra property: ``data["_trimmed"]`` for the outputs with a
model ``data`` object (they accept extra properties), otherwise the nearest object of
fal's data that does (a model entry, a status event, a log entry). The result always validates
against the action's output schema; if no place accepts the note (only possible for a plugin's
closed schema) the note still reaches MCP clients in the result's text and ``_meta``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from connector.strict_json import dumps, strict

NOTE_KEY = "_trimmed"
_INDEX = re.compile(r"\[\d+\]")
_B64_RUN = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
_DATA_URI = re.compile(r"^data:([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)?((?:;[^,;\s]*)*),", re.I)
_MEDIA_KEYS = re.compile(r"(^|_)(b64|base64)(_|$)|^b64_json$", re.I)
_MIN_MAGIC_CHARS = 16  # shortest base64 run we test for a media signature
_LONG_BASE64 = 4096  # a base64 run this long is binary data whatever it decodes to
# Shrinking: first long texts (gentlest bound that fits), then list items; URLs are kept up to
# _MAX_URL characters whatever the pass, so every link survives as long as possible.
_ALL = 1 << 62
_TEXT_PASSES = (2000, 500, 120)
_SHORT = 40
_MAX_URL = 4096
_TAIL_LISTS = frozenset({"logs", "events"})  # the newest entries matter most
_MAX_NOTE_ITEMS = 12
_NOTE_RESERVE = 2560  # bytes kept free for the note when shrinking
_PROTECTED = ("success", "error", "failure")
Note = tuple[str, str, Any, int]  # (path, kind, a, b): what was left out where; grouped and worded by _note()
_SUMMARY_INLINE = 600  # a data or detail object this small is shown in the text summary too


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how an agent framework serialises a result)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def agent_output(action: Any, output: dict[str, Any], limit: int) -> dict[str, Any]:
    """``output`` made safe for an agent (see the module docstring); the input is not modified."""
    output = strict(output)  # NaN/Infinity from fal as null: agents' JSON parsers refuse them
    notes: list[Note] = []
    safe = _without_media(output, "", notes)
    size = json_size(safe)
    if not notes and size <= limit:
        return output
    validator = action.output_validator if action is not None else None
    reserve = min(_NOTE_RESERVE, limit // 4)  # room for the note itself
    if size > limit - reserve:
        safe = _shrink(safe, limit - reserve, notes, action.output_defaults if action is not None else {})
    placed = None
    for items in (_MAX_NOTE_ITEMS, 3, 0):
        placed = _place_note(safe, _note(notes, limit, items), validator)
        if placed is None or json_size(placed) <= limit:
            break
    if placed is None:  # no spot in the schema takes a note (a placed note was validated there)
        placed = safe
        if validator is not None and not validator.is_valid(placed):
            # Should not happen (we only shorten strings and lists of fal's data); never return junk.
            placed = _skeleton(action, output)
    return placed


def trim_note(output: dict[str, Any]) -> str | None:
    """The note ``agent_output`` left in an output, if any."""
    return next((node[NOTE_KEY] for node in _nodes(output) if isinstance(node, dict) and isinstance(node.get(NOTE_KEY), str)), None)


def _nodes(node: Any) -> Iterator[Any]:
    """``node`` and everything inside it, depth first, parents before their children."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


# -- media ---------------------------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"\xff\xfb", "audio/mpeg"),
    (b"\xff\xf3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)


def media_kind(value: str) -> str | None:
    """The media type of a string that is inline binary media (data: URI or base64), else None."""
    match = _DATA_URI.match(value[:512])
    if match:
        return match.group(1) or "text/plain"
    if len(value) < _MIN_MAGIC_CHARS or not _B64_RUN.match(value[:8192]):
        return None
    if len(value) >= _LONG_BASE64 and _B64_RUN.match(value):
        return _sniff(value) or "binary data"
    return _sniff(value)


def _sniff(value: str) -> str | None:
    head = value[:64]
    try:
        raw = base64.b64decode(head + "=" * (-len(head) % 4), altchars=b"-_" if ("-" in head or "_" in head) else None)
    except (binascii.Error, ValueError):
        return None
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            return kind
    if raw[:4] == b"RIFF" and raw[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if raw[8:12] == b"WEBP" else "audio/wav"
    if raw[4:8] == b"ftyp":
        return "video/mp4"
    return None


def _without_media(node: Any, path: str, notes: list[Note], key: str = "") -> Any:
    if isinstance(node, str):
        kind = media_kind(node)
        if kind is None and key and _MEDIA_KEYS.search(key) and len(node) >= _MIN_MAGIC_CHARS and _B64_RUN.match(node[:8192]):
            kind = "base64 data"
        if kind is None:
            return node
        notes.append((path or "value", "media", kind, len(node)))
        return (
            f"[omitted: inline {kind}, {len(node):,} characters of base64; inline media is never returned to an agent — "
            "ask the model for a URL (e.g. without sync_mode) or fetch the result outside the agent]"
        )
    if isinstance(node, dict):
        return {k: _without_media(v, _join(path, k), notes, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_media(v, f"{path}[{i}]", notes, key) for i, v in enumerate(node)]
    return node


# -- size ----------------------------------------------------------------------------------


def _shrink(output: dict[str, Any], budget: int, notes: list[Note], defaults: dict[str, Any]) -> dict[str, Any]:
    def attempt(max_chars: int, max_items: int) -> tuple[dict[str, Any], list[Note], int]:
        pass_notes: list[Note] = []
        shrunk = {k: (v if k in _PROTECTED else _shrink_node(v, k, max_chars, max_items, pass_notes)) for k, v in output.items()}
        return shrunk, pass_notes, json_size(shrunk)

    # 1. Shorter texts, every list item kept: the gentlest pass that fits (tightest one first,
    #    so that a list too long to fit anyway costs one pass here, not four).
    best = attempt(_SHORT, _ALL)
    if best[2] <= budget:
        for max_chars in _TEXT_PASSES:
            gentler = attempt(max_chars, _ALL)
            if gentler[2] <= budget:
                best = gentler
                break
    else:
        # 2. Lists cut too: as many items as fit, estimated from two small passes, then checked.
        best = attempt(_SHORT, 10)
        if best[2] > budget:
            for items in (5, 2, 1):
                best = attempt(_SHORT, items)
                if best[2] <= budget:
                    break
        else:
            larger = attempt(_SHORT, 20)
            if larger[2] <= budget:
                per_item = max((larger[2] - best[2]) / 10, 1.0)
                best = larger
                items = int(20 + (budget - larger[2]) / per_item)
                while items > 20:
                    tried = attempt(_SHORT, items)
                    if tried[2] <= budget:
                        best = tried
                        break
                    items = int(items * 0.8)
    result, pass_notes, size = best
    notes.extend(pass_notes)
    if size <= budget:
        return result
    # 3. Last resort: the largest fields are emptied (to the schema's default for a scalar).
    for key in sorted((k for k in result if k not in _PROTECTED), key=lambda k: -json_size(result[k])):
        if json_size(result) <= budget:
            break
        value = result[key]
        empty = {} if isinstance(value, dict) else [] if isinstance(value, list) else defaults.get(key)
        if value == empty:
            continue
        notes.append((key, "field", json_size(output[key]), 0))
        result = {**result, key: copy.deepcopy(empty)}
    return result


def _shrink_node(node: Any, path: str, max_chars: int, max_items: int, notes: list[Note]) -> Any:
    if isinstance(node, str):
        if _is_url(node) and len(node) <= _MAX_URL:
            return node
        if len(node) <= max_chars:
            return node
        notes.append((path, "string", len(node), 0))
        return f"[trimmed: {len(node):,} characters]"
    if isinstance(node, dict):
        return {k: _shrink_node(v, _join(path, k), max_chars, max_items, notes) for k, v in node.items()}
    if isinstance(node, list):
        if len(node) > max_items:
            tail = path.rsplit(".", 1)[-1] in _TAIL_LISTS
            kept = node[-max_items:] if tail else node[:max_items]
            notes.append((path, "last" if tail else "first", max_items, len(node)))
            offset = len(node) - max_items if tail else 0
            return [_shrink_node(v, f"{path}[{offset + i}]", max_chars, max_items, notes) for i, v in enumerate(kept)]
        return [_shrink_node(v, f"{path}[{i}]", max_chars, max_items, notes) for i, v in enumerate(node)]
    return node


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and " " not in value[:200]


# -- the note ------------------------------------------------------------------------------


def _note(notes: list[Note], limit: int, items: int) -> str:
    groups: dict[tuple[str, str], list[Note]] = {}
    for note in notes:
        groups.setdefault((_INDEX.sub("[*]", note[0]), note[1]), []).append(note)
    lines = [_words(path, kind, group) for (path, kind), group in groups.items()]
    shown = lines[:items]
    left = len(lines) - len(shown)
    listed = "; ".join(shown) + (f"; and {left} more" if shown and left else f"{left} parts" if left else "")
    return (
        f"Result shortened for the agent (max_tool_result_bytes {limit:,}) — left out: {listed}. "
        "URLs and metadata are kept; fetch the full output outside the agent (e.g. get_request_response with the request_id)."
    )


def _words(path: str, kind: str, group: list[Note]) -> str:
    n = len(group)
    if kind == "media":
        kinds = sorted({g[2] for g in group})
        what = f"{n} inline media values" if n > 1 else "inline media"
        return f"{path}: {what} ({', '.join(kinds)}, {max(g[3] for g in group):,} characters of base64{' at most' if n > 1 else ''}) replaced by a note"
    if kind == "string":
        if n == 1:
            return f"{path}: a {group[0][2]:,}-character string"
        return f"{path}: {n} strings of up to {max(g[2] for g in group):,} characters"
    if kind == "field":
        return f"{path}: the whole field ({group[0][2]:,} bytes)"
    kept, total = group[0][2], max(g[3] for g in group)
    if n == 1:
        return f"{path}: all but the {kind} {kept} of {total:,} items"
    return f"{path}: {n} lists cut to their {kind} {kept} items (of up to {total:,})"


def _place_note(output: dict[str, Any], note: str, validator: Any) -> dict[str, Any] | None:
    """``output`` with the note in the first place the schema accepts it, or None."""
    for path in _candidates(output):
        candidate = copy.copy(output)
        target = _copy_path(candidate, path)
        target[NOTE_KEY] = note
        if validator is None or validator.is_valid(candidate):
            return candidate
    return None


def _candidates(output: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of the objects that could take a note: ``data`` first, then fal's nested objects."""
    paths: list[tuple[Any, ...]] = []
    if isinstance(output.get("data"), dict):
        paths.append(("data",))

    def walk(node: Any, path: tuple[Any, ...], depth: int) -> None:
        if depth > 4 or len(paths) > 40:
            return
        if isinstance(node, dict):
            if path and path != ("data",):
                paths.append(path)
            for key, value in node.items():
                walk(value, (*path, key), depth + 1)
        elif isinstance(node, list) and node:
            walk(node[0], (*path, 0), depth + 1)

    for key, value in output.items():
        if key not in _PROTECTED:
            walk(value, (key,), 1)
    return paths


def _copy_path(root: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    """Shallow-copy each container along ``path`` (so the original stays untouched); the last one."""
    node: Any = root
    for step in path:
        child = node[step]
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        node = child
    result: dict[str, Any] = node
    return result


def _skeleton(action: Any, output: dict[str, Any]) -> dict[str, Any]:
    out = dict(action.output_defaults)
    out.update({k: output[k] for k in _PROTECTED if k in output})
    return out


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


# -- text for MCP clients ------------------------------------------------------------------


def summary(action_id: str, output: dict[str, Any], max_urls: int = 5) -> str:
    """A short text for the agent: what happened, the ids and files, and where the rest is."""
    if not output.get("success"):
        failure = output.get("failure") or {}
        kind = failure.get("type", "error")
        retry = " (retryable)" if failure.get("retryable") else ""
        text = f"{action_id} failed: {kind}{retry}: {output.get('error')}"
        if output.get("request_id"):
            text += f" [request_id {output['request_id']}]"
        detail = failure.get("detail")
        if detail is not None and json_size(detail) <= _SUMMARY_INLINE:
            text += f" Detail: {dumps(detail)}"
        return text
    parts = [f"{action_id} succeeded"]
    for key in ("request_id", "status", "cancel_status", "queue_position", "valid", "url", "size", "content_type"):
        if output.get(key) is not None:
            parts.append(f"{key} {output[key]}")
    if output.get("total_cost") is not None:
        parts.append(f"total_cost {output['total_cost']} {output.get('currency') or ''}".rstrip())
    for key in ("models", "prices", "keys", "events", "logs"):
        if isinstance(output.get(key), list) and output[key]:
            parts.append(f"{len(output[key])} {key}")
    if output.get("job_error"):
        parts.append(f"job_error {output['job_error']!r}")
    text = parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "") + "."
    data = output.get("data")
    urls = _urls(data, max_urls + 1)
    if data is not None and not urls and json_size(data) <= _SUMMARY_INLINE:
        text += f" Data: {dumps(data)}."
    if urls:
        shown = urls[:max_urls]
        text += " Files: " + ", ".join(shown) + (" (more in the structured result)" if len(urls) > max_urls else "") + "."
    note = trim_note(output)
    if note:
        text += " " + note
    return text + " The full result is in the structured content."


def _urls(node: Any, limit: int) -> list[str]:
    found: list[str] = []
    for value in _nodes(node):
        if len(found) >= limit:
            break
        if isinstance(value, str) and _is_url(value) and value not in found:
            found.append(value)
    return found
