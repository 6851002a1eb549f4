"""The options of ``fal-connector emulator`` and ``python -m connector.emulator``, in one place so
the two cannot drift apart. Kept outside ``connector.emulator`` so that building the command's
parser (every ``fal-connector`` call) never imports the emulator."""

from __future__ import annotations

import argparse

EXAMPLE = """example:
  %(prog)s --port 8080 > emulator.env &
  sleep 1; . ./emulator.env    # FAL_KEY and the FAL_*_URL variables
  fal-connector run get_models --input '{"q": "flux"}'"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway self-signed certificate")
    p.add_argument("--key", default=None, metavar="KEY",
                   help="accept only 'Authorization: Key KEY' (default: accept any key; a placeholder FAL_KEY is printed)")
    p.add_argument("--api-key", dest="key", help=argparse.SUPPRESS)  # the old name, kept working
    p.add_argument("--admin-key", default=None, metavar="KEY",
                   help="the key with the admin scope (usage, billing, payload deletion); "
                        "other keys get 403 there (default: every accepted key is an admin key)")
