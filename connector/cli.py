"""The ``fal-connector`` command: JSON on stdout, diagnostics on stderr.

Exit status: 0 when the output has ``success: true``, 1 when ``success: false`` (input
problems included), 2 for a usage error of the command line itself.
"""

from __future__ import annotations

import functools
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

# Kept here (not imported from connector.agents.groups) so building the parser imports nothing.
GROUPS_HELP = ("offer only the actions of these tool groups, comma-separated: queue, models, platform, "
               "account, storage, webhooks, or all (default: queue,models)")

# Imports of the connector itself happen inside the commands, so `--help` and usage errors
# stay fast and a broken environment is reported as data, not a traceback.


def command() -> int:
    """The ``fal-connector`` console script and ``python -m connector``: ``main()``, and the
    process then ends without tearing the interpreter down (``connector.cli_exit``), and
    requests' optional helpers are imported only if used (``connector.cli_deferred``)."""
    from connector import cli_deferred, cli_exit

    cli_exit.install()
    cli_deferred.install()  # before anything imports requests
    status = main()
    cli_exit.arm(status)
    return status


def main(argv: list[str] | None = None) -> int:
    from connector import cli_gc
    from connector.cli_fast import parse_run

    cli_gc.freeze_heap_at_exit()  # when the process exits: a short command's exit is a noticeable part of it
    _config.cache_clear()  # each command reads the environment as it is now
    plain_run = parse_run(sys.argv[1:] if argv is None else argv)
    if plain_run is not None:  # the common `run` line: no parser to build (start-up time)
        cli_gc.pause_start_up()  # resumed once the Connector is built (cmd_run), at the latest on return
        args: Any = SimpleNamespace(**plain_run, func=cmd_run)
    else:
        parser = _parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_usage(sys.stderr)
            return 2
    if args.verbose:
        from connector import cli_logging  # only when asked: a plain run starts faster

        cli_logging.configure(args.verbose, _config)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`)
        return 1
    except ValueError as exc:
        from connector.config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        sys.stderr.write(f"fal-connector: {exc}\n")  # a bad setting: one line, whatever the command
        return 1
    finally:
        cli_gc.end()


def _parser() -> argparse.ArgumentParser:
    import argparse

    from connector import cli_emulator, cli_help

    parser = argparse.ArgumentParser(prog="fal-connector", description=cli_help.DESCRIPTION,
                                     epilog=cli_help.EXAMPLES[None], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=cli_help.VersionAction)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=cli_help.VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = functools.partial(cli_help.command, sub)

    p = command("actions", "list the actions")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_actions)

    p = command("describe", "show one action: its input fields on a terminal, its spec and schemas as JSON in a pipe")
    p.add_argument("action")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--fields", action="store_true",
                      help="only the input fields, one line each: name (nested ones dotted), type, required, default, description")
    view.add_argument("--json", action="store_true", help="the spec and self-contained schemas as JSON (the default in a pipe)")
    p.set_defaults(func=cmd_describe)

    p = command("run", "run an action and print its output as JSON")
    p.add_argument("action")
    p.add_argument("--input", default=None, metavar="JSON", help="inline JSON, @path/to/file.json, or - for stdin (default {})")
    p.add_argument("--follow", action="store_true", help="print progress (status, logs, retries) live on stderr")
    p.add_argument("--download", default=None, metavar="DIR",
                   help="save every file URL in the output's data under DIR and add local_path beside each url")
    p.set_defaults(func=cmd_run)

    p = command("emulator", "run the local fal.ai emulator; prints export lines (FAL_KEY included)", cli_emulator.EXAMPLE)
    cli_emulator.add_arguments(p)
    p.set_defaults(func=cmd_emulator)

    p = command("export", "print tool definitions of the actions for an agent platform (JSON)")
    p.add_argument("--format", choices=("openai", "anthropic", "mcp", "jsonschema"), default="openai",
                   help="openai (strict function tools), anthropic, mcp, or jsonschema (default openai)")
    p.add_argument("--groups", default=None, metavar="G,G",
                   help=GROUPS_HELP)
    p.set_defaults(func=cmd_export)

    p = command("mcp", "serve the actions as an MCP server over stdio (needs the 'mcp' extra)")
    p.add_argument("--text", choices=("summary", "json"), default="summary",
                   help="text content of results: a short summary (default) or the whole output as JSON")
    p.add_argument("--groups", default=None, metavar="G,G",
                   help=GROUPS_HELP)
    p.set_defaults(func=cmd_mcp)

    p = command("demo", "run a whole job end to end (on the embedded emulator without FAL_KEY)")
    p.add_argument("--real", action="store_true", help="with FAL_KEY set: really call fal.ai (this bills your account)")
    p.add_argument("--engine", choices=("direct", "temporal"), default="direct",
                   help="temporal: 20 jobs as Temporal workflows on a local dev server (needs the 'temporal' extra)")
    p.set_defaults(func=cmd_demo)
    return parser


def _print(obj: Any) -> None:
    from connector.strict_json import dumps

    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(dumps(obj, indent=indent) + "\n")
    sys.stdout.flush()


def _failure(type_: str, message: str) -> dict[str, Any]:
    from connector.errors import ActionError
    from connector.models import failure_output

    return failure_output({}, ActionError(type_, message))


@functools.cache
def _config() -> Any:
    """The settings, read once per command (``-v`` takes the key to mask from them too)."""
    from connector.config import Config

    return Config.load()


def _connector() -> Any:
    from connector import Connector

    return Connector(config=_config())


def cmd_actions(args: argparse.Namespace) -> int:
    actions = _connector().actions()
    if args.json:
        _print(actions)
    else:
        width = max(len(a["id"]) for a in actions)
        for a in actions:
            aliases = f"  (aliases: {', '.join(a['aliases'])})" if a["aliases"] else ""
            sys.stdout.write(f"{a['id']:<{width}}  {a['title']}{aliases}\n")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    conn = _connector()
    spec = conn.describe(args.action)
    if spec is None:
        _print(_failure("unknown_action", f"unknown action {args.action!r}; see `fal-connector actions`"))
        return 1
    if args.fields or (not args.json and sys.stdout.isatty()):
        from connector.cli_describe import render_fields, render_text

        sys.stdout.write(render_fields(spec["input_schema"]) if args.fields else render_text(spec))
    else:
        _print(spec)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from connector.config import ConfigError
    from connector.errors import InvalidInputError

    try:
        conn = _connector()
    except ConfigError as exc:
        return _report(_config_failure(args.action, str(exc)))
    try:
        inputs = _read_input(args.input)
    except InvalidInputError as exc:
        return _report(conn.failed(args.action, exc))  # the action's own fields, as run() would give
    from connector import cli_gc

    cli_gc.resume()  # started: the action's own garbage is collected as usual
    return _run(conn, args, inputs)


def _report(output: dict[str, Any]) -> int:
    from connector.interrupt import report

    report(_print, output)
    return 0 if output.get("success") else 1


def _run(conn: Any, args: argparse.Namespace, inputs: Any) -> int:
    """Run the action; SIGINT/SIGTERM cancel a job it submitted, and the output is printed either way."""
    import contextlib

    from connector.interrupt import run_until_signal

    failed_files: list[str] = []

    def write(output: dict[str, Any]) -> None:
        if args.download is not None and output.get("success"):
            from connector.result_files import save_result_files

            failed_files.extend(save_result_files(conn, output, args.download))
        _print(output)

    with contextlib.ExitStack() as stack:
        on_event = None
        if args.follow:
            from connector.cli_progress import Follower, follow_inputs

            on_event = stack.enter_context(Follower(sys.stderr, args.action))
            inputs = follow_inputs(conn.action(args.action), inputs)
        _output, code = run_until_signal(conn, args.action, inputs, on_event=on_event, write=write)
    for line in failed_files:
        sys.stderr.write(f"fal-connector: not downloaded: {line}\n")
    return 1 if failed_files else code


def _config_failure(action: str, message: str) -> dict[str, Any]:
    """The output of ``run`` when the settings are unusable (so there is no Connector): a
    built-in action's fields at their defaults, so it still fits that action's output schema."""
    from connector.errors import ActionError
    from connector.manifest import load_manifest
    from connector.models import failure_output, output_defaults

    fields: dict[str, Any] = {}
    for spec in load_manifest():
        if action == spec.id or action in spec.aliases:
            fields = output_defaults(spec.output_schema)
    detail = [{"field": "configuration", "message": message, "expected": None}]  # as every invalid_input
    return failure_output(fields, ActionError("invalid_input", message, detail=detail))


def _read_input(raw: str | None) -> Any:
    """The ``--input`` value as data; ``InvalidInputError`` naming the source when it cannot be read."""
    from connector.errors import InvalidInputError
    from connector.strict_json import parse_input

    if raw is None:
        return {}
    source = "--input"
    try:
        if raw == "-":
            source, text = "stdin", sys.stdin.read()
        elif raw.startswith("@"):
            source = raw[1:]
            with open(raw[1:], encoding="utf-8") as fh:
                text = fh.read()
        else:
            text = raw
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise InvalidInputError("--input", f"cannot read {source}: {reason}") from None
    return parse_input(text, source)


def cmd_export(args: argparse.Namespace) -> int:
    from connector.agents.groups import selected_groups

    connector = _connector()
    try:
        groups = selected_groups(connector, args.groups)
    except ValueError as exc:
        _print(_failure("invalid_input", f"--groups: {exc}"))
        return 2
    _print(connector.tool_specs(args.format, groups))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from connector.agents.mcp_server import main as mcp_main

    return mcp_main(args, load_config=_config)


def cmd_emulator(args: argparse.Namespace) -> int:
    from connector.emulator.cli import run_from_args

    return run_from_args(args)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.engine == "temporal":
        from connector.integrations.temporal.demo import main as temporal_demo

        return temporal_demo()
    from connector.demo import main as demo_main

    return demo_main(real=args.real)


if __name__ == "__main__":
    sys.exit(main())
