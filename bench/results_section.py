"""Sections of ``bench/RESULTS.md`` that another script owns, between marker comments.

``bench/run.py`` rewrites the file whole; ``bench/scale.py`` writes only its own section:

    <!-- scale:start -->
    ...
    <!-- scale:end -->

``replace_section`` puts a new block in place of the old one (or appends it), and
``kept_sections`` gives run.py the blocks to carry over into the file it rewrites.
"""

from __future__ import annotations

import re
from pathlib import Path

OWNED = ("scale",)  # the sections other scripts write, in the order they end the file


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _pattern(name: str) -> re.Pattern[str]:
    start, end = markers(name)
    return re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)


def find_section(text: str, name: str) -> str | None:
    """The block named ``name`` (markers included), or None when ``text`` has none."""
    found = _pattern(name).search(text)
    return found.group(0) if found else None


def replace_section(path: Path, name: str, body: str) -> None:
    """Write ``body`` as the section ``name`` of ``path``: in place of the old one, else at the end."""
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    if find_section(text, name) is not None:
        text = _pattern(name).sub(lambda _: block, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)


def kept_sections(path: Path) -> str:
    """The owned sections ``path`` holds now, as text to end a rewritten file with ("" if none)."""
    text = path.read_text() if path.exists() else ""
    blocks = [block for name in OWNED if (block := find_section(text, name)) is not None]
    return "".join(f"\n{block}\n" for block in blocks)
