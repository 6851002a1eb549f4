"""One pooled HTTP client per Connector: the transport, with the retry loop around it.

The parts live in their own modules: ``transport`` (session, key pinning, deadline, body
cap), ``retrying`` (the loop), ``retry`` (every verdict: retry now, retryable later),
``statuses`` (a non-success answer as a typed error, a success body as JSON) and ``body``
(reading a body against the cap). The names below are what handlers, plugins and tests
import from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from connector.config import Config
from connector.http import retrying
from connector.http.body import BufferedResponse, write_body
from connector.http.retry import RetryPolicy
from connector.http.spare import SpareConnection
from connector.http.statuses import describe_status, error_detail, json_body
from connector.http.transport import POOL_SIZE, FailedAttempt, Request, Transport

__all__ = [
    "POOL_SIZE",
    "BufferedResponse",
    "FailedAttempt",
    "HttpClient",
    "Request",
    "describe_status",
    "error_detail",
    "json_body",
    "write_body",
]


class HttpClient:
    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.transport = Transport(config)
        self.session = self.transport.session
        self.redact = self.transport.redact

    def close(self) -> None:
        self.transport.close()

    def spare_connection(self, url: str) -> SpareConnection:
        """A spare connection to ``url``'s origin, for the call after a long streamed answer."""
        return self.transport.spare_connection(url)

    def send(
        self,
        request: Request,
        policy: RetryPolicy,
        deadline_at: float,
        *,
        on_attempt: Callable[[], None] = lambda: None,
        on_retry: Callable[[dict[str, Any]], None] = lambda event: None,
    ) -> requests.Response:
        """Send with retries; return a 2xx response or raise an ``ActionError``."""
        return retrying.send(self.transport, request, policy, deadline_at, sleep=self.sleep, on_attempt=on_attempt, on_retry=on_retry)
