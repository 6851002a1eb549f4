"""One attempt of one call: the pooled session, the key, the deadline, the body cap.

Every call has an explicit (connect, read) timeout no longer than the action's time left.
The key goes only to the configured keyed origins; redirects are never followed, so no
answer can send it elsewhere. Bodies are streamed into memory against a size cap, so an
oversized answer is refused without being loaded whole.

Calls go straight to the session's mounted adapter (``transmit``), not through
``Session.request``, whose per-call work (scanning the whole environment for proxy settings,
.netrc and cookie handling) costs more than the rest of a status call: the proxy settings of
each origin are read from the environment once per Connector, the CA bundle variables on
every call, as requests does; fal sets no cookies, and none are kept. Only public parts of
requests are used: the prepared request's own ``prepare_*`` steps, the adapter's ``send``,
and the response's ``raw`` body stream.

A failed attempt raises ``FailedAttempt``, carrying the verdict of ``connector.http.retry``;
whether to try again is the retry loop's (``connector.http.retrying``) to decide.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

import requests
import urllib3
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from connector.config import Config, origin_of
from connector.errors import ActionError, TransportError
from connector.http import deadline
from connector.http.body import CHUNK, BodyTooBig, BufferedResponse, capped
from connector.http.diagnose import diagnose, host_port
from connector.http.retry import (
    TOO_BIG,
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_status,
    connection_never_opened,
    cut_off,
    is_read_timeout,
)
from connector.http.spare import SpareConnection
from connector.http.statuses import status_error
from connector.record import Record
from connector.redaction import Redactor

log = logging.getLogger("connector.http")
POOL_SIZE = 64  # connections kept per host: more than any sane number of threads sharing a Connector
# A URL that PreparedRequest.prepare_url would return unchanged (lower-case http(s) scheme and
# host, optional port, a path of unreserved characters without dot segments, no query,
# fragment, user info or escapes): the connector's own URLs. Any other URL goes through it.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)*"  # host
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"  # port
    r"(?:(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?|/)\Z"  # path
)


class Request(Record):
    """One outgoing call, as the ``prepare_request`` hook sees and may edit it."""

    # No __slots__: a plugin may set an attribute of its own on it, as on the dataclass it was.
    _fields = ("method", "url", "params", "headers", "json", "data", "auth", "stream", "read_timeout", "body_deadline_at")
    method: str
    url: str
    params: Any
    headers: dict[str, str]
    json: Any
    data: bytes | None
    auth: bool  # send the API key if the URL's origin is a keyed one
    stream: bool  # return with the body unread (SSE)
    read_timeout: float | None  # instead of the configured timeout (a sync run's own)
    # A streamed answer's body may be read until then (a download's own timeout), though
    # the attempts end at the retry deadline.
    body_deadline_at: float | None

    def __init__(self, method: str, url: str, params: Any = None, headers: dict[str, str] | None = None, json: Any = None, data: bytes | None = None,
                 auth: bool = True, stream: bool = False, read_timeout: float | None = None, body_deadline_at: float | None = None) -> None:
        self.method = method
        self.url = url
        self.params = params
        self.headers = {} if headers is None else headers
        self.json = json
        self.data = data
        self.auth = auth
        self.stream = stream
        self.read_timeout = read_timeout
        self.body_deadline_at = body_deadline_at


class FailedAttempt(Exception):
    """One failed attempt, with the verdict that decides what happens next."""

    def __init__(self, verdict: Verdict, error: ActionError, *, cut_off: bool = False) -> None:
        super().__init__(error.message)
        self.verdict = verdict
        self.error = error  # error.retry_after: the wait fal asked for, if any
        self.cut_off = cut_off  # the action's deadline cut this exchange


class Transport:
    """The session and everything one attempt needs; ``send_once`` makes the attempt."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._keyed = config.keyed_origins()
        self._auth_header = f"Key {config.api_key.get_secret_value()}" if config.api_key else None
        # fal may echo the key in an error body; it must not reach retry events or logs either.
        self.redact = Redactor(config.api_key.get_secret_value() if config.api_key else None)
        session = requests.Session()
        adapter = deadline.DeadlineAdapter(pool_connections=8, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "fal-connector/0.1 (python)"
        self.session = session
        self._proxies: dict[str, dict[str, str]] = {}  # origin -> its proxies, from the environment

    def close(self) -> None:
        self.session.close()

    def spare_connection(self, url: str) -> SpareConnection:
        """A spare connection to ``url``'s origin, for the call after a long streamed answer
        (none through a proxy, or with an adapter mounted from outside: their pools are not ours)."""
        adapter = self.session.get_adapter(url)
        pool = None
        if isinstance(adapter, deadline.DeadlineAdapter) and not self._proxies_for(url):
            target = requests.PreparedRequest()
            target.url = url
            try:
                pool = adapter.get_connection_with_tls_context(target, self._verify(), None, self.session.cert)
            except (ValueError, OSError):  # e.g. a CA bundle path that does not exist: the call reports it
                pool = None
        return SpareConnection(pool, self.config.connect_timeout)

    def send_once(self, request: Request, policy: RetryPolicy, deadline_at: float) -> requests.Response:
        """One attempt: a 2xx response (its body read, unless streamed) or ``FailedAttempt``."""
        remaining = deadline_at - time.monotonic()
        read_timeout = max(0.05, min(request.read_timeout or self.config.timeout, remaining))
        headers = dict(request.headers)
        if request.auth and self._auth_header and origin_of(request.url) in self._keyed:
            headers["Authorization"] = self._auth_header
        if request.json is not None:
            headers.setdefault("Content-Type", "application/json")
        body = request.data if request.json is None else json.dumps(request.json, separators=(",", ":")).encode()
        started = time.monotonic()
        # The deadline bounds the whole exchange; a streamed answer stays armed while it is read.
        with deadline.exchange(deadline_at) as exchange:
            response = self._exchange(request, policy, body, headers, read_timeout, exchange, started)
            if request.stream and 200 <= response.status_code < 300:
                exchange.keep = True
                if request.body_deadline_at is not None:
                    deadline.WATCHDOG.move(exchange, request.body_deadline_at)
        return response

    def _exchange(
        self, request: Request, policy: RetryPolicy, body: bytes | None, headers: dict[str, str], read_timeout: float,
        exchange: deadline.Exchange, started: float,
    ) -> requests.Response:
        try:
            response = self.transmit(
                request.method, request.url, request.params, body, headers, (min(self.config.connect_timeout, read_timeout), read_timeout)
            )
        except requests.exceptions.RequestException as exc:
            sent = not exchange.unsent
            if exchange.expired and (not sent or not connection_never_opened(exc)):
                raise _cut_off(request, policy, started, None, sent=sent) from None
            verdict = classify_exception(exc, policy.retry_class, sent=sent)
            raise FailedAttempt(verdict, _transport_error(verdict, request, exc, sent=sent)) from None
        if exchange.expired:  # the cut ended a header block that was still arriving
            response.close()
            raise _cut_off(request, policy, started, None)
        log.debug("%s %s -> %s in %.1f ms", request.method, response.url, response.status_code, (time.monotonic() - started) * 1000)
        if 200 <= response.status_code < 300:
            if not request.stream:
                self._read_body(response, policy, request, exchange, started)
            return response
        # An answer that is not success: read its (bounded) body for the error detail.
        try:
            self._read_body(response, policy, request, exchange, started)
        except FailedAttempt:
            if isinstance(response, BufferedResponse):
                response.body = b""  # the detail is lost with the body; the status stands
        verdict = classify_status(response.status_code, response.headers, policy.retry_class)
        raise FailedAttempt(verdict, status_error(response, verdict, self.redact))

    def transmit(self, method: str, url: str, params: Any, body: bytes | None, headers: dict[str, str], timeout: Any) -> requests.Response:
        """``session.request(..., allow_redirects=False, stream=True)``, minus the per-call
        environment scan and the cookie jar (see the module docstring)."""
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method.upper())
        if not params and _PLAIN_URL.match(url):
            prepared.url = url  # what prepare_url would make of it (tests/test_http_transmit.py)
        else:
            prepared.prepare_url(url, params or None)  # None: as {} would, minus requests' protocol checks
        if None in headers.values():  # a None value removes the session's header, as in requests
            merged = CaseInsensitiveDict(session.headers)
            merged.update(headers)
            prepared.prepare_headers({name: value for name, value in merged.items() if value is not None})
        else:  # the same merge (the later of two spellings wins, in the first one's place), cheaper
            prepared.prepare_headers({**session.headers, **headers})
        prepared.prepare_body(body, None)  # None and b"" give no body, as Session.request's {} does
        prepared.prepare_auth(session.auth, prepared.url)
        prepared.prepare_hooks(session.hooks)
        url = str(prepared.url)
        adapter = session.get_adapter(url)
        response = adapter.send(prepared, stream=True, timeout=timeout, verify=self._verify(), cert=session.cert, proxies=self._proxies_for(url))
        if prepared.hooks["response"]:
            response = dispatch_hook("response", prepared.hooks, response)  # type: ignore[no-untyped-call]  # requests ships it untyped
        if type(response) is requests.Response:
            # The same response, able to hold the body the transport reads (BufferedResponse).
            response.__class__ = BufferedResponse
        return response

    def _verify(self) -> Any:
        # As requests does when it reads the environment: the CA bundle variables win.
        if not self.session.trust_env:
            return self.session.verify
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or self.session.verify

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The session's proxies plus the environment's for ``url``'s origin (HTTPS_PROXY,
        NO_PROXY, ...), looked up once per origin: that lookup scans the whole environment."""
        if not self.session.trust_env:
            return {k: v for k, v in self.session.proxies.items() if v is not None}
        start = url.find("://") + 3
        end = url.find("/", start)
        origin = url if end < 0 else url[:end]
        proxies = self._proxies.get(origin)
        if proxies is None:
            if len(self._proxies) > 256:
                self._proxies.clear()
            proxies = self._proxies[origin] = get_environ_proxies(url)
        if self.session.proxies:
            merged = {**self.session.proxies, **proxies}
            return {k: v for k, v in merged.items() if v is not None}
        return proxies

    def _read_body(self, response: requests.Response, policy: RetryPolicy, request: Request, exchange: deadline.Exchange, started: float) -> None:
        """Read the body into ``response.body``, refusing more than the size cap and stopping
        when the exchange's deadline cuts it off."""
        cap = self.config.max_response_bytes
        fal_request_id = response.headers.get("x-fal-request-id")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in capped(response.iter_content(CHUNK), cap, response):
                size += len(chunk)
                chunks.append(chunk)
                if exchange.expired:
                    break
        except BodyTooBig:
            response.close()
            raise FailedAttempt(TOO_BIG, ActionError(
                TOO_BIG.type, f"the answer is larger than the {cap} byte limit (max_response_bytes); refused without loading it",
                retryable=TOO_BIG.retryable, status_code=response.status_code, fal_request_id=fal_request_id,
            )) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            response.close()
            if exchange.expired:
                raise _cut_off(request, policy, started, size, fal_request_id) from None
            if not isinstance(exc, requests.exceptions.RequestException):
                raise
            verdict = classify_exception(exc, policy.retry_class, body_phase=True)
            raise FailedAttempt(verdict, _transport_error(verdict, request, exc, fal_request_id)) from None
        if exchange.expired:  # a body without a declared length ends where the cut made it end
            response.close()
            raise _cut_off(request, policy, started, size, fal_request_id)
        if not isinstance(response, BufferedResponse):
            raise TypeError(f"the session's adapter returned a {type(response).__name__}, not a requests.Response")
        response.body = b"".join(chunks)


