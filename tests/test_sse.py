"""connector.http.sse.iter_sse on scripted byte chunks."""

from __future__ import annotations

import pytest

from connector.errors import ActionError
from connector.http.sse import KEEPALIVE, iter_sse


class FakeRaw:
    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.reads = 0

    def read1(self, size=-1):
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""


class FakeResponse:
    def __init__(self, chunks, headers=None):
        self.raw = FakeRaw(chunks)
        self.status_code = 200
        self.headers = headers or {"Content-Type": "text/event-stream"}


def events(*chunks):
    return list(iter_sse(FakeResponse(chunks)))


def data_only(items):
    return [i for i in items if i is not KEEPALIVE]


def test_two_events():
    assert events(b'data: {"status": "IN_QUEUE"}\n\ndata: {"status": "COMPLETED"}\n\n') == [
        {"status": "IN_QUEUE"},
        {"status": "COMPLETED"},
    ]


def test_event_split_across_chunks_at_every_byte():
    wire = b'data: {"status": "IN_PROGRESS", "logs": [{"message": "a b"}]}\n\n: ping\n\ndata: {"status": "COMPLETED"}\n\n'
    expected = [{"status": "IN_PROGRESS", "logs": [{"message": "a b"}]}, KEEPALIVE, {"status": "COMPLETED"}]
    for cut in range(1, len(wire)):
        assert events(wire[:cut], wire[cut:]) == expected, cut
    assert events(*[wire[i : i + 1] for i in range(len(wire))]) == expected


def test_crlf_line_endings():
    assert events(b'data: {"a": 1}\r\n\r\n: ping\r\n\r\ndata: {"b": 2}\r\n\r\n') == [{"a": 1}, KEEPALIVE, {"b": 2}]


def test_crlf_split_between_cr_and_lf():
    assert events(b'data: {"a": 1}\r', b'\n\r', b'\n') == [{"a": 1}]


def test_comments_are_keepalives_not_events():
    items = events(b": ping\n\n", b":\n\n", b': keep-alive {"status": "X"}\n\n')
    assert items == [KEEPALIVE, KEEPALIVE, KEEPALIVE]
    assert data_only(items) == []


def test_multi_line_data_is_joined_with_newlines():
    assert events(b'data: {"status":\ndata:  "COMPLETED",\ndata: "n": 1}\n\n') == [{"status": "COMPLETED", "n": 1}]


def test_data_without_space_after_colon():
    assert events(b'data:{"a":1}\n\n') == [{"a": 1}]


def test_other_fields_are_ignored():
    assert events(b'event: status\nid: 7\nretry: 1000\ndata: {"a": 1}\n\n') == [{"a": 1}]


def test_blank_lines_without_data_yield_nothing():
    assert events(b"\n\n\n", b'data: {"a": 1}\n\n\n\n') == [{"a": 1}]


def test_final_event_without_blank_line_at_clean_close():
    assert events(b'data: {"status": "COMPLETED"}\n') == [{"status": "COMPLETED"}]


def test_stream_cut_mid_line_yields_no_partial_event():
    # A dropped connection is not bad JSON from fal: the half line is not parsed at all.
    assert events(b'data: {"status": "IN_QUEUE"}\n\n', b'data: {"status": "COMP') == [{"status": "IN_QUEUE"}]


def test_empty_stream():
    assert events() == []


def test_events_are_yielded_as_soon_as_they_arrive():
    response = FakeResponse([b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b'data: {"n": 3}\n\n'])
    it = iter_sse(response)
    assert next(it) == {"n": 1}
    assert response.raw.reads == 1  # the first event did not wait for the rest of the stream
    assert next(it) == {"n": 2}
    assert response.raw.reads == 2


@pytest.mark.parametrize("payload", [b"{broken", b"not json at all", b'{"a": 1', b""])
def test_invalid_json_is_invalid_response(payload):
    response = FakeResponse([b'data: {"ok": true}\n\n', b"data: " + payload + b"\n\n"], headers={"x-fal-request-id": "gw-5"})
    it = iter_sse(response)
    assert next(it) == {"ok": True}
    with pytest.raises(ActionError) as info:
        next(it)
    err = info.value
    assert err.type == "invalid_response"
    assert err.status_code == 200
    assert err.fal_request_id == "gw-5"
    assert err.detail == payload.decode()


def test_invalid_utf8_in_detail_is_replaced():
    with pytest.raises(ActionError) as info:
        events(b"data: \xff\xfe\n\n")
    assert info.value.type == "invalid_response"
    assert isinstance(info.value.detail, str)
