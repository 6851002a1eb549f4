"""The ``--help`` texts of the ``fal-connector`` command: one example per command, kept apart
from the parser so that cli.py stays about behaviour."""

from __future__ import annotations

import argparse

DESCRIPTION = "fal.ai as declared, JSON-Schema-typed actions."

EXAMPLES = {
    None: """examples:
  fal-connector actions
  fal-connector -v run get_models --input '{"q": "flux"}'

Output is JSON on stdout (exit 0 when success is true, 1 when false, 2 for a usage error);
progress and logs go to stderr.""",
    "actions": "example:\n  fal-connector actions --json",
    "describe": "example:\n  fal-connector describe subscribe --fields",
    "run": """example:
  fal-connector run subscribe --follow --input '{"app_id": "fal-ai/flux/dev", "data": {"prompt": "a lighthouse"}}'""",
    "export": "example:\n  fal-connector export --format anthropic > tools.json",
    "mcp": "example:\n  fal-connector mcp --text json   # configure it as a stdio MCP server",
    "demo": "example:\n  fal-connector demo               # no key: on the embedded emulator, nothing billed",
}


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its example, and that also takes -v after its name."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".",
                                                epilog=epilog or EXAMPLES[name],
                                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # SUPPRESS: without -v here, the count given before the command name is kept.
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return p


VERBOSE_HELP = "log to stderr: -v steps of each run (INFO), -vv also every HTTP request (DEBUG); the key is never shown"


def version() -> str:
    """The installed distribution's version; the package's own when running from a bare checkout."""
    from importlib import metadata

    try:
        return metadata.version("fal-connector")
    except metadata.PackageNotFoundError:
        from connector import __version__

        return __version__


class VersionAction(argparse.Action):
    """``--version``, looked up only when asked: reading the package metadata costs a plain
    run ~30 ms of start-up."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import sys

        sys.stdout.write(f"{parser.prog} {version()}\n")  # on stdout, as argparse's own version action
        parser.exit()

