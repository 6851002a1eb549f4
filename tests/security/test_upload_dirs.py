"""``upload_file``'s ``path`` is read only from ``upload_dirs`` / ``FAL_CONNECTOR_UPLOAD_DIRS``.

Set, the directories bind every caller (``run()``, the CLI, agents); a path is resolved with
symlinks followed, so neither ``..`` nor a link leaves them. Unset, an agent (``call_tool``, the
MCP server) may not upload a local path at all, while ``run()`` and the CLI read any file. A
refusal is ``policy_denied`` naming the setting, and nothing is read or sent. Uploads that are
allowed go to the emulator for real.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from suite_helpers import cli_env

from connector import Connector
from connector.config import ConfigError
from connector.testing import connector_for

SECRET = b"root:x:0:0:secret line\n"


@pytest.fixture
def dirs(tmp_path):
    """``allowed/`` (with ``ok.txt`` and a link ``escape`` to ``other/``) and ``other/secret.txt``."""
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (allowed / "ok.txt").write_bytes(b"fine")
    (other / "secret.txt").write_bytes(SECRET)
    (allowed / "escape").symlink_to(other, target_is_directory=True)
    (allowed / "link.txt").symlink_to(other / "secret.txt")
    return allowed, other


@pytest.fixture
def connect(emu):
    made: list[Connector] = []

    def make(**options) -> Connector:
        conn = connector_for(emu, backoff_base=0, load_entry_points=False, **options)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


def upload_requests(emu) -> list[str]:
    """The paths of the requests the connector sent to the emulator."""
    return [target for _, target, _ in list(emu.requests_log)]


def assert_refused(out) -> None:
    assert out["success"] is False, out
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0, out
    assert out["failure"]["detail"]["rule"] == "upload_dirs"
    assert "FAL_CONNECTOR_UPLOAD_DIRS" in out["error"], out["error"]


def test_upload_dirs_setting_is_a_pathsep_list():
    env = {"FAL_CONNECTOR_UPLOAD_DIRS": os.pathsep.join(["/a", "/b c", ""])}
    assert Connector(environ=env, load_entry_points=False).config.upload_dirs == ("/a", "/b c")
    assert Connector(environ={}, load_entry_points=False, upload_dirs=["/x"]).config.upload_dirs == ("/x",)
    with pytest.raises(ConfigError, match="FAL_CONNECTOR_UPLOAD_DIRS"):
        Connector(environ={"FAL_CONNECTOR_UPLOAD_DIRS": os.pathsep}, load_entry_points=False)


def test_an_agent_without_upload_dirs_cannot_upload_a_local_path(emu, connect, dirs):
    allowed, _ = dirs
    conn = connect()
    out = conn.call_tool("upload_file", {"path": str(allowed / "ok.txt")})
    assert_refused(out)
    assert "data_base64" in out["error"]
    assert upload_requests(emu) == []
    # Bytes the agent holds itself are still fine.
    out = conn.call_tool("upload_file", {"data_base64": base64.b64encode(b"hi").decode(), "file_name": "hi.txt"})
    assert out["success"], out["error"]


def test_a_json_string_tool_call_is_refused_too(emu, connect):
    out = connect().call_tool("upload_file", json.dumps({"path": "/etc/passwd"}))
    assert_refused(out)
    assert upload_requests(emu) == []


def test_the_python_api_reads_any_path_by_default(emu, connect, dirs):
    _, other = dirs
    out = connect().run("upload_file", {"path": str(other / "secret.txt")})
    assert out["success"], out["error"]
    assert out["size"] == len(SECRET)


@pytest.mark.parametrize("caller", ["run", "call_tool"])
def test_upload_dirs_allow_a_file_inside(emu, connect, dirs, caller):
    allowed, _ = dirs
    conn = connect(upload_dirs=[str(allowed)])
    out = getattr(conn, caller)("upload_file", {"path": str(allowed / "ok.txt")})
    assert out["success"], out["error"]
    assert out["size"] == 4 and out["url"].endswith("/ok.txt")


@pytest.mark.parametrize("caller", ["run", "call_tool"])
@pytest.mark.parametrize("escape", ["dotdot", "symlinked_dir", "symlinked_file", "outside", "the_dir_itself"])
def test_no_path_leaves_upload_dirs(emu, connect, dirs, caller, escape):
    allowed, other = dirs
    path = {
        "dotdot": allowed / ".." / "other" / "secret.txt",
        "symlinked_dir": allowed / "escape" / "secret.txt",
        "symlinked_file": allowed / "link.txt",
        "outside": other / "secret.txt",
        "the_dir_itself": allowed,
    }[escape]
    conn = connect(upload_dirs=[str(allowed)])
    out = getattr(conn, caller)("upload_file", {"path": str(path)})
    assert_refused(out)
    # The resolved path is what was judged (and what the refusal shows).
    assert out["failure"]["detail"]["path"] == os.path.realpath(path)
    assert upload_requests(emu) == []


def test_the_cli_obeys_upload_dirs(emu, dirs, tmp_path):
    allowed, other = dirs
    env = {**cli_env(), **emu.env(), "FAL_CONNECTOR_UPLOAD_DIRS": str(allowed)}

    def run(path) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "connector", "run", "upload_file", "--input", json.dumps({"path": str(path)})],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        return json.loads(proc.stdout)

    assert_refused(run(allowed / "escape" / "secret.txt"))
    assert upload_requests(emu) == []
    out = run(allowed / "ok.txt")
    assert out["success"], out["error"]
