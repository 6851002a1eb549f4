"""Save the files a model's output points at: every object in ``data`` with an http(s) ``url``
(fal's File and Image objects) is fetched with ``download_file`` into one directory, and gets a
``local_path`` beside its ``url``. Used by ``fal-connector run ... --download DIR``.

Each URL is fetched once. Names come from the URLs; a name already taken (in the directory or
earlier in the same output) gets ``-2``, ``-3``, ... before its extension, so nothing is
overwritten.
"""

from __future__ import annotations

import os
from typing import Any

from connector.default_plugins.download import file_name_of


def file_objects(data: Any) -> list[dict[str, Any]]:
    """The objects in ``data`` (walked without recursion) whose ``url`` is an http(s) file URL."""
    found: list[dict[str, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            url = node.get("url")
            if isinstance(url, str) and url.lower().startswith(("https://", "http://")) and url.split("?")[0].rstrip("/").count("/") > 2:
                found.append(node)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def save_result_files(connector: Any, output: dict[str, Any], folder: str) -> list[str]:
    """Download the files of ``output["data"]`` into ``folder`` (created if missing) and add
    ``local_path`` to each file object (``null`` plus ``download_error`` when it failed).
    Returns the errors, one line per file that could not be saved."""
    errors: list[str] = []
    saved: dict[str, dict[str, Any]] = {}  # url -> what it became
    taken: set[str] = set()
    for obj in file_objects(output.get("data")):
        url = obj["url"]
        if url not in saved:
            path = _free_path(folder, file_name_of(url), taken)
            result = connector.run("download_file", {"url": url, "dest": path})
            saved[url] = {"local_path": result["path"]} if result["success"] else {"local_path": None, "download_error": result["error"]}
            if not result["success"]:
                errors.append(f"{url[:200]}: {result['error']}")
        obj.update(saved[url])
    return errors


def _free_path(folder: str, name: str, taken: set[str]) -> str:
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in taken or os.path.lexists(os.path.join(folder, candidate)):
        n += 1
        candidate = f"{stem}-{n}{ext}"
    taken.add(candidate)
    return os.path.join(folder, candidate)
