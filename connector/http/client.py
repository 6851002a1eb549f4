"""One pooled ``requests.Session`` per Connector, and the retry loop around every call.

Every call has an explicit (connect, read) timeout no longer than the action's time left.
The key goes only to the configured keyed origins (CONTRACT §2); redirects are never
followed, so no answer can send it elsewhere. Bodies are streamed into memory against a
size cap, so an oversized answer is refused without being loaded whole.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception

from connector.config import Config, origin_of
from connector.errors import ActionError, HTTPStatusError, TransportError
from connector.http.retry import RetryPolicy, Verdict, classify_exception, classify_status, parse_retry_after

log = logging.getLogger("connector.http")
POOL_SIZE = 64
_CHUNK = 256 * 1024


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


class _Attempt(Exception):
    """One failed attempt, with the verdict that decides what happens next."""

    def __init__(self, verdict: Verdict, error: ActionError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.verdict = verdict
        self.error = error
        self.retry_after = retry_after


class HttpClient:
    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self._keyed = config.keyed_origins()
        self._auth_header = f"Key {config.api_key.get_secret_value()}" if config.api_key else None
        # fal may echo the key in an error body; it must not reach retry events or logs either.
        self.secrets = secrets_of(config)
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "fal-connector/0.1 (python)"
        self.session = session

    def close(self) -> None:
        self.session.close()

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
        attempts = 0

        def attempt() -> requests.Response:
            nonlocal attempts
            attempts += 1
            on_attempt()
            return self._send_once(request, policy, deadline_at)

        def wait(state: Any) -> float:
            exc = state.outcome.exception()
            if isinstance(exc, _Attempt) and exc.retry_after is not None:
                return exc.retry_after
            return policy.backoff(state.attempt_number)

        def stop(state: Any) -> bool:
            if state.attempt_number > policy.max_retries:
                return True
            return time.monotonic() + state.upcoming_sleep > deadline_at

        def before_sleep(state: Any) -> None:
            exc = state.outcome.exception()
            on_retry({"type": "retrying", "attempt": state.attempt_number, "wait": round(state.upcoming_sleep, 3), "reason": exc.error.message})
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
            # Stopped by the deadline, not by the attempt count.
            if failed.retry_after is not None:
                error.retry_after = failed.retry_after
                error.message += f"; fal asked to retry after {failed.retry_after:g} s, beyond the {policy.deadline:g} s retry deadline"
            else:
                error.type = "timeout"
                error.message = f"gave up after {attempts} attempts: the {policy.deadline:g} s retry deadline ran out; last: {error.message}"
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
        try:
            response = self.session.request(
                request.method,
                request.url,
                params=request.params,
                data=body,
                headers=headers,
                timeout=(min(self.config.connect_timeout, read_timeout), read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            verdict = classify_exception(exc, policy.retry_class)
            raise _Attempt(verdict, self._transport_error(verdict, request, exc)) from None
        fal_request_id = response.headers.get("x-fal-request-id")
        log.debug("%s %s -> %s in %.1f ms", request.method, response.url, response.status_code, (time.monotonic() - started) * 1000)
        if 200 <= response.status_code < 300:
            if request.stream:
                return response
            self._read_body(response, policy, request)
            return response
        # An answer that is not success: read its (bounded) body for the error detail.
        try:
            self._read_body(response, policy, request)
        except _Attempt:
            response._content = b""
        verdict = classify_status(response.status_code, response.headers, policy.retry_class)
        error = HTTPStatusError(
            verdict.type,
            redact(describe_status(response), self.secrets),
            response=response,
            status_code=response.status_code,
            retryable=verdict.retryable,
            fal_request_id=fal_request_id,
            detail=redact(error_detail(response), self.secrets),
        )
        retry_after = parse_retry_after(response.headers) if verdict.retry or verdict.type == "rate_limited" else None
        if retry_after is not None:
            error.retry_after = retry_after
        raise _Attempt(verdict, error, retry_after)

    def _read_body(self, response: requests.Response, policy: RetryPolicy, request: Request) -> None:
        """Load the body into ``response._content``, refusing more than the size cap."""
        cap = self.config.max_response_bytes
        fal_request_id = response.headers.get("x-fal-request-id")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            response.close()
            raise _Attempt(Verdict("invalid_response", False, not policy.billable), _too_big(cap, response, fal_request_id))
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > cap:
                    response.close()
                    raise _Attempt(Verdict("invalid_response", False, not policy.billable), _too_big(cap, response, fal_request_id))
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            response.close()
            verdict = classify_exception(exc, policy.retry_class, body_phase=True)
            raise _Attempt(verdict, self._transport_error(verdict, request, exc, fal_request_id)) from None
        response._content = b"".join(chunks)
        response._content_consumed = True

    @staticmethod
    def _transport_error(verdict: Verdict, request: Request, exc: BaseException, fal_request_id: str | None = None) -> TransportError:
        where = f"{request.method} {request.url.split('?')[0]}"
        reason = type(exc).__name__
        if verdict.type == "outcome_unknown":
            message = (
                f"{where}: the request was sent but no complete answer came back ({reason}); fal may have "
                "accepted it — check your requests (or the webhook) before resubmitting"
            )
        elif verdict.type == "timeout":
            message = f"{where}: no answer within the read timeout ({reason})"
        else:
            message = f"{where}: could not connect or the connection dropped ({reason})"
        return TransportError(verdict.type, message, retryable=verdict.retryable, fal_request_id=fal_request_id)


def secrets_of(config: Config) -> list[str]:
    """The whole key and its secret half, longest first, as texts to redact."""
    key = config.api_key.get_secret_value() if config.api_key else ""
    return sorted((s for s in {key, key.partition(":")[2]} if len(s) >= 6), key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` (text, or JSON data) with every secret replaced by ``[redacted]``."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return value
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    return value


def _too_big(cap: int, response: requests.Response, fal_request_id: str | None) -> ActionError:
    return ActionError(
        "invalid_response",
        f"the answer is larger than the {cap} byte limit (max_response_bytes); refused without loading it",
        status_code=response.status_code,
        fal_request_id=fal_request_id,
    )


def describe_status(response: requests.Response) -> str:
    """One human line for a non-success answer: status, fal's message, what to do."""
    detail = error_detail(response)
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
    """fal's own error detail (CONTRACT §5): body ``detail``, else the parsed body, else text."""
    content = response.content or b""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        text = content[:2000].decode("utf-8", "replace")
        return text or None
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


def json_body(response: requests.Response, what: str) -> Any:
    """The parsed JSON body of a success answer, or ``invalid_response``."""
    try:
        return json.loads(response.content)
    except ValueError:
        ctype = response.headers.get("Content-Type", "?")
        raise ActionError(
            "invalid_response",
            f"{what}: fal answered HTTP {response.status_code} with a body that is not JSON (Content-Type {ctype})",
            status_code=response.status_code,
            fal_request_id=response.headers.get("x-fal-request-id"),
            detail=(response.content or b"")[:2000].decode("utf-8", "replace") or None,
        ) from None
