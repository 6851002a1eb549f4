"""``python -m connector.emulator [--host H] [--port P] [--tls] [--key K]``."""

import sys

from .cli import run

sys.exit(run())
