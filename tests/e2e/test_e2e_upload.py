"""``upload_file`` end to end: real bytes through the CDN token, single
and multipart uploads, the storage fallback; the stored bytes' hash is checked by fetching the
returned URL, and the CDN never sees the API key."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from urllib.parse import unquote

import pytest
import requests


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _calls(emu) -> list[tuple[str, str, dict]]:
    """The connector's requests (method, path, headers); the tests' own GETs of the stored
    files use plain requests and are left out."""
    return [(m, t.split("?")[0], h) for m, t, h in list(emu.requests_log)
            if not h.get("User-Agent", "").startswith("python-requests")]


def _served(url: str) -> requests.Response:
    r = requests.get(url, timeout=5)
    assert r.status_code == 200, r.text
    return r


def _assert_key_only_where_allowed(emu) -> None:
    """The CDN gets the storage token only; the signed fallback URL gets nothing."""
    for method, path, headers in _calls(emu):
        auth = headers.get("Authorization", "")
        if path.startswith("/cdn/"):
            assert auth.startswith("Bearer ") and emu.api_key not in auth, (method, path, auth)
        elif path.startswith("/storage/upload/put/"):
            assert auth == "", (method, path, auth)
        else:
            assert auth == f"Key {emu.api_key}", (method, path, auth)


@pytest.fixture
def upload_conn(keyed_emu, make_conn):
    return make_conn(keyed_emu)


def test_small_file_by_path_is_one_post(keyed_emu, upload_conn, check_output, tmp_path):
    data = os.urandom(3000)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    out = upload_conn.run("upload_file", {"path": str(path)})
    check_output(upload_conn, "upload_file", out)
    assert out["success"], out
    assert out["size"] == 3000 and out["content_type"] == "image/png"
    assert out["url"].startswith(keyed_emu.url + "/cdn/files/") and out["url"].endswith("/photo.png")
    calls = [(m, p) for m, p, _ in _calls(keyed_emu)]
    assert calls == [("POST", "/storage/auth/token"), ("POST", "/cdn/files/upload")]
    upload_headers = _calls(keyed_emu)[1][2]
    assert upload_headers["X-Fal-File-Name"] == "photo.png" and upload_headers["Content-Type"] == "image/png"
    served = _served(out["url"])
    assert _sha(served.content) == _sha(data) and served.headers["Content-Type"] == "image/png"
    _assert_key_only_where_allowed(keyed_emu)


@pytest.mark.parametrize("name", ["фото.png", "图片.png", "naïve café.png"])
def test_file_names_outside_latin1_upload(keyed_emu, upload_conn, check_output, tmp_path, name):
    """A real file name in any script uploads: the name travels percent-encoded (UTF-8) in
    X-Fal-File-Name, since a header cannot carry it as is."""
    data = os.urandom(500)
    path = tmp_path / name
    path.write_bytes(data)
    for inputs in ({"path": str(path)}, {"data_base64": base64.b64encode(data).decode(), "file_name": name}):
        out = upload_conn.run("upload_file", inputs)
        check_output(upload_conn, "upload_file", out)
        assert out["success"], out
        assert out["content_type"] == "image/png"
        assert _sha(_served(out["url"]).content) == _sha(data)
        sent = _calls(keyed_emu)[-1][2]["X-Fal-File-Name"]
        assert sent.isascii() and unquote(sent) == name, sent


def test_base64_upload_and_the_token_is_reused(keyed_emu, upload_conn, check_output):
    text = b"hello, fal\n" * 50
    out = upload_conn.run("FAL_AI_UPLOAD_FILE", {"data_base64": base64.b64encode(text).decode(), "file_name": "notes.txt"})
    check_output(upload_conn, "upload_file", out)
    assert out["success"] and out["size"] == len(text) and out["content_type"] == "text/plain", out
    assert _sha(_served(out["url"]).content) == _sha(text)

    blob = os.urandom(100)
    out = upload_conn.run("upload_file", {"data_base64": base64.b64encode(blob).decode(), "file_name": "blob",
                                          "content_type": "application/x-custom"})
    assert out["success"] and out["content_type"] == "application/x-custom", out
    served = _served(out["url"])
    assert served.content == blob and served.headers["Content-Type"] == "application/x-custom"
    tokens = [p for m, p, _ in _calls(keyed_emu) if p == "/storage/auth/token"]
    assert len(tokens) == 1  # one CDN token for both uploads
    _assert_key_only_where_allowed(keyed_emu)


def test_large_file_goes_multipart_with_checked_parts(keyed_emu, make_conn, check_output, tmp_path):
    conn = make_conn(keyed_emu, upload_multipart_threshold=1000, upload_part_size=400)
    data = os.urandom(2500)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    out = conn.run("upload_file", {"path": str(path)})
    check_output(conn, "upload_file", out)
    assert out["success"] and out["size"] == 2500 and out["content_type"] == "application/octet-stream", out
    calls = [(m, p) for m, p, _ in _calls(keyed_emu)]
    assert calls[:2] == [("POST", "/storage/auth/token"), ("POST", "/cdn/files/upload/multipart")]
    access = out["url"][len(keyed_emu.url):]
    parts = sorted((p for m, p in calls if m == "PUT"), key=lambda p: int(p.rsplit("/", 1)[1]))  # sent in parallel
    assert parts == [f"{access}/multipart/{parts[0].split('/')[-2]}/{n}" for n in range(1, 8)]  # 7 parts of <= 400 B
    assert calls[-1] == ("POST", parts[0].rsplit("/", 1)[0] + "/complete")
    assert ("POST", "/cdn/files/upload") not in calls
    assert _sha(_served(out["url"]).content) == _sha(data)
    _assert_key_only_where_allowed(keyed_emu)


def test_multipart_parts_are_sent_in_parallel_up_to_the_cap(keyed_emu, make_conn, tmp_path, monkeypatch):
    from connector.default_plugins.upload import PARALLEL_PARTS

    # Each part is held until PARALLEL_PARTS parts have been seen on the wire together (or 2 s
    # pass): parallel uploads get there at once; one-at-a-time uploads never do.
    store = keyed_emu._storage
    real_part = store.multipart_part
    lock = threading.Condition()
    in_flight, most = 0, 0

    def held_part(*args):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
            lock.notify_all()
            lock.wait_for(lambda: most >= PARALLEL_PARTS, timeout=2)
        try:
            return real_part(*args)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(store, "multipart_part", held_part)
    conn = make_conn(keyed_emu, upload_multipart_threshold=1000, upload_part_size=300)
    data = os.urandom(3000)  # 10 parts
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    out = conn.run("upload_file", {"path": str(path)})
    assert out["success"], out
    assert most == PARALLEL_PARTS  # parallel, and never more parts in flight than the cap
    assert keyed_emu.files[out["url"]] == data  # parts completed out of order still join in order


def test_a_failing_part_stops_the_upload_and_falls_back(keyed_emu, make_conn, tmp_path):
    from connector.default_plugins.upload import PARALLEL_PARTS

    keyed_emu.faults.add("multipart", status=400, times=None, path="/multipart/")  # parts, not create
    conn = make_conn(keyed_emu, upload_multipart_threshold=1000, upload_part_size=100)
    data = os.urandom(3000)  # 30 parts
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    out = conn.run("upload_file", {"path": str(path)})
    assert out["success"], out
    calls = [(m, p) for m, p, _ in _calls(keyed_emu)]
    tried = {int(p.rsplit("/", 1)[1]) for m, p in calls if m == "PUT" and "/multipart/" in p}
    assert tried and max(tried) <= PARALLEL_PARTS  # no part started after the first failure
    assert not [p for m, p in calls if p.endswith("/complete")]
    assert keyed_emu.files[out["url"]] == data  # the storage fallback got the whole file


def test_exactly_at_the_threshold_is_a_single_post(keyed_emu, make_conn, tmp_path):
    conn = make_conn(keyed_emu, upload_multipart_threshold=1000, upload_part_size=400)
    path = tmp_path / "edge.bin"
    path.write_bytes(b"x" * 1000)
    out = conn.run("upload_file", {"path": str(path)})
    assert out["success"], out
    assert [p for m, p, _ in _calls(keyed_emu) if m == "POST"] == ["/storage/auth/token", "/cdn/files/upload"]


@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
def test_cdn_failure_falls_back_to_storage(keyed_emu, make_conn, check_output, tmp_path, multipart):
    # The fault is narrowed to the CDN host's paths: the emulator names the signed fallback PUT
    # route "upload" too, so an unfiltered "upload" fault would break the fallback as well.
    route = "multipart" if multipart else "upload"
    keyed_emu.faults.add(route, status=500, times=None, path="/cdn/files/")
    conn = make_conn(keyed_emu, upload_multipart_threshold=1000, upload_part_size=400)
    data = os.urandom(2500 if multipart else 500)
    path = tmp_path / "fallback.png"
    path.write_bytes(data)
    events: list[dict] = []
    out = conn.run("upload_file", {"path": str(path)}, on_event=events.append)
    check_output(conn, "upload_file", out)
    assert out["success"] and out["size"] == len(data) and out["content_type"] == "image/png", out
    assert [e for e in events if e["type"] == "upload_fallback"]
    calls = [(m, p) for m, p, _ in _calls(keyed_emu)]
    assert ("POST", "/storage/upload/initiate") in calls
    assert [m for m, p in calls if p.startswith("/storage/upload/put/")] == ["PUT"]
    assert _sha(_served(out["url"]).content) == _sha(data)
    assert keyed_emu.files[out["url"]] == data
    _assert_key_only_where_allowed(keyed_emu)


def test_wrong_key_is_auth_error_without_fallback(keyed_emu, make_conn, tmp_path):
    conn = make_conn(keyed_emu, api_key="wrong:key-000000")
    path = tmp_path / "a.txt"
    path.write_bytes(b"abc")
    out = conn.run("upload_file", {"path": str(path)})
    assert out["failure"]["type"] == "auth_error" and out["failure"]["attempts"] == 1, out
    assert [p for _, p, _ in _calls(keyed_emu)] == ["/storage/auth/token"]


@pytest.mark.parametrize("inputs", [
    {"path": "/nonexistent/dir/photo.png"},
    {"path": "."},
    {"data_base64": "not base64!", "file_name": "a.png"},
    {"data_base64": "aGVsbG8="},  # no file_name
    {},
])
def test_bad_input_sends_nothing(keyed_emu, upload_conn, check_output, inputs):
    out = upload_conn.run("upload_file", inputs)
    check_output(upload_conn, "upload_file", out)
    assert not out["success"] and out["failure"]["type"] == "invalid_input", out
    assert out["failure"]["attempts"] == 0
    assert len(keyed_emu.requests_log) == 0
