"""The built-in manifest as it was last loaded and checked, kept between starts.

Loading the manifest means parsing the YAML, validating it against ``manifest.schema.json`` and
making every action's schemas self-contained: together more than the rest of a status call's
start-up. Their result depends only on ``manifest.yaml``, the schema files and the code that does
the work, so it is kept beside the package's bytecode (``__pycache__``, or under
``sys.pycache_prefix``): the parsed document and each action's bundled schemas, in ``marshal``'s
format, which Python reads for its bytecode too (faster than JSON: ~1 ms of a status call's
start-up on the benchmark machine). A start whose files and code are unchanged reads it instead
of doing the work again.

The key is a digest of the manifest's bytes, plus the size and modification time of every schema
file and of the modules that load them (as Python keys bytecode to its source), and the Python
that wrote it (``marshal``'s format is its own): changing any of them makes the kept copy miss,
and it is rebuilt from the files. Like bytecode, it is written only where Python writes
bytecode, and a stale or missing copy costs nothing but time.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from connector import kept_files

# The modules whose code turns the files into the kept result.
_CODE = ("manifest.py", "operation.py", "schema_refs.py", "schema_walk.py", "schema_check.py", "models.py")


def read(source: Any, raw: bytes) -> dict[str, Any] | None:
    """The kept ``{"document", "bundled"}`` for this manifest, or None."""
    path = _path(source, raw)
    if path is None:
        return None
    try:
        kept = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):  # missing, or not a whole marshal file
        return None
    if not isinstance(kept, dict) or not isinstance(kept.get("bundled"), dict) or "document" not in kept:
        return None
    return kept


def write(source: Any, raw: bytes, document: Any, bundled: dict[str, Any]) -> None:
    """Keep the checked ``document`` and its actions' ``bundled`` schemas (id -> {input_schema,
    output_schema}). Not kept when marshal cannot carry the document (YAML dates)."""
    path = _path(source, raw)
    if path is None:
        return
    try:
        data = marshal.dumps({"document": document, "bundled": bundled})
    except ValueError:
        return
    kept_files.write(path, data, replaces=f"manifest.{_TAG}.*")  # earlier versions: only the current one is of use


def _path(source: Any, raw: bytes) -> Path | None:
    if not isinstance(source, Path):
        return None  # a zipped package: nothing kept
    digest = hashlib.blake2b(raw, digest_size=16, person=marshal.version.to_bytes(4, "little"))
    package = source.parent
    try:
        schemas = sorted(os.scandir(package / "schemas"), key=lambda entry: entry.name)
        stamps = [(entry.name, entry.stat()) for entry in schemas]
    except OSError:
        return None
    for name in _CODE:
        try:
            stamps.append((name, os.stat(package / name)))
        except FileNotFoundError:  # a module shipped as bytecode only
            continue
        except OSError:
            return None
    for name, stat in stamps:
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return kept_files.beside_bytecode(source, f"manifest.{_TAG}.{digest.hexdigest()[:24]}.marshal")


_TAG = sys.implementation.cache_tag  # as in bytecode file names: one kept copy per Python
