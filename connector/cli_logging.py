"""``-v/--verbose`` for the ``fal-connector`` command: the ``connector.*`` loggers on stderr.

-v shows INFO (one line per action event: started, submitted, retrying, cancelling, the
outcome), -vv DEBUG (status changes and every HTTP request too). The key is redacted from every
line, whatever a log call was given.
"""

from __future__ import annotations

import logging
import os
import sys

from connector.redaction import Redactor

FORMAT = "fal-connector %(levelname)s %(name)s: %(message)s"


class _RedactKey(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def _redactor() -> Redactor:
    """Masks the configured key; the raw variables' when the configuration is invalid."""
    from connector.config import Config, ConfigError

    try:
        key = Config.load().api_key
        return Redactor(key.get_secret_value() if key else None)
    except ConfigError:
        key_id, secret = os.environ.get("FAL_KEY_ID", ""), os.environ.get("FAL_KEY_SECRET", "")
        return Redactor(os.environ.get("FAL_KEY") or (f"{key_id}:{secret}" if secret else None))


def configure(verbosity: int) -> None:
    """Send ``connector.*`` records at INFO (1) or DEBUG (2+) to stderr; nothing for 0."""
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_RedactKey(_redactor()))
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
