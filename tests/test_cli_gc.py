"""The command's exit freezes the collector's objects; calling main() in a process changes
nothing about its collector until that process exits."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from connector import cli, cli_gc


def test_the_exit_handler_freezes_the_heap_after_the_output_is_written():
    # The checker is registered first, so (exit handlers run last-registered first) it runs
    # after the command's handler, and sees what the interpreter's teardown will see.
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: sys.stderr.write('frozen %d\\n' % gc.get_freeze_count()))\n"
            "from connector import cli\n"
            "cli.main(['run', 'no_such_action', '--input', '{}'])\n"
            "cli.main(['run', 'no_such_action', '--input', '{}'])\n"
            "sys.stderr.write('before exit %d\\n' % gc.get_freeze_count())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    outputs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["failure"]["type"] for o in outputs] == ["unknown_action", "unknown_action"]  # output as always
    lines = done.stderr.splitlines()
    assert "before exit 0" in lines, done.stderr  # nothing frozen while the program runs
    frozen = [int(line.split()[1]) for line in lines if line.startswith("frozen ")]
    assert len(frozen) == 1 and frozen[0] > 10_000, done.stderr
    assert done.returncode == 0


def test_main_in_a_running_process_leaves_its_collector_alone(capsys, monkeypatch):
    registered = []
    monkeypatch.setattr(cli_gc, "_registered", False)
    monkeypatch.setattr(cli_gc.atexit, "register", registered.append)
    cli.main(["run", "no_such_action", "--input", "{}"])
    cli.main(["run", "no_such_action", "--input", "{}"])
    capsys.readouterr()
    assert registered == [gc.freeze]  # once per process, to run at its exit
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_plain_run_starts_paused_and_runs_its_action_with_the_collector_on(capsys, monkeypatch):
    seen = {}
    real_connector, real_run = cli._connector, cli._run

    def connector():
        seen["building"] = (gc.isenabled(), gc.get_freeze_count())
        return real_connector()

    def run(conn, args, inputs):
        seen["running"] = (gc.isenabled(), gc.get_freeze_count() > 0)
        return real_run(conn, args, inputs)

    monkeypatch.setattr(cli, "_connector", connector)
    monkeypatch.setattr(cli, "_run", run)
    assert cli.main(["run", "get_request_status", "--input", '{"app_id": "fal-ai/x", "request_id": "../x"}']) == 1
    assert json.loads(capsys.readouterr().out)["failure"]["type"] == "invalid_input"
    assert seen == {"building": (False, 0), "running": (True, True)}
    assert gc.isenabled() and gc.get_freeze_count() == 0  # as it was found


def test_a_collector_the_caller_turned_off_or_froze_stays_so(capsys):
    marker = [[]]  # a container the collector tracks
    gc.disable()
    gc.freeze()
    try:
        assert not any(o is marker for o in gc.get_objects())  # frozen objects are in no generation
        cli.main(["run", "no_such_action", "--input", "{}"])
        assert not gc.isenabled() and not any(o is marker for o in gc.get_objects())  # still frozen
    finally:
        gc.unfreeze()
        gc.enable()
    capsys.readouterr()


def test_other_commands_do_not_pause_the_collector(capsys, monkeypatch):
    seen = []
    real = cli.cmd_actions
    monkeypatch.setattr(cli, "cmd_actions", lambda args: (seen.append(gc.isenabled()), real(args))[1])
    cli.main(["actions", "--json"])
    capsys.readouterr()
    assert seen == [True]
