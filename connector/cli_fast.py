"""The plain ``fal-connector run ACTION --input …`` command line, read without argparse.

A workflow engine starts the command once per step, so its start-up counts: importing argparse
and building the whole parser (every command, every help text) costs more than the rest of
reading the command line. The common shape of ``run`` is read here, into exactly the namespace
argparse would make of it (``tests/test_cli_fast.py`` compares the two on generated command
lines); anything else (another command, ``-v``, ``--help``, an abbreviated or ``--name=value``
option, a value that starts with ``-``, a repeated option, an error) returns None and goes to
argparse, which then behaves as it always did.
"""

from __future__ import annotations

from typing import Any

_VALUED = {"--input": "input", "--download": "download"}
_FLAGS = {"--follow": "follow"}


def parse_run(argv: list[str]) -> dict[str, Any] | None:
    """``run ACTION [--input V] [--follow] [--download DIR]`` (options in any order after
    ACTION) as argparse's namespace fields, or None when argparse should read ``argv``."""
    if len(argv) < 2 or argv[0] != "run" or not _plain(argv[1]):
        return None
    fields: dict[str, Any] = {"verbose": 0, "command": "run", "action": argv[1], "input": None, "follow": False, "download": None}
    seen: set[str] = set()
    i = 2
    while i < len(argv):
        arg = argv[i]
        if arg in seen:
            return None
        seen.add(arg)
        if arg in _FLAGS:
            fields[_FLAGS[arg]] = True
            i += 1
        elif arg in _VALUED and i + 1 < len(argv) and (_plain(argv[i + 1]) or argv[i + 1] == "-"):
            fields[_VALUED[arg]] = argv[i + 1]
            i += 2
        else:
            return None
    return fields


def _plain(value: str) -> bool:
    """A value argparse takes as an argument whatever the parser holds (not an option-like one)."""
    return not value.startswith("-")