def _where(request: Request) -> str:
    return f"{request.method} {request.url.split('?')[0]}"


def _maybe_accepted(where: str, what: str) -> str:
    """The message of a billable request whose outcome is unknown: it was sent, and then ``what``."""
    return f"{where}: the request was sent but {what}; fal may have accepted it — check your requests (or the webhook) before resubmitting"


def _cut_off(request: Request, policy: RetryPolicy, started: float, received: int | None, fal_request_id: str | None = None,
             *, sent: bool = True) -> FailedAttempt:
    """The deadline cut the exchange: ``received`` bytes of the body had arrived (None: not
    even the headers had); not ``sent``: the connection was still opening."""
    where = _where(request)
    elapsed = time.monotonic() - started
    if not sent:
        what = (f"the connection to {host_port(request.url)} (TCP connect or TLS handshake) never opened: the action's "
                f"deadline ran out {elapsed:.1f} s into this attempt; nothing was sent")
    elif received is None:
        what = f"the answer's headers never finished: the action's deadline ran out {elapsed:.1f} s into this attempt"
    else:
        what = f"the answer's body never finished ({received} bytes arrived): the action's deadline ran out {elapsed:.1f} s into this attempt"
    verdict = cut_off(policy.retry_class, sent=sent)
    if verdict.type == "outcome_unknown":
        message = _maybe_accepted(where, what)
    else:
        message = f"{where}: {what}"
    return FailedAttempt(verdict, TransportError(verdict.type, message, retryable=verdict.retryable, fal_request_id=fal_request_id), cut_off=True)


def _transport_error(verdict: Verdict, request: Request, exc: BaseException, fal_request_id: str | None = None,
                     *, sent: bool = True) -> TransportError:
    where = _where(request)
    cause = diagnose(exc, request.url)  # what failed, and at which host:port
    if not sent and is_read_timeout(exc):  # the socket's timeout ended a TLS handshake (or a proxy's tunnel)
        cause = f"the connection to {host_port(request.url)} did not open within the connect timeout (TCP connect or TLS handshake)"
    if verdict.type == "outcome_unknown":
        message = _maybe_accepted(where, f"no complete answer came back ({cause})")
    elif verdict.type == "timeout":
        message = f"{where}: no answer within the read timeout ({cause})"
    elif isinstance(exc, requests.exceptions.SSLError):
        message = (
            f"{where}: {cause} (the certificate did not verify or the connection is not TLS); to trust a "
            "private CA set REQUESTS_CA_BUNDLE — verification cannot be turned off"
        )
    else:
        message = f"{where}: {cause}"
    return TransportError(verdict.type, message, retryable=verdict.retryable, fal_request_id=fal_request_id)
