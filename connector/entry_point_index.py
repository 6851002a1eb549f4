"""Whether any installed distribution declares a plugin entry point, without reading them all
at every start.

Finding entry points means listing every directory on ``sys.path`` and reading the metadata of
every installed distribution: milliseconds in a small environment, more in a large one, on every
start of the command. Nearly always the answer is "none". So the answer is kept in a small file
beside the package's bytecode, keyed by ``sys.path`` and the modification time of each of its
entries: installing or removing a distribution adds or removes a directory (its ``.dist-info``)
in one of them, which changes that entry's time and so the key. A key that does not match is
looked up afresh. Like bytecode, the file is written only where Python writes bytecode, and never
right after a change (a change in the same clock tick could otherwise go unseen).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from connector import kept_files

SETTLED = 2.0  # seconds an entry must be unchanged before an answer about it is kept
KEPT = 16  # answers kept (for as many sys.path configurations), the oldest dropped first


def has_entry_points(group: str) -> bool:
    """True if some distribution on ``sys.path`` declares an entry point in ``group``."""
    key, newest = _key(group)
    path = _cache_path()
    answers: dict[str, bool] = {}
    if path is not None:
        try:
            cached = json.loads(path.read_bytes())
            if isinstance(cached, dict) and isinstance(cached.get("answers"), dict):
                answers = cached["answers"]
        except (OSError, ValueError):
            pass
        if isinstance(answers.get(key), bool):
            return answers[key]
    import importlib.metadata

    found = bool(importlib.metadata.entry_points(group=group))
    if path is not None and time.time() - newest > SETTLED:
        # A few keys side by side: the command and a script elsewhere start with different sys.path.
        kept = {k: v for k, v in list(answers.items())[-(KEPT - 1):] if k != key and isinstance(v, bool)}
        kept_files.write(path, json.dumps({"answers": {**kept, key: found}}))
    return found


def _key(group: str) -> tuple[str, float]:
    """The lookup's key (the group, ``sys.path`` and each entry's modification time) and the
    newest of those times."""
    entries = []
    newest = 0.0
    for entry in sys.path:
        try:
            stat = os.stat(entry or ".")
            entries.append([entry, stat.st_mtime_ns])
            newest = max(newest, stat.st_mtime)
        except OSError:
            entries.append([entry, None])
    text = json.dumps([group, sys.version, entries])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), newest


def _cache_path() -> Path | None:
    return kept_files.beside_bytecode(__file__, "entry-points.json")
