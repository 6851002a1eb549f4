"""The ``fal-connector`` command (CONTRACT §4): JSON on stdout, diagnostics on stderr.

Exit status: 0 when the output has ``success: true``, 1 when ``success: false`` (input
problems included), 2 for a usage error of the command line itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# Imports of the connector itself happen inside the commands, so `--help` and usage errors
# stay fast and a broken environment is reported as data, not a traceback.


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fal-connector", description="fal.ai as declared, JSON-Schema-typed actions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("actions", help="list the actions")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_actions)

    p = sub.add_parser("describe", help="print one action's spec and self-contained schemas as JSON")
    p.add_argument("action")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("run", help="run an action and print its output as JSON")
    p.add_argument("action")
    p.add_argument("--input", default=None, metavar="JSON", help="inline JSON, @path/to/file.json, or - for stdin (default {})")
    p.add_argument("--follow", action="store_true", help="print progress (status, logs, retries) live on stderr")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("emulator", help="run the local fal.ai emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    p.add_argument("--key", default=None, help="require this API key (default: accept any)")
    p.set_defaults(func=cmd_emulator)

    p = sub.add_parser("export", help="print tool definitions of every action for an agent platform (JSON)")
    p.add_argument("--format", choices=("openai", "anthropic", "mcp", "jsonschema"), default="openai",
                   help="openai (strict function tools), anthropic, mcp, or jsonschema (default openai)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("mcp", help="serve the actions as an MCP server over stdio (needs the 'mcp' extra)")
    p.add_argument("--text", choices=("summary", "json"), default="summary",
                   help="text content of results: a short summary (default) or the whole output as JSON")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("demo", help="run a whole job end to end (on the embedded emulator without FAL_KEY)")
    p.add_argument("--real", action="store_true", help="with FAL_KEY set: really call fal.ai (this bills your account)")
    p.set_defaults(func=cmd_demo)
    return parser


def _print(obj: Any) -> None:
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _failure(type_: str, message: str) -> dict[str, Any]:
    from connector.errors import ActionError

    error = ActionError(type_, message)
    return {"success": False, "error": message, "failure": error.failure()}


def _connector() -> Any:
    from connector import Connector

    return Connector()


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
    _print(spec)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from connector.config import ConfigError

    inputs, problem = _read_input(args.input)
    if problem:
        _print(_failure("invalid_input", problem))
        return 1
    try:
        conn = _connector()
    except ConfigError as exc:
        _print(_failure("invalid_input", str(exc)))
        return 1
    from connector.interrupt import run_until_signal

    # SIGINT/SIGTERM cancel a job the action submitted; the output is printed either way.
    _output, code = run_until_signal(conn, args.action, inputs, on_event=_progress if args.follow else None, write=_print)
    return code


def _read_input(raw: str | None) -> tuple[Any, str | None]:
    if raw is None:
        return {}, None
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
        return None, f"invalid input: cannot read {source}: {exc.strerror if isinstance(exc, OSError) else exc}"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"invalid input: {source} is not valid JSON: {exc}"


def _progress(event: dict[str, Any]) -> None:
    """One stderr line per progress event, for --follow."""
    kind = event["type"]
    if kind == "status":
        status = event["status"]
        line = status["status"]
        if status.get("queue_position") is not None:
            line += f" (queue position {status['queue_position']})"
        sys.stderr.write(f"[{event['action']}] {line}\n")
        for entry in status.get("logs") or []:
            sys.stderr.write(f"    log: {entry.get('message')}\n")
    elif kind == "retrying":
        sys.stderr.write(f"[{event['action']}] retrying in {event['wait']}s: {event['reason']}\n")
    elif kind in ("submitted", "cancelling"):
        sys.stderr.write(f"[{event['action']}] {kind} {event.get('request_id', '')}\n")
    sys.stderr.flush()


def cmd_export(args: argparse.Namespace) -> int:
    from connector.config import ConfigError

    try:
        conn = _connector()
    except ConfigError as exc:
        _print(_failure("invalid_input", str(exc)))
        return 1
    _print(conn.tool_specs(args.format))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from connector.agents.mcp_server import main as mcp_main

    return mcp_main(args)


def cmd_emulator(args: argparse.Namespace) -> int:
    from connector.emulator.cli import main as emulator_main

    return emulator_main(host=args.host, port=args.port, tls=args.tls, api_key=args.key)


def cmd_demo(args: argparse.Namespace) -> int:
    from connector.demo import main as demo_main

    return demo_main(real=args.real)


if __name__ == "__main__":
    sys.exit(main())
