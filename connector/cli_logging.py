"""``-v/--verbose`` for the ``fal-connector`` command: the ``connector.*`` loggers on stderr.

-v shows INFO (one line per action event: started, submitted, retrying, cancelling, the
outcome), -vv DEBUG (status changes and every HTTP request too). The key is redacted from every
line, whatever a log call was given.
"""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "fal-connector %(levelname)s %(name)s: %(message)s"


class _RedactKey(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        from connector.http.client import redact

        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def _secrets() -> list[str]:
    """The configured key's texts to redact; the raw variables when the configuration is invalid."""
    from connector.config import Config, ConfigError
    from connector.http.client import secrets_of

    try:
        return secrets_of(Config.load())
    except ConfigError:
        raw = [os.environ.get(name, "") for name in ("FAL_KEY", "FAL_KEY_SECRET")]
        return sorted((s for s in raw if len(s) >= 6), key=len, reverse=True)


def configure(verbosity: int) -> None:
    """Send ``connector.*`` records at INFO (1) or DEBUG (2+) to stderr; nothing for 0."""
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_RedactKey(_secrets()))
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
