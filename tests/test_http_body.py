"""connector.http.body and statuses: a body read against the cap, held by the response itself."""

from __future__ import annotations

import json
import time

import pytest
import responses

from connector.config import Config
from connector.errors import ActionError
from connector.http.body import BufferedResponse, write_body
from connector.http.client import HttpClient, Request
from connector.http.retry import RetryPolicy
from connector.http.statuses import json_body
from connector.http.transport import Transport

URL = "https://files.test/f"


def _fetch(body: bytes, **headers: str) -> BufferedResponse:
    responses.get(URL, body=body, headers=headers)
    response = Transport(Config.load({})).transmit("GET", URL, None, None, {}, (1, 2))
    assert isinstance(response, BufferedResponse)
    return response


def _send(body: bytes) -> BufferedResponse:
    responses.get(URL, body=body)
    response = HttpClient(Config.load({})).send(Request("GET", URL), RetryPolicy("read", 0, 30.0), time.monotonic() + 30)
    assert isinstance(response, BufferedResponse) and response.body == body  # read whole by the transport
    return response


@responses.activate
def test_a_large_json_body_is_released_from_the_response_once_decoded():
    value = {"data": "x" * (2 << 20)}
    response = _send(json.dumps(value).encode())
    assert json_body(response, "result", retry_class="read") == value
    assert response.content == b""


@responses.activate
def test_a_small_json_body_stays_readable():
    response = _send(b'{"a": 1}')
    assert json_body(response, "status", retry_class="read") == {"a": 1}
    assert response.content == b'{"a": 1}' and response.json() == {"a": 1}


@pytest.mark.parametrize(("retry_class", "retryable"), [("read", True), ("cancel", True), ("billable", False)])
def test_a_body_that_is_not_json_is_invalid_response_repeatable_unless_billable(retry_class, retryable):
    response = BufferedResponse()
    response.status_code, response.body = 200, b"<html>"
    with pytest.raises(ActionError) as caught:
        json_body(response, "result", retry_class=retry_class)
    assert (caught.value.type, caught.value.retryable, caught.value.detail) == ("invalid_response", retryable, "<html>")


@responses.activate
@pytest.mark.parametrize("declared", [True, False])
def test_a_download_over_the_cap_is_refused_whether_declared_or_counted(declared):
    body = b"x" * 5000
    response = _fetch(body, **({"Content-Length": str(len(body))} if declared else {}))
    written: list[bytes] = []
    with pytest.raises(ActionError) as caught:
        write_body(response, written.append, 1000, time.monotonic() + 30, "max_bytes")
    assert (caught.value.type, caught.value.retryable) == ("invalid_response", False)
    assert "larger than the 1000 byte limit (max_bytes)" in caught.value.message
    assert sum(map(len, written)) <= 1000  # never more than the cap was kept


@responses.activate
def test_a_download_within_the_cap_is_written_whole():
    response = _fetch(b"y" * 3000)
    written: list[bytes] = []
    assert write_body(response, written.append, 3000, time.monotonic() + 30, "max_bytes") == 3000
    assert b"".join(written) == b"y" * 3000
