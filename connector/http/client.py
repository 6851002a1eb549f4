"""One pooled ``requests.Session`` per Connector, and the retry loop around every call.

Every call has an explicit (connect, read) timeout no longer than the action's time left.
The key goes only to the configured keyed origins; redirects are never
followed, so no answer can send it elsewhere. Bodies are streamed into memory against a
size cap, so an oversized answer is refused without being loaded whole.

Calls go straight to the session's mounted adapter (``_transmit``), not through
``Session.request``, whose per-call work (scanning the whole environment for proxy settings,
.netrc and cookie handling) costs more than the rest of a status call: the proxy settings of
each origin are read from the environment once per Connector, the CA bundle variables on
every call, as requests does; fal sets no cookies, and none are kept. Retries (tenacity) are
set up only when a first attempt asks for one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from connector.config import Config, origin_of
from connector.errors import ActionError, HTTPStatusError, TransportError
from connector.http import deadline
from connector.http.diagnose import diagnose
from connector.http.retry import RetryPolicy, Verdict, classify_exception, classify_status, connection_never_opened, parse_retry_after
from connector.http.spare import SpareConnection
from connector.redaction import Redactor
from connector.strict_json import parse_json

log = logging.getLogger("connector.http")
POOL_SIZE = 64  # connections kept per host: more than any sane number of threads sharing a Connector
_CHUNK = 256 * 1024
_LARGE_BODY = 1 << 20  # a success body this large is decoded, then released, before it is parsed
# A URL that PreparedRequest.prepare_url would return unchanged (lower-case http(s) scheme and
# host, optional port, a path of unreserved characters without dot segments, no query,
# fragment, user info or escapes): the connector's own URLs. Any other URL goes through it.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)*"  # host
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"  # port
    r"(?:(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?|/)\Z"  # path
)


@dataclass
class Request:
    """One outgoing call, as the ``prepare_request`` hook sees and may edit it."""

    method: str
    url: str
    params: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: bytes | None = None
    auth: bool = True  # send the API key if the URL's origin is a keyed one
    stream: bool = False  # return with the body unread (SSE)
    read_timeout: float | None = None  # instead of the configured timeout (a sync run's own)
    # A streamed answer's body may be read until then (a download's own timeout), though
    # the attempts end at the retry deadline.
    body_deadline_at: float | None = None


class _Attempt(Exception):
    """One failed attempt, with the verdict that decides what happens next."""

    def __init__(self, verdict: Verdict, error: ActionError, *, cut_off: bool = False) -> None:
        super().__init__(error.message)
        self.verdict = verdict
        self.error = error  # error.retry_after: the wait fal asked for, if any
        self.cut_off = cut_off  # the action's deadline cut this exchange


class HttpClient:
    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
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

    # -- the retry loop -------------------------------------------------------------------

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
        attempts = 1
        on_attempt()
        try:
            return self._send_once(request, policy, deadline_at)
        except _Attempt as failed:
            if not failed.verdict.retry:
                raise self._final_error(failed, attempts, policy, deadline_at) from None
            first: _Attempt | None = failed
            last: _Attempt = failed
        # A retry is due: tenacity takes over, starting from the failed first attempt.
        from tenacity import Retrying, retry_if_exception

        def attempt() -> requests.Response:
            nonlocal attempts, first, last
            if first is not None:
                replayed, first = first, None
                raise replayed  # the first attempt, already made: tenacity decides what follows
            if time.monotonic() >= deadline_at:
                # The wait overran the deadline (a busy machine wakes late): an attempt now could
                # only be cut off, so the last answer stands.
                raise last
            attempts += 1
            on_attempt()
            try:
                return self._send_once(request, policy, deadline_at)
            except _Attempt as failed:
                if failed.cut_off and not policy.billable:
                    raise last from None  # the deadline ran out during a retry: the last answer stands
                last = failed
                raise

        def wait(state: Any) -> float:
            exc = state.outcome.exception()
            if isinstance(exc, _Attempt) and exc.error.retry_after is not None:
                return exc.error.retry_after
            return policy.backoff(state.attempt_number)

        def stop(state: Any) -> bool:
            if state.attempt_number > policy.max_retries:
                return True
            return bool(time.monotonic() + state.upcoming_sleep > deadline_at)

        def before_sleep(state: Any) -> None:
            # Told before the wait, so a caller following along sees why nothing happens yet.
            exc = state.outcome.exception()
            on_retry({
                "type": "retrying", "attempt": state.attempt_number, "next_attempt": state.attempt_number + 1,
                "max_attempts": policy.max_retries + 1, "wait": round(state.upcoming_sleep, 3),
                "failure_type": exc.error.type, "status_code": exc.error.status_code, "reason": exc.error.message,
            })
            log.debug("retrying %s %s in %.2fs: %s", request.method, request.url, state.upcoming_sleep, exc.error.message)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Attempt) and e.verdict.retry),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Attempt as failed:
            raise self._final_error(failed, attempts, policy, deadline_at) from None

    @staticmethod
    def _final_error(failed: _Attempt, attempts: int, policy: RetryPolicy, deadline_at: float) -> ActionError:
        error, verdict = failed.error, failed.verdict
        error.attempts = attempts
        error.retryable = verdict.retryable
        if verdict.retry and attempts <= policy.max_retries:
            # Stopped by the deadline, not by the attempt count. The type stays the last
            # answer's (a 429 stays rate_limited): that, not the clock, is what went wrong.
            if error.retry_after is not None:
                error.message += f"; fal asked to retry after {error.retry_after:g} s, beyond the {policy.deadline:g} s retry deadline"
            else:
                error.message = f"the {policy.deadline:g} s retry deadline ran out after {attempts} attempts; last: {error.message}"
        elif attempts > 1:
            error.message = f"{error.message} (after {attempts} attempts)"
        return error

    # -- one attempt ----------------------------------------------------------------------

    def _send_once(self, request: Request, policy: RetryPolicy, deadline_at: float) -> requests.Response:
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
            response = self._transmit(
                request.method, request.url, request.params, body, headers, (min(self.config.connect_timeout, read_timeout), read_timeout)
            )
        except requests.exceptions.RequestException as exc:
            if exchange.expired and not connection_never_opened(exc):
                raise self._cut_off(request, policy, started, None) from None
            verdict = classify_exception(exc, policy.retry_class)
            raise _Attempt(verdict, self._transport_error(verdict, request, exc)) from None
        if exchange.expired:  # the cut ended a header block that was still arriving
            response.close()
            raise self._cut_off(request, policy, started, None)
        fal_request_id = response.headers.get("x-fal-request-id")
        log.debug("%s %s -> %s in %.1f ms", request.method, response.url, response.status_code, (time.monotonic() - started) * 1000)
        if 200 <= response.status_code < 300:
            if request.stream:
                return response
            self._read_body(response, policy, request, exchange, started)
            return response
        # An answer that is not success: read its (bounded) body for the error detail.
        try:
            self._read_body(response, policy, request, exchange, started)
        except _Attempt:
            response._content = b""
        verdict = classify_status(response.status_code, response.headers, policy.retry_class)
        detail = self.redact(error_detail(response))  # before describe_status shortens it
        error = HTTPStatusError(
            verdict.type,
            self.redact(describe_status(response, detail)),
            response=response,
            status_code=response.status_code,
            retryable=verdict.retryable,
            fal_request_id=fal_request_id,
            detail=detail,
            retry_after=parse_retry_after(response.headers) if verdict.retry else None,
        )
        raise _Attempt(verdict, error)

    def _transmit(self, method: str, url: str, params: Any, body: bytes | None, headers: dict[str, str], timeout: Any) -> requests.Response:
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
        """Load the body into ``response._content``, refusing more than the size cap and
        stopping when the exchange's deadline cuts it off."""
        cap = self.config.max_response_bytes
        fal_request_id = response.headers.get("x-fal-request-id")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            response.close()
            raise _Attempt(_TOO_BIG, _too_big(cap, response, fal_request_id))
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > cap:
                    response.close()
                    raise _Attempt(_TOO_BIG, _too_big(cap, response, fal_request_id))
                chunks.append(chunk)
                if exchange.expired:
                    break
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            response.close()
            if exchange.expired:
                raise self._cut_off(request, policy, started, size, fal_request_id) from None
            if not isinstance(exc, requests.exceptions.RequestException):
                raise
            verdict = classify_exception(exc, policy.retry_class, body_phase=True)
            raise _Attempt(verdict, self._transport_error(verdict, request, exc, fal_request_id)) from None
        if exchange.expired:  # a body without a declared length ends where the cut made it end
            response.close()
            raise self._cut_off(request, policy, started, size, fal_request_id)
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag, set as Response.content does

    @staticmethod
    def _cut_off(request: Request, policy: RetryPolicy, started: float, received: int | None, fal_request_id: str | None = None) -> _Attempt:
        """The deadline cut the exchange: ``received`` bytes of the body had arrived (None:
        not even the headers had). The deadline is spent, so it is not retried here."""
        where = f"{request.method} {request.url.split('?')[0]}"
        elapsed = time.monotonic() - started
        if received is None:
            what = f"the answer's headers never finished: the action's deadline ran out {elapsed:.1f} s into this attempt"
        else:
            what = f"the answer's body never finished ({received} bytes arrived): the action's deadline ran out {elapsed:.1f} s into this attempt"
        if policy.billable:
            message = f"{where}: the request was sent but {what}; fal may have accepted it — check your requests (or the webhook) before resubmitting"
            verdict = Verdict("outcome_unknown", False, False)
        else:
            message = f"{where}: {what}"
            verdict = Verdict("timeout", False, True)
        return _Attempt(verdict, TransportError(verdict.type, message, retryable=verdict.retryable, fal_request_id=fal_request_id),
                        cut_off=True)

    @staticmethod
    def _transport_error(verdict: Verdict, request: Request, exc: BaseException, fal_request_id: str | None = None) -> TransportError:
        where = f"{request.method} {request.url.split('?')[0]}"
        cause = diagnose(exc, request.url)  # what failed, and at which host:port
        if verdict.type == "outcome_unknown":
            message = (
                f"{where}: the request was sent but no complete answer came back ({cause}); fal may have "
                "accepted it — check your requests (or the webhook) before resubmitting"
            )
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


