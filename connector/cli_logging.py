"""``-v/--verbose`` for the ``fal-connector`` command: the ``connector.*`` loggers on stderr.

-v shows INFO (one line per action event: started, submitted, retrying, cancelling, the
outcome), -vv DEBUG (status changes and every HTTP request too). The key is redacted from every
line, whatever a log call was given.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from connector.redaction import Redactor

if TYPE_CHECKING:
    from connector.config import Config

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


def _redactor(load_config: Callable[[], Config]) -> Redactor:
    """Masks the key of the configuration the command uses; the key as the environment gives it
    when that configuration is invalid (the command then reports why, and a log line may still
    repeat a variable)."""
    from connector.config import ConfigError, key_from_env

    try:
        key = load_config().api_key
    except ConfigError:
        return Redactor(key_from_env(os.environ))
    return Redactor(key.get_secret_value() if key else None)


def configure(verbosity: int, load_config: Callable[[], Config]) -> None:
    """Send ``connector.*`` records at INFO (1) or DEBUG (2+) to stderr; nothing for 0.

    ``load_config`` gives the command's own settings (loaded once, shared with its Connector)."""
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_RedactKey(_redactor(load_config)))
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
