"""upload_file's object_lifecycle: fal's X-Fal-Object-Lifecycle-Preference on every upload path."""

from __future__ import annotations

import json

TOKEN = {"token": "t0k", "token_type": "Bearer", "base_url": "https://cdn.test", "expires_at": "2999-01-01T00:00:00Z"}
LIFECYCLE = {"expiration_duration_seconds": 3600, "initial_acl": {"default": "forbid", "rules": [{"user": "me", "decision": "allow"}]}}
HEADER = "X-Fal-Object-Lifecycle-Preference"


def test_the_cdn_upload_carries_the_lifecycle_as_compact_json(conn, mocked):
    mocked.post("https://rest.test/storage/auth/token", json=TOKEN)
    mocked.post("https://cdn.test/files/upload", json={"access_url": "https://cdn.test/files/x/a.txt"})
    out = conn.run("upload_file", {"data_base64": "aGk=", "file_name": "a.txt", "object_lifecycle": LIFECYCLE})
    assert out["success"] is True, out
    sent = mocked.calls[1].request.headers[HEADER]
    assert json.loads(sent) == LIFECYCLE and " " not in sent


def test_the_storage_fallback_carries_it_too(conn, mocked):
    mocked.post("https://rest.test/storage/auth/token", json=TOKEN)
    mocked.post("https://cdn.test/files/upload", status=404, json={"detail": "no"})
    mocked.post("https://rest.test/storage/upload/initiate", json={"upload_url": "https://up.test/put?sig=1",
                                                                   "file_url": "https://cdn.test/files/y/a.txt"})
    mocked.put("https://up.test/put", body=b"")
    out = conn.run("upload_file", {"data_base64": "aGk=", "file_name": "a.txt", "object_lifecycle": {"expiration_duration_seconds": None}})
    assert out["success"] is True, out
    initiate = next(c for c in mocked.calls if "initiate" in c.request.url)
    assert json.loads(initiate.request.headers[HEADER]) == {"expiration_duration_seconds": None}


def test_without_it_no_header_is_sent(conn, mocked):
    mocked.post("https://rest.test/storage/auth/token", json=TOKEN)
    mocked.post("https://cdn.test/files/upload", json={"access_url": "https://cdn.test/files/x/a.txt"})
    conn.run("upload_file", {"data_base64": "aGk=", "file_name": "a.txt"})
    assert HEADER not in mocked.calls[1].request.headers


def test_a_bad_lifecycle_is_refused_before_any_request(conn, mocked):
    for bad in ({}, {"expiration_duration_seconds": 0}, {"initial_acl": {"default": "public"}}, {"ttl": 5}):
        out = conn.run("upload_file", {"data_base64": "aGk=", "file_name": "a.txt", "object_lifecycle": bad})
        assert out["failure"]["type"] == "invalid_input" and "object_lifecycle" in out["error"], (bad, out["error"])
    assert not mocked.calls
