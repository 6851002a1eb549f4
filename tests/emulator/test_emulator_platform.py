"""Platform API v1 as fal's: models, pricing, estimate, error envelope."""

from __future__ import annotations

import base64

import pytest

REQUIRED_METADATA = {"display_name", "category", "description", "status", "tags", "updated_at", "is_favorited",
                     "thumbnail_url", "model_url", "date", "highlighted", "pinned"}


def envelope(r, status, type_):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == type_ and isinstance(err["message"], str) and err["message"]


def test_models_list_shape(emu, http):
    r = http.get(f"{emu.url}/v1/models", params={"limit": 100})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"models", "next_cursor", "has_more"}
    assert body["has_more"] is False and body["next_cursor"] is None
    ids = [m["endpoint_id"] for m in body["models"]]
    for expected in ("fal-ai/fast-sdxl", "fal-ai/flux/dev", "fal-ai/echo", "fal-ai/always-fails",
                     "fal-ai/slow", "fal-ai/sized"):
        assert expected in ids
    for m in body["models"]:
        assert REQUIRED_METADATA <= set(m["metadata"])
        assert m["metadata"]["status"] in ("active", "deprecated")
        assert m["metadata"]["highlighted"] is False and m["metadata"]["pinned"] is False
        assert "openapi" not in m
    assert any(m["metadata"]["status"] == "deprecated" for m in body["models"])
    thumb = http.get(body["models"][0]["metadata"]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")


def test_models_cursor_pagination(emu, http):
    everything = [m["endpoint_id"] for m in http.get(f"{emu.url}/v1/models", params={"limit": 100}).json()["models"]]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = http.get(f"{emu.url}/v1/models", params=params).json()
        pages += 1
        seen += [m["endpoint_id"] for m in body["models"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
        assert base64.b64decode(cursor).decode() == str(pages + 1)  # fal: "Mg==" is page 2
    assert seen == everything and pages == -(-len(everything) // 3)
    assert http.get(f"{emu.url}/v1/models", params={"limit": 3}).json()["next_cursor"] == "Mg=="


def test_models_search_and_filters(emu, http):
    def get(**p):
        return [m["endpoint_id"] for m in http.get(f"{emu.url}/v1/models", params=p).json()["models"]]

    assert set(get(q="flux")) == {"fal-ai/flux/dev", "fal-ai/flux/dev/image-to-image", "fal-ai/flux/schnell"}
    assert get(q="FLUX.1 [schnell]") == ["fal-ai/flux/schnell"]
    assert "fal-ai/flux/dev/image-to-image" in get(category="image-to-image")
    assert all(i != "fal-ai/echo" for i in get(category="text-to-image"))
    assert get(status="deprecated") == ["fal-ai/stable-diffusion-v15"]
    assert "fal-ai/stable-diffusion-v15" not in get(status="active", limit=100)
    assert get(endpoint_id=["fal-ai/echo", "fal-ai/sized"]) == ["fal-ai/echo", "fal-ai/sized"]
    assert get(endpoint_id="fal-ai/echo,fal-ai/sized") == ["fal-ai/echo", "fal-ai/sized"]
    assert get(endpoint_id="fal-ai/echo,fal-ai/flux/dev", q="flux") == ["fal-ai/flux/dev"]


def test_models_expand(emu, http):
    body = http.get(f"{emu.url}/v1/models",
                    params={"endpoint_id": "fal-ai/flux/dev", "expand": ["openapi-3.0", "enterprise_status"]}).json()
    (m,) = body["models"]
    assert m["openapi"]["openapi"].startswith("3.0")
    assert "/fal-ai/flux/dev" in m["openapi"]["paths"]
    assert "/fal-ai/flux/requests/{request_id}/status" in m["openapi"]["paths"]
    assert m["openapi"]["components"]["schemas"]["Input"]["required"] == ["prompt"]
    assert m["enterprise_status"] == "ready"
    comma = http.get(f"{emu.url}/v1/models", params={"endpoint_id": "fal-ai/echo",
                                                     "expand": "openapi-3.0,enterprise_status"}).json()
    assert {"openapi", "enterprise_status"} <= set(comma["models"][0])


@pytest.mark.parametrize("params", [
    {"endpoint_id": ",".join(f"fal-ai/m{i}" for i in range(51))},
    {"expand": "everything"},
    {"limit": "0"}, {"limit": "abc"}, {"limit": "1000"},
    {"cursor": "not base64!"},
    {"status": "retired"},
])
def test_models_validation_errors(emu, http, params):
    envelope(http.get(f"{emu.url}/v1/models", params=params), 400, "validation_error")


def test_models_unknown_endpoint_and_unknown_route(emu, http):
    envelope(http.get(f"{emu.url}/v1/models", params={"endpoint_id": "fal-ai/nope"}), 404, "not_found")
    envelope(http.get(f"{emu.url}/v1/nothing-here"), 404, "not_found")


def test_pricing(emu, http):
    r = http.get(f"{emu.url}/v1/models/pricing", params={"endpoint_id": ["fal-ai/flux/dev", "fal-ai/fast-sdxl"]})
    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None and body["has_more"] is False
    assert body["prices"][0] == {"endpoint_id": "fal-ai/flux/dev", "unit_price": 0.025, "unit": "image",
                                 "currency": "USD"}
    assert [p["endpoint_id"] for p in body["prices"]] == ["fal-ai/flux/dev", "fal-ai/fast-sdxl"]
    envelope(http.get(f"{emu.url}/v1/models/pricing"), 400, "validation_error")
    envelope(http.get(f"{emu.url}/v1/models/pricing", params={"endpoint_id": "fal-ai/nope"}), 404, "not_found")
    many = ",".join(["fal-ai/echo"] + [f"fal-ai/x{i}" for i in range(50)])
    envelope(http.get(f"{emu.url}/v1/models/pricing", params={"endpoint_id": many}), 400, "validation_error")


def test_estimate(emu, http):
    url = f"{emu.url}/v1/models/pricing/estimate"
    r = http.post(url, json={"estimate_type": "historical_api_price",
                             "endpoints": {"fal-ai/flux/dev": {"call_quantity": 100}}})
    assert r.status_code == 200
    assert r.json() == {"estimate_type": "historical_api_price", "total_cost": 2.5, "currency": "USD"}
    r = http.post(url, json={"estimate_type": "unit_price",
                             "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 50},
                                           "fal-ai/fast-sdxl": {"unit_quantity": 2}}})
    assert r.json() == {"estimate_type": "unit_price", "total_cost": 1.255, "currency": "USD"}


@pytest.mark.parametrize("body", [
    None, [], {"estimate_type": "guess", "endpoints": {"fal-ai/echo": {"call_quantity": 1}}},
    {"estimate_type": "historical_api_price", "endpoints": {}},
    {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/echo": {"call_quantity": 0}}},
    {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/echo": {"call_quantity": 1.5}}},
    {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/echo": {"unit_quantity": 1}}},
    {"estimate_type": "unit_price", "endpoints": {"fal-ai/echo": {"unit_quantity": 0}}},
    {"estimate_type": "unit_price", "endpoints": {"fal-ai/echo": {"unit_quantity": "5"}}},
    {"estimate_type": "unit_price", "endpoints": {"fal-ai/echo": 5}},
])
def test_estimate_bad_bodies_400(emu, http, body):
    r = http.post(f"{emu.url}/v1/models/pricing/estimate", json=body)
    envelope(r, 400, "validation_error")


def test_estimate_unknown_endpoint_404_and_bad_json(emu, http):
    url = f"{emu.url}/v1/models/pricing/estimate"
    envelope(http.post(url, json={"estimate_type": "unit_price", "endpoints": {"fal-ai/nope": {"unit_quantity": 1}}}),
             404, "not_found")
    envelope(http.post(url, data=b"{oops", headers={"Content-Type": "application/json"}), 400, "validation_error")
    envelope(http.get(url), 405, "validation_error")


def test_platform_auth_with_key(keyed_emu, http):
    url = keyed_emu.url
    assert http.get(f"{url}/v1/models").status_code == 200  # no key needed
    envelope(http.get(f"{url}/v1/models", headers={"Authorization": "Key wrong"}), 401, "authorization_error")
    envelope(http.get(f"{url}/v1/models/pricing", params={"endpoint_id": "fal-ai/echo"}), 401, "authorization_error")
    envelope(http.post(f"{url}/v1/models/pricing/estimate", json={}), 401, "authorization_error")
    good = {"Authorization": "Key kid:secret"}
    assert http.get(f"{url}/v1/models/pricing", params={"endpoint_id": "fal-ai/echo"}, headers=good).status_code == 200
    assert http.get(f"{url}/v1/models", headers=good).status_code == 200
