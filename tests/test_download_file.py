"""download_file: a URL saved to disk, streamed, size-capped, atomically placed, never with the key.

HTTP is mocked with ``responses``; the streaming deadline against a dripping server and the CLI's
``--download`` run against the emulator (tests/e2e/test_e2e_download.py).
"""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from connector import Connector
from connector.config import ConfigError

FILE_URL = "https://cdn.test/files/abc/fox.png"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def leftovers(folder) -> list[str]:
    """Temporary files a download left behind (they start with a dot and end in .part)."""
    return [name for name in os.listdir(folder) if name.endswith(".part")]


def no_key_sent(mocked) -> None:
    assert mocked.calls, "nothing was sent"
    for call in mocked.calls:
        assert "Authorization" not in call.request.headers, call.request.url


def test_saves_the_file_with_size_sha256_and_type(conn, mocked, check_output, tmp_path):
    mocked.get(FILE_URL, body=PNG, content_type="image/png")
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    check_output(conn, "download_file", out)
    assert out["success"], out["error"]
    assert out["path"] == str(tmp_path / "fox.png")
    assert (tmp_path / "fox.png").read_bytes() == PNG
    assert out["size"] == len(PNG) and out["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert out["content_type"] == "image/png" and out["url"] == FILE_URL
    assert leftovers(tmp_path) == []
    no_key_sent(mocked)


def test_a_file_path_dest_creates_its_directories(conn, mocked, tmp_path):
    mocked.get(FILE_URL, body=b"abc", content_type="")
    dest = tmp_path / "a" / "b" / "renamed.png"
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(dest)})
    assert out["success"], out["error"]
    assert dest.read_bytes() == b"abc" and out["path"] == str(dest)
    assert out["content_type"] == "image/png"  # no Content-Type: guessed from the name


def test_a_name_from_the_url_cannot_leave_the_directory(conn, mocked, tmp_path):
    url = "https://cdn.test/files/..%2F..%2Fetc%2Fevil.sh"
    mocked.get(url, body=b"x")
    out = conn.run("download_file", {"url": url, "dest": str(tmp_path) + "/"})
    assert out["success"], out["error"]
    assert os.path.dirname(out["path"]) == str(tmp_path)
    assert os.listdir(tmp_path) == [os.path.basename(out["path"])]


def test_the_key_is_never_sent_even_to_a_keyed_fal_origin(conn, mocked, tmp_path):
    # queue.test receives the key for every other action; a result file there must not.
    first, second = "https://queue.test/files/a.png", "https://run.test/files/b.png"
    mocked.get(first, status=302, headers={"Location": second})
    mocked.get(second, body=b"data")
    out = conn.run("download_file", {"url": first, "dest": str(tmp_path / "a.png")})
    assert out["success"], out["error"]
    assert [c.request.url for c in mocked.calls] == [first, second]
    no_key_sent(mocked)


# -- size cap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_over_max_bytes_fails_not_retryable_and_keeps_nothing(conn, mocked, check_output, tmp_path, declared):
    body = io.BufferedReader(io.BytesIO(b"x" * 5000))  # responses adds no Content-Length
    headers = {"Content-Length": "5000"} if declared else {}
    mocked.get(FILE_URL, body=body, headers=headers)
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path), "max_bytes": 4096})
    check_output(conn, "download_file", out)
    assert out["failure"]["type"] == "invalid_response" and out["failure"]["retryable"] is False
    assert "4096 byte limit (max_bytes)" in out["error"]
    assert os.listdir(tmp_path) == []
    assert len(mocked.calls) == 1  # not retried


def test_exactly_max_bytes_is_kept(conn, mocked, tmp_path):
    mocked.get(FILE_URL, body=b"y" * 4096)
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path), "max_bytes": 4096})
    assert out["success"] and out["size"] == 4096


# -- redirects --------------------------------------------------------------------------------


