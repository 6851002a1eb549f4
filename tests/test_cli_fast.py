"""The plain ``run`` command line is read without argparse, into exactly what argparse makes of it."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.cli import _parser, cmd_run
from connector.cli_fast import parse_run

TOKENS = ["run", "get_request_status", "subscribe", "--input", "--follow", "--download", "-", "{}", '{"a": 1}', "@in.json",
          "dir", "-v", "--verbose", "--inp", "--fol", "--input={}", "--", "-1", "", "x y", "--help", "actions", "-h", "--json"]


def _argparse(argv: list[str]) -> dict[str, Any] | None:
    """What argparse makes of ``argv``: the namespace's fields, or None for a usage error."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return vars(_parser().parse_args(argv))
        except SystemExit:
            return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7).map(lambda rest: ["run", *rest]) | st.lists(st.sampled_from(TOKENS), max_size=7))
def test_the_fast_reading_is_argparse_s_or_steps_aside(argv):
    fast = parse_run(argv)
    if fast is None:
        return
    expected = _argparse(argv)
    assert expected is not None, f"argparse refuses {argv}, the fast path took it"
    assert expected.pop("func") is cmd_run
    assert fast == expected


def test_the_usual_lines_take_the_fast_path():
    assert parse_run(["run", "get_request_status", "--input", '{"a": 1}']) == {
        "verbose": 0, "command": "run", "action": "get_request_status", "input": '{"a": 1}', "follow": False, "download": None}
    assert parse_run(["run", "subscribe", "--follow", "--input", "-", "--download", "out"]) == {
        "verbose": 0, "command": "run", "action": "subscribe", "input": "-", "follow": True, "download": "out"}
    assert parse_run(["run", "get_models"])["input"] is None


def test_anything_else_goes_to_argparse():
    for argv in (["-v", "run", "x"], ["run", "x", "-v"], ["run", "x", "--inp", "{}"], ["run", "x", "--input={}"],
                 ["run", "x", "--input", "{}", "--input", "{}"], ["run", "x", "--input"], ["run", "--help"], ["run"],
                 ["run", "x", "--input", "-1"], ["actions"], ["run", "x", "extra"]):
        assert parse_run(argv) is None, argv


def test_a_plain_run_does_not_import_argparse():
    code = ("import sys; from connector import cli; "
            "cli.main(['run', 'no_such_action', '--input', '{}']); "
            "print('argparse' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