def write_body(response: requests.Response, write: Callable[[bytes], Any], cap: int, deadline_at: float, limit_name: str) -> int:
    """Stream a 2xx answer's (decoded) body into ``write``, chunk by chunk; the byte count.

    For answers kept on disk rather than in memory (``download_file``): more than ``cap`` bytes
    is ``invalid_response`` (not retryable: the same file stays too big), and the read stops at
    ``deadline_at`` even if the server keeps sending, since every read returns what has arrived
    (``read1``) instead of waiting for a full chunk. The response is closed in every case.
    """
    where = f"{response.request.method} {str(response.url).split('?')[0]}"

    def too_big() -> ActionError:
        return ActionError("invalid_response", f"{where}: the file is larger than the {cap} byte limit ({limit_name}); "
                           "not kept", retryable=False, status_code=response.status_code)

    size = 0
    try:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise too_big()
        while True:
            try:
                chunk = response.raw.read1(_CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline_at:  # the deadline watchdog cut the socket
                    raise ActionError("timeout", f"{where}: the body did not finish in time ({size} bytes received)",
                                      retryable=True, status_code=response.status_code) from None
                kind = "timeout" if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)) else "connection_error"
                raise ActionError(kind, f"{where}: the body broke off after {size} bytes ({type(exc).__name__})",
                                  retryable=True, status_code=response.status_code) from None
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise too_big()
            write(chunk)  # a local write error (disk full) is the caller's to report
            if time.monotonic() > deadline_at:
                raise ActionError("timeout", f"{where}: the body did not finish in time ({size} bytes received)",
                                  retryable=True, status_code=response.status_code)
    finally:
        response.close()
    return size