def chain(mocked, hops: int) -> str:
    """A redirect chain of ``hops`` hops (relative and absolute Locations) ending in the file."""
    urls = [f"https://cdn.test/r{i}" for i in range(hops)] + [FILE_URL]
    for i in range(hops):
        location = urls[i + 1] if i % 2 else urls[i + 1].removeprefix("https://cdn.test")
        mocked.get(urls[i], status=(301, 302, 307, 308)[i % 4], headers={"Location": location})
    mocked.get(FILE_URL, body=b"end")
    return urls[0]


def test_three_redirects_are_followed(conn, mocked, tmp_path):
    out = conn.run("download_file", {"url": chain(mocked, 3), "dest": str(tmp_path / "f")})
    assert out["success"], out["error"]
    assert out["url"] == FILE_URL and len(mocked.calls) == 4
    no_key_sent(mocked)


def test_a_fourth_redirect_is_refused(conn, mocked, tmp_path):
    out = conn.run("download_file", {"url": chain(mocked, 4), "dest": str(tmp_path / "f")})
    assert out["failure"]["type"] == "invalid_response" and not out["failure"]["retryable"]
    assert "more than 3 redirects" in out["error"]
    assert len(mocked.calls) == 4 and os.listdir(tmp_path) == []


@pytest.mark.parametrize("location", ["http://evil.test/x.png", "file:///etc/passwd", "ftp://cdn.test/x"])
def test_a_redirect_to_a_refused_url_is_not_followed(conn, mocked, tmp_path, location):
    mocked.get(FILE_URL, status=302, headers={"Location": location})
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path / "f")})
    assert out["failure"]["type"] == "invalid_response"
    assert "redirected to" in out["error"] and "https://" in out["error"]
    assert len(mocked.calls) == 1 and os.listdir(tmp_path) == []


# -- which URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://example.com/a.png", "http://cdn.test/files/a.png", "http://cdn.test:8443/a.png"])
def test_plain_http_is_refused_before_anything_is_sent(conn, mocked, tmp_path, url):
    out = conn.run("download_file", {"url": url, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "invalid_input" and out["failure"]["attempts"] == 0
    assert out["error"].startswith("invalid input: url:") and "https://" in out["error"]
    assert len(mocked.calls) == 0 and os.listdir(tmp_path) == []


@pytest.mark.parametrize("url", ["ftp://cdn.test/a.png", "file:///etc/passwd", "cdn.test/a.png"])
def test_other_schemes_are_invalid_input(conn, mocked, tmp_path, url):
    out = conn.run("download_file", {"url": url, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "invalid_input" and "url" in out["error"]
    assert len(mocked.calls) == 0


def test_plain_http_is_allowed_on_a_configured_origin(make_conn, mocked, tmp_path):
    conn = make_conn(cdn_url="http://127.0.0.1:9")  # e.g. the local emulator
    mocked.get("http://127.0.0.1:9/cdn/images/1.png", body=b"img")
    out = conn.run("download_file", {"url": "http://127.0.0.1:9/cdn/images/1.png", "dest": str(tmp_path)})
    assert out["success"], out["error"]
    no_key_sent(mocked)


# -- atomicity ----------------------------------------------------------------------------------


class BreaksOff(io.RawIOBase):
    """A body that gives ``good`` bytes, then a connection reset."""

    def __init__(self, good: bytes) -> None:
        self.good = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.good:
            raise ConnectionResetError(104, "Connection reset by peer")
        n = min(len(buffer), len(self.good))
        buffer[:n], self.good = self.good[:n], self.good[n:]
        return n


def test_a_body_that_breaks_off_leaves_no_file(conn, mocked, check_output, tmp_path):
    mocked.get(FILE_URL, body=io.BufferedReader(BreaksOff(b"z" * 1000)))
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    check_output(conn, "download_file", out)
    assert out["failure"]["type"] in ("connection_error", "timeout") and out["failure"]["retryable"]
    assert "broke off after" in out["error"]
    assert os.listdir(tmp_path) == []


def test_a_failed_overwrite_keeps_the_old_file(conn, mocked, tmp_path):
    old = tmp_path / "fox.png"
    old.write_bytes(b"old")
    mocked.get(FILE_URL, body=io.BufferedReader(BreaksOff(b"new" * 500)))
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path), "overwrite": True})
    assert not out["success"]
    assert old.read_bytes() == b"old" and os.listdir(tmp_path) == ["fox.png"]
    mocked.replace("GET", FILE_URL, body=b"new")
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path), "overwrite": True})
    assert out["success"] and old.read_bytes() == b"new"


