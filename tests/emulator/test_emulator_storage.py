"""Uploads as fal's: CDN token, single upload, multipart, signed-URL fallback."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone

import pytest


def _token(http, url, headers=None):
    r = http.post(f"{url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_token_shape(emu, http):
    tok = _token(http, emu.url)
    assert tok["token_type"] == "Bearer" and tok["token"]
    assert tok["base_url"] == emu.url + "/cdn"
    expires = datetime.fromisoformat(tok["expires_at"])
    assert expires > datetime.now(timezone.utc)
    assert http.post(f"{emu.url}/storage/auth/token", params={"storage_type": "gcs"}).status_code == 400


def test_single_upload_roundtrip(emu, http):
    tok = _token(http, emu.url)
    data = os.urandom(200_000)
    r = http.post(f"{tok['base_url']}/files/upload", data=data,
                  headers={"Authorization": f"{tok['token_type']} {tok['token']}", "Content-Type": "image/png",
                           "X-Fal-File-Name": "cat photo.png"})
    assert r.status_code == 200
    url = r.json()["access_url"]
    assert url.startswith(emu.url + "/cdn/files/") and url.endswith("/cat_photo.png")
    got = http.get(url)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert emu.files[url] == data


def test_cdn_rejects_api_key_and_missing_token(keyed_emu, http):
    url = keyed_emu.url
    for headers in ({}, {"Authorization": "Key kid:secret"}, {"Authorization": "Bearer made-up"}):
        r = http.post(f"{url}/cdn/files/upload", data=b"x", headers=headers)
        assert r.status_code == 401 and r.json()["detail"]
    # the token endpoint itself needs the key
    assert http.post(f"{url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}).status_code == 401
    tok = _token(http, url, headers={"Authorization": "Key kid:secret"})
    r = http.post(f"{url}/cdn/files/upload", data=b"x", headers={"Authorization": f"Bearer {tok['token']}"})
    assert r.status_code == 200


def test_multipart_upload(emu, http):
    tok = _token(http, emu.url)
    auth = {"Authorization": f"Bearer {tok['token']}"}
    r = http.post(f"{tok['base_url']}/files/upload/multipart",
                  headers={**auth, "Content-Type": "application/octet-stream", "X-Fal-File-Name": "big.bin"})
    assert r.status_code == 200
    access_url, upload_id = r.json()["access_url"], r.json()["uploadId"]
    chunks = [os.urandom(300_000), os.urandom(300_000), os.urandom(1234)]
    parts = []
    for n in (3, 1, 2):  # parts may arrive in any order
        p = http.put(f"{access_url}/multipart/{upload_id}/{n}", data=chunks[n - 1],
                     headers={**auth, "Accept-Encoding": "identity"})
        assert p.status_code == 200 and p.headers["ETag"]
        parts.append({"partNumber": n, "etag": p.headers["ETag"]})
    assert http.get(access_url).status_code == 404  # not visible before complete
    c = http.post(f"{access_url}/multipart/{upload_id}/complete", json={"parts": parts}, headers=auth)
    assert c.status_code == 200 and c.json()["access_url"] == access_url
    got = http.get(access_url).content
    assert hashlib.sha256(got).digest() == hashlib.sha256(b"".join(chunks)).digest()


def test_multipart_rejects_bad_etag_missing_part_and_no_token(emu, http):
    tok = _token(http, emu.url)
    auth = {"Authorization": f"Bearer {tok['token']}"}
    r = http.post(f"{tok['base_url']}/files/upload/multipart", headers=auth).json()
    base = f"{r['access_url']}/multipart/{r['uploadId']}"
    etag = http.put(f"{base}/1", data=b"abc", headers=auth).headers["ETag"]
    assert http.put(f"{base}/2", data=b"abc").status_code == 401
    bad = http.post(f"{base}/complete", json={"parts": [{"partNumber": 1, "etag": '"0000"'}]}, headers=auth)
    assert bad.status_code == 400
    missing = http.post(f"{base}/complete", json={"parts": [{"partNumber": 1, "etag": etag},
                                                            {"partNumber": 2, "etag": etag}]}, headers=auth)
    assert missing.status_code == 400
    assert http.post(f"{base}/complete", json={"nope": 1}, headers=auth).status_code == 400
    ok = http.post(f"{base}/complete", json={"parts": [{"partNumber": 1, "etag": etag}]}, headers=auth)
    assert ok.status_code == 200 and http.get(r["access_url"]).content == b"abc"


def test_fallback_signed_url_upload(emu, http):
    r = http.post(f"{emu.url}/storage/upload/initiate", params={"storage_type": "gcs"},
                  json={"file_name": "notes.txt", "content_type": "text/plain"})
    assert r.status_code == 200
    upload_url, file_url = r.json()["upload_url"], r.json()["file_url"]
    assert upload_url.startswith(emu.url) and file_url.startswith(emu.url)
    assert http.put(upload_url.split("?")[0], data=b"x").status_code == 403  # unsigned
    data = b"hello fal\n" * 1000
    assert http.put(upload_url, data=data, headers={"Content-Type": "text/plain"}).status_code == 200
    got = http.get(file_url)
    assert got.headers["Content-Type"] == "text/plain"
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert emu.files[file_url] == data


def test_fallback_requires_key_when_configured(keyed_emu, http):
    url = f"{keyed_emu.url}/storage/upload/initiate?storage_type=gcs"
    assert http.post(url, json={}).status_code == 401
    assert http.post(url, json={}, headers={"Authorization": "Key kid:secret"}).status_code == 200


@pytest.mark.parametrize("path", ["/cdn/files/nope/x.bin", "/cdn/images/99999x1/ffffff.png", "/cdn/other"])
def test_unknown_files_404(emu, http, path):
    assert http.get(emu.url + path).status_code == 404