# Repeating cannot make an answer smaller: never retried, and not worth repeating later.
_TOO_BIG = Verdict("invalid_response", False, False)


def _too_big(cap: int, response: requests.Response, fal_request_id: str | None) -> ActionError:
    return ActionError(
        "invalid_response",
        f"the answer is larger than the {cap} byte limit (max_response_bytes); refused without loading it",
        status_code=response.status_code,
        fal_request_id=fal_request_id,
    )


def describe_status(response: requests.Response, detail: Any) -> str:
    """One human line for a non-success answer (``detail``: its ``error_detail``): status,
    fal's message, what to do."""
    message = None
    if isinstance(detail, str):
        message = detail
    elif isinstance(detail, dict):
        envelope = detail.get("error")  # the Platform API's {"error": {"type", "message"}}
        source = envelope if isinstance(envelope, dict) else detail
        message = source.get("message") or source.get("msg")
    elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        message = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    hint = _HINTS.get(response.status_code, "")
    text = f"fal answered HTTP {response.status_code}"
    if message:
        text += f": {' '.join(str(message).split())[:300]}"
    return text + hint


_HINTS = {
    401: " — check FAL_KEY",
    403: " — the key lacks access to this resource",
    404: " — check the app_id and request_id",
    429: " — rate limited; try again later",
}


def error_detail(response: requests.Response) -> Any:
    """fal's own error detail: body ``detail``, else the parsed body, else text."""
    content = response.content or b""
    try:
        body = parse_json(content) if content else None
    except ValueError:
        text = content[:2000].decode("utf-8", "replace")
        return text or None
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


def json_body(response: requests.Response, what: str) -> Any:
    """The parsed JSON body of a success answer, or ``invalid_response``.

    A large body (a model output of many MB) is decoded to text and then released from the
    response before it is parsed, so it is held at most twice at any moment (bytes and text,
    then text and value) instead of three times; ``response.content`` is empty afterwards.
    """
    content = response.content or b""
    try:
        if len(content) < _LARGE_BODY:
            return parse_json(content)
        text = content.decode(json.detect_encoding(content), "surrogatepass")  # what json.loads does
        content = content[:2000]
        response._content = b""
        return parse_json(text)
    except ValueError:
        ctype = response.headers.get("Content-Type", "?")
        raise ActionError(
            "invalid_response",
            f"{what}: fal answered HTTP {response.status_code} with a body that is not JSON (Content-Type {ctype})",
            status_code=response.status_code,
            fal_request_id=response.headers.get("x-fal-request-id"),
            detail=content[:2000].decode("utf-8", "replace") or None,
        ) from None