def test_an_existing_file_is_kept_without_overwrite(conn, mocked, tmp_path):
    (tmp_path / "fox.png").write_bytes(b"mine")
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "invalid_input" and "overwrite" in out["error"]
    assert len(mocked.calls) == 0 and (tmp_path / "fox.png").read_bytes() == b"mine"


def test_an_http_error_names_the_url_not_fal_hints(conn, mocked, tmp_path):
    mocked.get(FILE_URL, status=404, body="gone")
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "not_found" and out["failure"]["status_code"] == 404
    assert FILE_URL in out["error"] and "app_id" not in out["error"]
    assert os.listdir(tmp_path) == []


# -- agents: only into FAL_CONNECTOR_DOWNLOAD_DIRS ----------------------------------------------


def test_download_dirs_setting_is_a_pathsep_list(tmp_path):
    env = {"FAL_CONNECTOR_DOWNLOAD_DIRS": os.pathsep.join(["/a", "/b c", ""])}
    assert Connector(environ=env, load_entry_points=False).config.download_dirs == ("/a", "/b c")
    with pytest.raises(ConfigError, match="FAL_CONNECTOR_DOWNLOAD_DIRS"):
        Connector(environ={"FAL_CONNECTOR_DOWNLOAD_DIRS": os.pathsep}, load_entry_points=False)


def test_an_agent_without_download_dirs_cannot_download(conn, mocked, check_output, tmp_path):
    out = conn.call_tool("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0
    assert "FAL_CONNECTOR_DOWNLOAD_DIRS" in out["error"]
    assert len(mocked.calls) == 0
    # run() (a program, not an agent) is not limited by the setting.
    mocked.get(FILE_URL, body=b"ok")
    assert conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})["success"]


def test_an_agent_downloads_only_inside_download_dirs(make_conn, mocked, tmp_path):
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (allowed / "escape").symlink_to(other, target_is_directory=True)
    conn = make_conn(download_dirs=[str(allowed)])
    mocked.get(FILE_URL, body=b"ok")
    for dest in (str(other), str(allowed / ".." / "other" / "x.png"), str(allowed / "escape" / "x.png")):
        out = conn.call_tool("download_file", {"url": FILE_URL, "dest": dest})
        assert out["failure"]["type"] == "policy_denied", dest
        assert out["failure"]["detail"]["rule"] == "download_dirs"
    assert len(mocked.calls) == 0 and os.listdir(other) == []
    out = conn.call_tool("download_file", {"url": FILE_URL, "dest": str(allowed / "sub") + "/"})
    assert out["success"], out["error"]
    assert (allowed / "sub" / "fox.png").read_bytes() == b"ok"


# -- fal-connector run --download: every file of an output ------------------------------------


def test_save_result_files_fetches_each_url_once_under_free_names(conn, mocked, tmp_path):
    from connector.result_files import save_result_files

    other = "https://cdn.test/files/xyz/fox.png"  # the same file name as FILE_URL
    mocked.get(FILE_URL, body=b"one")
    mocked.get(other, body=b"two")
    (tmp_path / "fox.png").write_bytes(b"already here")
    output = {"success": True, "data": {
        "images": [{"url": FILE_URL, "width": 8}, {"url": other}],
        "nested": {"deep": [[{"url": FILE_URL}]]},
        "not_files": [{"url": "https://cdn.test"}, {"url": "data:image/png;base64,AAAA"}, {"url": 5}, "https://cdn.test/x.png"],
    }}
    errors = save_result_files(conn, output, str(tmp_path))
    assert errors == []
    first, second = output["data"]["images"]
    assert first["local_path"] == str(tmp_path / "fox-2.png") and second["local_path"] == str(tmp_path / "fox-3.png")
    assert output["data"]["nested"]["deep"][0][0]["local_path"] == first["local_path"]
    assert all("local_path" not in o for o in output["data"]["not_files"] if isinstance(o, dict))
    assert (tmp_path / "fox.png").read_bytes() == b"already here"
    assert (tmp_path / "fox-2.png").read_bytes() == b"one" and (tmp_path / "fox-3.png").read_bytes() == b"two"
    assert len(mocked.calls) == 2
    no_key_sent(mocked)


