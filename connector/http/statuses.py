"""What an answer means: a non-success status as a typed error, a success body as JSON.

The verdict (failure type, retry now, retryable later) comes from ``connector.http.retry``;
this module turns it and the answer into the error a caller sees: fal's own detail (the
422 field list included), one human line, and the hint for the status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from connector.errors import ActionError, HTTPStatusError
from connector.http.body import BufferedResponse
from connector.http.retry import Verdict, parse_retry_after, unusable_answer
from connector.strict_json import parse_json

_LARGE_BODY = 1 << 20  # a success body this large is decoded, then released, before it is parsed

_HINTS = {
    401: " — check FAL_KEY",
    403: " — the key lacks access to this resource",
    404: " — check the app_id and request_id",
    429: " — rate limited; try again later",
}


def status_error(response: requests.Response, verdict: Verdict, redact: Callable[[Any], Any]) -> HTTPStatusError:
    """The error for a non-success answer whose (bounded) body has been read."""
    detail = redact(error_detail(response))  # before describe_status shortens it
    return HTTPStatusError(
        verdict.type,
        redact(describe_status(response, detail)),
        response=response,
        status_code=response.status_code,
        retryable=verdict.retryable,
        fal_request_id=response.headers.get("x-fal-request-id"),
        detail=detail,
        retry_after=parse_retry_after(response.headers) if verdict.retry else None,
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


def json_body(response: requests.Response, what: str, *, retry_class: str) -> Any:
    """The parsed JSON body of a success answer, or ``invalid_response`` (repeatable as
    ``retry.unusable_answer`` says for the action's ``retry_class``).

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
        if isinstance(response, BufferedResponse):
            response.body = b""
        return parse_json(text)
    except ValueError:
        ctype = response.headers.get("Content-Type", "?")
        verdict = unusable_answer(retry_class)
        raise ActionError(
            verdict.type,
            f"{what}: fal answered HTTP {response.status_code} with a body that is not JSON (Content-Type {ctype})",
            status_code=response.status_code,
            retryable=verdict.retryable,
            fal_request_id=response.headers.get("x-fal-request-id"),
            detail=content[:2000].decode("utf-8", "replace") or None,
        ) from None
