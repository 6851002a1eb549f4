"""The command ends its process without the interpreter's teardown, and only once everything
a normal exit does that anyone could see is done: output, exit status, other exit handlers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# An object freed only when the interpreter's teardown clears sys.modules (it is in no cycle,
# so the collector frozen at exit does not keep it): its finaliser tells which exit it was.
SENTINEL = """
import os, sys, types
class Sentinel:
    def __del__(self):
        os.write(2, b"torn down\\n")
witness = types.ModuleType("witness")
witness.sentinel = Sentinel()
sys.modules["witness"] = witness
del witness
"""


def command(args: list[str], *, before: str = "", inside: str = "") -> subprocess.CompletedProcess[str]:
    """``fal-connector ARGS`` as the console script runs it, with ``before`` run first and
    ``inside`` run within ``main()`` (as a plugin or an action would)."""
    code = SENTINEL + before + textwrap.dedent(f"""
        from connector import cli
        real_main = cli.main
        def main(argv=None):
            {inside or "pass"}
            return real_main(argv)
        cli.main = main
        sys.argv = ["fal-connector", *{args!r}]
        sys.exit(cli.command())
        """)
    return run_python(["-c", code])


def run_python(args: list[str]) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages start-up hooks (a .pth file may register an exit handler of its own,
    # which turns the quick end off; tested below); this test's sys.path is given whole instead.
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})


@pytest.mark.parametrize(("args", "status"), [
    (["actions", "--json"], 0),
    (["run", "get_request_status", "--input", "{}"], 1),  # invalid input: success false
])
def test_the_command_ends_without_teardown_and_keeps_its_status_and_output(args, status):
    done = command(args)
    assert done.returncode == status, done.stderr
    assert "torn down" not in done.stderr  # the process ended before the teardown
    json.loads(done.stdout)  # the whole output was written


def test_a_large_output_through_a_pipe_is_written_whole():
    done = command(["describe", "subscribe", "--json"])
    assert done.returncode == 0 and "torn down" not in done.stderr
    assert json.loads(done.stdout)["id"] == "subscribe" and len(done.stdout) > 10_000


def test_exit_handlers_registered_during_the_command_still_run_first():
    inside = 'import atexit; atexit.register(lambda: sys.stderr.write("handler ran\\\\n"))'
    done = command(["actions", "--json"], inside=inside)
    assert done.returncode == 0
    assert "handler ran" in done.stderr and "torn down" not in done.stderr


def test_an_exit_handler_registered_before_the_command_keeps_the_normal_exit():
    # Registered before the command's own (a sitecustomize, a coverage start-up hook): it must
    # run, and it would run after the command's handler, so the command exits normally.
    before = 'import atexit; atexit.register(lambda: sys.stderr.write("early handler ran\\n"))\n'
    done = command(["run", "get_request_status", "--input", "{}"], before=before)
    assert done.returncode == 1 and json.loads(done.stdout)["success"] is False
    assert "early handler ran" in done.stderr and "torn down" in done.stderr


def test_an_exception_out_of_main_leaves_the_exit_normal():
    done = command(["actions", "--json"], inside='raise RuntimeError("boom")')
    assert done.returncode == 1
    assert "RuntimeError: boom" in done.stderr and "torn down" in done.stderr
    done = command(["run"])  # a usage error: argparse exits with SystemExit(2)
    assert done.returncode == 2 and "usage:" in done.stderr and "torn down" in done.stderr


def test_a_closed_stdout_is_reported_by_the_normal_exit():
    # `fal-connector actions --json | head -c 1`: the reader is gone before the output is flushed.
    code = SENTINEL + textwrap.dedent("""
        import os
        from connector import cli
        r, w = os.pipe()
        os.close(r)
        sys.stdout = os.fdopen(w, "w", buffering=1 << 20)  # held in the buffer until flushed
        sys.argv = ["fal-connector", "actions", "--json"]
        sys.exit(cli.command())
        """)
    done = run_python(["-c", code])
    assert done.returncode == 120, done.stderr  # what Python's own exit gives when the final flush fails
    assert "BrokenPipeError" in done.stderr


def test_python_dash_m_connector_is_the_command():
    done = run_python(["-c", SENTINEL + "sys.argv = ['fal-connector', 'run', 'get_request_status', '--input', '{}']\n"
                      "import runpy; runpy.run_module('connector', run_name='__main__')"])
    assert done.returncode == 1 and json.loads(done.stdout)["failure"]["type"] == "invalid_input"
    assert "torn down" not in done.stderr
