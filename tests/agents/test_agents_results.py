"""Agent-safe results: never inline media, never more than max_tool_result_bytes, never silently cut."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from connector import Connector
from connector.agents.results import NOTE_KEY, agent_output, json_size, media_kind, summary, trim_note

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(64)).decode()
WAV = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)).decode()
MP4 = base64.b64encode(b"\x00\x00\x00\x18ftypmp42" + bytes(32)).decode()


def valid(conn: Connector, action_id: str, out: dict[str, Any]) -> bool:
    return conn.action(action_id).output_validator.is_valid(out)


def big_images(n: int = 400) -> dict[str, Any]:
    caption = "a red fox in fresh snow at golden hour, " * 12
    return {"images": [{"url": f"https://v3.fal.media/files/fox/{i}.png", "width": 1024, "height": 768,
                        "content_type": "image/png", "caption": caption} for i in range(n)], "seed": 42}


def test_a_big_model_output_is_trimmed_to_urls_and_metadata(emu_conn, check_output):
    conn = emu_conn()
    data = big_images()
    full = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": data})
    assert full["success"] and json_size(full) > 100_000  # the plain run() is untouched
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/echo", "data": data})
    assert json_size(out) <= 100_000
    check_output(conn, "subscribe", out)
    assert out["success"] and out["request_id"] == out["request_id"]
    images = out["data"]["echo"]["images"]
    assert [i["url"] for i in images] == [f"https://v3.fal.media/files/fox/{i}.png" for i in range(400)]  # every URL
    assert images[0]["width"] == 1024 and images[0]["content_type"] == "image/png" and out["data"]["echo"]["seed"] == 42
    assert images[0]["caption"].startswith("[trimmed: ")  # long texts go first
    note = out["data"][NOTE_KEY]
    assert "max_tool_result_bytes" in note and "data.echo.images[*].caption: 400 strings" in note


def test_when_even_the_urls_do_not_fit_the_list_is_cut_and_said_so(emu_conn):
    conn = emu_conn()
    out = conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": big_images(3000)})
    assert json_size(out) <= 100_000 and valid(conn, "run_model", out)
    images = out["data"]["echo"]["images"]
    assert 1 <= len(images) < 3000 and images[0]["url"].endswith("/0.png")
    assert f"data.echo.images: all but the first {len(images)} of 3,000 items" in out["data"][NOTE_KEY]


@pytest.mark.parametrize("limit", [1024, 4096, 20_000])
def test_any_limit_is_kept_and_the_note_is_always_there(emu_conn, limit):
    conn = emu_conn(max_tool_result_bytes=limit)
    out = conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": big_images(60)})
    assert out["success"]
    assert json_size(out) <= limit
    assert valid(conn, "run_model", out)
    assert trim_note(out) and NOTE_KEY in out["data"]


def test_small_outputs_pass_unchanged(offline: Connector):
    action = offline.action("run_model")
    output = {"success": True, "error": None, "failure": None, "data": {"images": [{"url": "https://x/y.png"}], "seed": 1}}
    assert agent_output(action, output, 100_000) is output


@pytest.mark.parametrize("media", [
    "data:image/png;base64," + PNG,
    "data:image/png;base64,iVBORw0KGgo=",  # tiny, still never inline
    "data:audio/wav;base64," + WAV,
    "data:text/plain,hello",  # a data: URI of any kind
    PNG,  # raw base64, recognised by its signature
    JPEG,
    WAV,
    MP4,
])
def test_inline_media_is_replaced_by_a_note(emu_conn, media):
    conn = emu_conn()
    out = conn.call_tool("run_model", {"app_id": "fal-ai/echo", "data": {"image": media, "seed": 7}})
    assert out["success"] and valid(conn, "run_model", out)
    replaced = out["data"]["echo"]["image"]
    assert replaced.startswith("[omitted: inline ") and media[:40] not in replaced
    assert out["data"]["echo"]["seed"] == 7
    assert "data.echo.image" in out["data"][NOTE_KEY]


def test_base64_under_media_keys_and_long_runs_are_replaced(offline: Connector):
    action = offline.action("get_request_response")
    output = {"success": True, "error": None, "failure": None, "data": {
        "b64_json": base64.b64encode(b"not a known format at all").decode(),
        "audio_base64": base64.b64encode(b"x" * 40).decode(),
        "blob": base64.b64encode(bytes(range(256)) * 16).decode(),  # 5 KB of base64
        "token": "abcd1234abcd1234",  # base64 alphabet, but short and no media signature
        "prompt": "a red fox", "url": "https://example.com/a.png",
    }}
    before = copy.deepcopy(output)
    out = agent_output(action, output, 100_000)
    assert output == before  # the caller's object is not modified
    data = out["data"]
    for key in ("b64_json", "audio_base64", "blob"):
        assert data[key].startswith("[omitted: inline "), key
    assert data["token"] == "abcd1234abcd1234" and data["prompt"] == "a red fox" and data["url"] == "https://example.com/a.png"
    assert action.output_validator.is_valid(out)


def test_media_kind():
    assert media_kind("data:image/webp;base64,UklGR") == "image/webp"
    assert media_kind(PNG) == "image/png"
    assert media_kind(JPEG) == "image/jpeg"
    assert media_kind(WAV) == "audio/wav"
    assert media_kind(MP4) == "video/mp4"
    assert media_kind("hello world, this is text") is None
    assert media_kind("https://v3.fal.media/files/a.png") is None
    assert media_kind("abcdefghijklmnopqrstuvwxyz") is None
    assert media_kind("data: the prompt, as given") is None  # text that merely starts with "data:"
    assert media_kind("data:,hello") == "text/plain"


def test_long_lists_of_events_keep_the_newest(offline: Connector):
    action = offline.action("stream_request_status")
    event = {"status": "IN_PROGRESS", "queue_position": None, "logs": [], "metrics": None, "job_error": None, "job_error_type": None}
    events = [{**event, "logs": [{"message": f"step {i} " + "x" * 200, "level": "INFO", "timestamp": None}]} for i in range(2000)]
    events[-1] = {**event, "status": "COMPLETED", "metrics": {"inference_time": 1.5}}
    output = {"success": True, "error": None, "failure": None, "status": "COMPLETED", "events": events,
              "logs": [e["logs"][0] for e in events[:-1]], "metrics": {"inference_time": 1.5}, "job_error": None, "job_error_type": None}
    assert action.output_validator.is_valid(output)
    out = agent_output(action, output, 20_000)
    assert json_size(out) <= 20_000 and action.output_validator.is_valid(out)
    assert out["events"][-1]["status"] == "COMPLETED" and out["status"] == "COMPLETED"
    assert out["logs"][-1]["message"].startswith("step 1998") or out["logs"][-1]["message"].startswith("[trimmed")
    note = trim_note(out)
    assert note and "events: all but the last" in note and "logs: all but the last" in note


def test_huge_catalogue_entries(offline: Connector):
    action = offline.action("get_models")
    models = [{"endpoint_id": f"fal-ai/m{i}", "metadata": {"display_name": f"M{i}", "category": "text-to-image"},
               "openapi": {"paths": {"/": {"post": {"description": "d" * 5000}}}}} for i in range(200)]
    output = {"success": True, "error": None, "failure": None, "models": models, "next_cursor": "Mg==", "has_more": True}
    assert action.output_validator.is_valid(output)
    out = agent_output(action, output, 50_000)
    assert json_size(out) <= 50_000 and action.output_validator.is_valid(out)
    assert out["models"][0]["endpoint_id"] == "fal-ai/m0" and out["next_cursor"] == "Mg==" and out["has_more"] is True
    assert trim_note(out)  # placed in a model entry: those accept extra keys


def test_failures_are_never_trimmed_away(offline: Connector):
    action = offline.action("get_request_response")
    detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]
    output = {"success": False, "error": "the model rejected the input", "data": None,
              "failure": {"type": "model_error", "status_code": 422, "retryable": False, "attempts": 1,
                          "fal_request_id": None, "retry_after": None, "detail": detail}}
    assert agent_output(action, output, 1024) is output


def test_summary_text():
    ok = {"success": True, "error": None, "failure": None, "request_id": "r-1", "status": "COMPLETED",
          "data": {"images": [{"url": f"https://x/{i}.png"} for i in range(8)], NOTE_KEY: "Result shortened: left out x"}}
    text = summary("subscribe", ok)
    assert text.startswith("subscribe succeeded: request_id r-1, status COMPLETED.")
    assert "https://x/0.png" in text and "https://x/4.png" in text and "https://x/5.png" not in text
    assert "Result shortened" in text
    assert "Data: {\"echo\": 1}" in summary("run_model", {"success": True, "error": None, "failure": None, "data": {"echo": 1}})
    failed = {"success": False, "error": "bad app_id", "failure": {"type": "invalid_input", "retryable": False, "detail": None}}
    assert summary("subscribe", failed) == "subscribe failed: invalid_input: bad app_id"