def test_save_result_files_reports_a_refused_url(conn, mocked, tmp_path):
    from connector.result_files import save_result_files

    output = {"success": True, "data": {"video": {"url": "http://evil.test/v.mp4"}}}
    errors = save_result_files(conn, output, str(tmp_path / "new"))
    assert len(errors) == 1 and "http://evil.test/v.mp4" in errors[0]
    assert output["data"]["video"]["local_path"] is None and "https://" in output["data"]["video"]["download_error"]
    assert len(mocked.calls) == 0


def test_a_retried_server_error_says_how_often_it_was_tried(make_conn, mocked, tmp_path):
    conn = make_conn(max_retries=2)
    mocked.get(FILE_URL, status=503)
    out = conn.run("download_file", {"url": FILE_URL, "dest": str(tmp_path)})
    assert out["failure"]["type"] == "server_error" and out["failure"]["attempts"] == 3
    assert out["error"] == f"GET {FILE_URL}: the server answered HTTP 503 (after 3 attempts)"
    assert os.listdir(tmp_path) == []


# -- an agent fetches only public addresses ----------------------------------------------------

PUBLIC = "https://93.184.216.34/files/fox.png"  # a global address: no DNS needed


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/x.png", "https://localhost:8443/x.png", "https://10.1.2.3/x.png", "https://192.168.0.1/x.png",
    "https://169.254.169.254/latest/meta-data/x", "https://[::1]/x.png", "https://[::ffff:127.0.0.1]/x.png", "https://[fd00::1]/x.png",
])
def test_an_agent_may_not_download_from_a_private_loopback_or_link_local_address(make_conn, mocked, check_output, tmp_path, url):
    conn = make_conn(download_dirs=[str(tmp_path)])
    mocked.get(url, body=b"inside")
    out = conn.call_tool("download_file", {"url": url, "dest": str(tmp_path) + "/"})
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0, out
    assert out["failure"]["detail"]["rule"] == "public_addresses" and "public_addresses" in out["error"]
    assert len(mocked.calls) == 0 and leftovers(tmp_path) == []
    # run() (a program, not an agent) chooses its own URLs.
    assert conn.run("download_file", {"url": url, "dest": str(tmp_path / "mine.png")})["success"]


def test_an_agents_redirect_to_a_private_address_is_not_followed(make_conn, mocked, tmp_path):
    conn = make_conn(download_dirs=[str(tmp_path)])
    mocked.get(PUBLIC, status=302, headers={"Location": "https://169.254.169.254/latest/meta-data/"})
    mocked.get("https://169.254.169.254/latest/meta-data/", body=b"secret")
    out = conn.call_tool("download_file", {"url": PUBLIC, "dest": str(tmp_path) + "/"})
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["detail"]["address"] == "169.254.169.254"
    assert [c.request.url for c in mocked.calls] == [PUBLIC] and os.listdir(tmp_path) == []
    mocked.replace("GET", PUBLIC, body=PNG)
    assert conn.call_tool("download_file", {"url": PUBLIC, "dest": str(tmp_path) + "/"})["success"]


def test_an_agent_may_download_from_a_configured_fal_origin_on_loopback(make_conn, mocked, tmp_path):
    conn = make_conn(download_dirs=[str(tmp_path)], cdn_url="http://127.0.0.1:8765")  # e.g. the emulator
    mocked.get("http://127.0.0.1:8765/cdn/files/fox.png", body=PNG)
    out = conn.call_tool("download_file", {"url": "http://127.0.0.1:8765/cdn/files/fox.png", "dest": str(tmp_path) + "/"})
    assert out["success"], out["error"]
    other_port = conn.call_tool("download_file", {"url": "https://127.0.0.1:8766/x.png", "dest": str(tmp_path) + "/"})
    assert other_port["failure"]["detail"]["rule"] == "public_addresses"
