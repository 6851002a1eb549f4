"""fal endpoint ids and request ids."""

from __future__ import annotations

import pytest

from connector.errors import InvalidInputError
from connector.fal.app_id import check_request_id, parse_app_id

# value -> (endpoint, app_path)
VALID = [
    ("fast-sdxl", "fal-ai/fast-sdxl", "fal-ai/fast-sdxl"),
    ("flux", "fal-ai/flux", "fal-ai/flux"),
    ("fal-ai/flux", "fal-ai/flux", "fal-ai/flux"),
    ("fal-ai/flux/dev", "fal-ai/flux/dev", "fal-ai/flux"),
    ("fal-ai/flux/dev/image-to-image", "fal-ai/flux/dev/image-to-image", "fal-ai/flux"),
    ("fal-ai/flux-pro/v1.1-ultra", "fal-ai/flux-pro/v1.1-ultra", "fal-ai/flux-pro"),
    ("acme/my_app.v2", "acme/my_app.v2", "acme/my_app.v2"),
    ("123/456", "123/456", "123/456"),
    ("workflows/acme/upscale", "workflows/acme/upscale", "workflows/acme/upscale"),
    ("workflows/acme/upscale/fast/x", "workflows/acme/upscale/fast/x", "workflows/acme/upscale"),
    ("comfy/acme/sdxl-flow", "comfy/acme/sdxl-flow", "comfy/acme/sdxl-flow"),
    ("comfy/acme/sdxl-flow/v2", "comfy/acme/sdxl-flow/v2", "comfy/acme/sdxl-flow"),
    ("a" * 512, "fal-ai/" + "a" * 512, "fal-ai/" + "a" * 512),
]


@pytest.mark.parametrize(("value", "endpoint", "app_path"), VALID)
def test_parse_app_id(value, endpoint, app_path):
    app = parse_app_id(value)
    assert app.endpoint == endpoint
    assert app.app_path == app_path


def test_parts_and_request_path():
    app = parse_app_id("workflows/acme/upscale/fast")
    assert (app.namespace, app.owner, app.app, app.path) == ("workflows", "acme", "upscale", ("fast",))
    assert app.request_path("r1", "/status") == "/workflows/acme/upscale/requests/r1/status"
    assert app.request_path("r1") == "/workflows/acme/upscale/requests/r1"
    bare = parse_app_id("fast-sdxl")
    assert (bare.namespace, bare.owner, bare.app, bare.path) == (None, "fal-ai", "fast-sdxl", ())


INVALID = [
    "",
    "..",
    ".",
    "a//b",
    "/a/b",
    "a/b/",
    "a/../b",
    "a/./b",
    "a/b?x",
    "a/b#x",
    "a/%2e",
    "a/%2e%2e/b",
    "a b",
    "a/b c",
    "a\\b",
    "ü/x",
    "fal-ai/flüx",
    "workflows/x",
    "comfy/x",
    "workflows",
    "a/b\n",
    "a/b\t",
    "-a/b",
    "_a/b",
    "a/.b",
    "a:b/c",
    "https://fal.run/fal-ai/flux",
    "a" * 513,
    "a/" * 256 + "b",  # 513 characters
]


@pytest.mark.parametrize("value", INVALID)
def test_parse_app_id_rejects(value):
    with pytest.raises(InvalidInputError) as info:
        parse_app_id(value)
    assert info.value.type == "invalid_input"
    assert info.value.field == "app_id"
    assert "app_id" in info.value.message


@pytest.mark.parametrize("value", [None, 42, ["fal-ai/flux"], {"id": "x"}])
def test_parse_app_id_rejects_non_strings(value):
    with pytest.raises(InvalidInputError):
        parse_app_id(value)


@pytest.mark.parametrize("value", INVALID)
def test_schema_and_parser_agree_on_invalid_ids(conn, mocked, value):
    """What the parser rejects, the action rejects too, before any HTTP."""
    out = conn.run("get_request_status", {"app_id": value, "request_id": "abc"})
    assert out["failure"]["type"] == "invalid_input"
    assert "app_id" in out["error"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "value",
    ["80e732af-660e-45cd-bd63-580e4f2a94cc", "a", "A1", "req_1.2-3", "0" * 128],
)
def test_request_id_valid(value):
    assert check_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "../x", "a/b", "-a", "_a", ".a", "a b", "a?b", "a#b", "a%2e", "ü", "0" * 129, "a\n", None, 7],
)
def test_request_id_invalid(value):
    with pytest.raises(InvalidInputError) as info:
        check_request_id(value)
    assert info.value.field == "request_id"
