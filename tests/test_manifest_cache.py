"""The loaded manifest kept between starts is used only while nothing it came from has changed:
the manifest, any schema file, or the code that loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector import manifest, manifest_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package directory laid out like the installed one, with a private bytecode prefix."""
    pkg = tmp_path / "pkg"
    (pkg / "schemas").mkdir(parents=True)
    (pkg / "manifest.yaml").write_text("actions: []\n")
    (pkg / "schemas" / "a.json").write_text("{}")
    (pkg / "manifest.py").write_text("# the loader\n")
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return pkg


def _keep(pkg: Path) -> bytes:
    raw = (pkg / "manifest.yaml").read_bytes()
    manifest_cache.write(pkg / "manifest.yaml", raw, {"actions": []}, {})
    assert manifest_cache.read(pkg / "manifest.yaml", raw) == {"document": {"actions": []}, "bundled": {}}
    return raw


def _later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("change", ["schema edited", "schema added", "schema removed", "loader code edited"])
def test_any_change_misses(package, change):
    raw = _keep(package)
    if change == "schema edited":
        (package / "schemas" / "a.json").write_text('{"type": "object"}')
        _later(package / "schemas" / "a.json")
    elif change == "schema added":
        (package / "schemas" / "b.json").write_text("{}")
    elif change == "schema removed":
        (package / "schemas" / "a.json").unlink()
    else:
        _later(package / "manifest.py")
    assert manifest_cache.read(package / "manifest.yaml", raw) is None


def test_only_the_current_copy_is_kept(package):
    raw = _keep(package)
    _later(package / "manifest.py")
    _keep(package)
    assert len(list(Path(sys.pycache_prefix).rglob("manifest.*"))) == 1
    assert manifest_cache.read(package / "manifest.yaml", raw) is not None


def test_a_kept_copy_that_does_not_fit_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    source = manifest._package_file("manifest.yaml")
    raw = source.read_bytes()
    expected = manifest.load_manifest()
    manifest_cache.write(source, raw, manifest._parse_yaml(raw.decode("utf-8")), {"no_such_action": {}})
    manifest._load.cache_clear()
    try:
        assert manifest.load_manifest() == expected  # loaded from the files, and kept afresh
        assert set(manifest_cache.read(source, raw)["bundled"]) == {spec.id for spec in expected}
    finally:
        manifest._load.cache_clear()


def test_a_second_start_reads_the_kept_copy(tmp_path):
    """Two fresh processes: the first keeps the loaded manifest, the second neither validates nor bundles."""
    code = ("import sys, json; from connector import manifest; "
            "calls = []; real = manifest.validate_entries; "
            "manifest.validate_entries = lambda *a, **k: (calls.append(1), real(*a, **k)); "
            "specs = manifest.load_manifest(); "
            "print(json.dumps([len(calls), [s.id for s in specs]]))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(tmp_path)}
    first, second = (json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                               timeout=60, check=True).stdout) for _ in range(2))
    assert first[0] == 1 and second[0] == 0
    assert first[1] == second[1] and "get_request_status" in second[1]


def test_a_bundled_schema_is_not_bundled_again():
    """An Action built from a manifest spec keeps the spec's self-contained schemas (no second
    copy at every start); bundling a copy still gives the same schema."""
    from connector.models import Action
    from connector.schema_refs import bundle

    spec = manifest.manifest_spec("get_request_status")
    action = Action(spec, lambda inputs, context: {})
    assert action.spec.input_schema is spec.input_schema and action.spec.output_schema is spec.output_schema
    assert bundle(spec.output_schema) is spec.output_schema
    copy = json.loads(json.dumps(spec.output_schema))
    assert bundle(copy) == spec.output_schema and bundle(copy) is not copy
    inline = {"type": "object", "properties": {"x": {"$ref": "common.json#/$defs/app_id"}}}
    once = bundle(inline)
    assert once is not inline and once["properties"]["x"]["$ref"] == "#/$defs/app_id" and "app_id" in once["$defs"]
    assert bundle(once) is once


def test_a_kept_manifest_compiles_each_operation_when_first_asked_for():
    """A kept document passed every check when it was kept: its operations are compiled one by
    one as actions need them, and each is the operation a load from the files compiles."""
    import yaml

    document = yaml.safe_load(manifest._package_file("manifest.yaml").read_text())
    specs, eager = manifest.parse_manifest_operations(document)
    assert set(dict(eager)) == {spec.id for spec in specs}  # from the files: all compiled at load
    bundled = {spec.id: {"input_schema": spec.input_schema, "output_schema": spec.output_schema} for spec in specs}
    _, lazy = manifest.parse_manifest_operations(document, bundled=bundled)
    assert dict(lazy) == {}
    assert lazy["get_request_status"] == eager["get_request_status"]
    assert set(dict(lazy)) == {"get_request_status"}
    assert [s.id for s in specs if lazy.declares_response(s.id)] == [s.id for s in specs if eager[s.id].response is not None]
    assert set(dict(lazy)) == {"get_request_status"}  # answered from the entries, not by compiling
    with pytest.raises(KeyError):
        lazy["no_such_action"]


@pytest.mark.parametrize("damage", [lambda data: data[: len(data) // 2], lambda data: b"", lambda data: b"\xff" * 64])
def test_a_damaged_kept_copy_is_a_miss(package, damage):
    raw = _keep(package)
    (kept,) = Path(sys.pycache_prefix).rglob("manifest.*")
    assert sys.implementation.cache_tag in kept.name  # marshal's format is one Python's own
    kept.write_bytes(damage(kept.read_bytes()))
    assert manifest_cache.read(package / "manifest.yaml", raw) is None
