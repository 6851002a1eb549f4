"""Small files a start keeps for the next one, beside the package's bytecode (``__pycache__``,
or under ``sys.pycache_prefix``): the loaded manifest (``manifest_cache``) and the plugin
entry-point index (``entry_point_index``).

Like bytecode, they are written only where Python writes bytecode, atomically (a temporary file
renamed over the old one, so a reader never sees half a file), and one that cannot be written
(a read-only install) costs nothing but time at the next start.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def beside_bytecode(source: str | Path, name: str) -> Path | None:
    """Where ``name`` is kept for the module or data file ``source``, or None (a zipped package)."""
    try:
        return Path(importlib.util.cache_from_source(str(source))).with_name(name)
    except (NotImplementedError, ValueError):
        return None


def write(path: Path, data: str | bytes, *, replaces: str | None = None) -> None:
    """Keep ``data`` (text is written as UTF-8) at ``path``; ``replaces``: a glob of earlier
    versions beside it, removed."""
    if sys.dont_write_bytecode:
        return
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(replaces) if replaces else ():
            if old != path:
                old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
