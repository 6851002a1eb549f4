"""Whether plugins are installed is remembered between starts, and never wrongly: installing or
removing a distribution changes the answer at once."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import time

import pytest

from connector import entry_point_index
from connector.entry_point_index import has_entry_points

GROUP = "fal_connector"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site directory alone on sys.path, last changed a minute ago, and a private cache file."""
    packages = tmp_path / "site-packages"
    packages.mkdir()
    _age(packages)
    monkeypatch.setattr(sys, "path", [str(packages)])
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = tmp_path / "cache" / "entry-points.json"
    monkeypatch.setattr(entry_point_index, "_cache_path", lambda: cache)
    return packages, cache


def _age(path, seconds=60):
    then = time.time() - seconds
    os.utime(path, (then, then))


def _install(packages, name="fake_fal_plugin"):
    dist = packages / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{name} = {name}\n")
    return dist


def test_none_installed_is_remembered(site, monkeypatch):
    packages, cache = site
    assert has_entry_points(GROUP) is False
    assert cache.exists()

    monkeypatch.setattr(importlib.metadata, "entry_points", _no_scan)
    assert has_entry_points(GROUP) is False


def test_installing_and_removing_a_plugin_is_seen_at_once(site):
    packages, cache = site
    assert has_entry_points(GROUP) is False
    dist = _install(packages)  # the directory changes: the kept answer no longer applies
    assert has_entry_points(GROUP) is True
    _age(packages)
    assert has_entry_points(GROUP) is True  # now kept
    shutil.rmtree(dist)
    assert has_entry_points(GROUP) is False


def test_an_answer_about_a_fresh_change_is_not_kept(site):
    packages, cache = site
    _install(packages)  # changed just now: the same clock tick could hide a second change
    assert has_entry_points(GROUP) is True
    assert not cache.exists()


def test_another_group_or_path_is_another_question(site, tmp_path, monkeypatch):
    packages, cache = site
    _install(packages)
    _age(packages)
    assert has_entry_points(GROUP) is True
    assert has_entry_points("some_other_group") is False
    other = tmp_path / "other"
    other.mkdir()
    _age(other)
    monkeypatch.setattr(sys, "path", [str(other)])
    assert has_entry_points(GROUP) is False


def test_no_cache_where_bytecode_is_not_written(site, monkeypatch):
    packages, cache = site
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert has_entry_points(GROUP) is False
    assert not cache.exists()


def test_a_damaged_cache_is_looked_up_afresh(site):
    packages, cache = site
    cache.parent.mkdir()
    cache.write_text("{not json")
    assert has_entry_points(GROUP) is False
    _install(packages)
    _age(packages)
    cache.write_text('{"answers": {"other": false}}')
    assert has_entry_points(GROUP) is True


def test_answers_for_several_paths_are_kept_side_by_side(site, tmp_path, monkeypatch):
    packages, cache = site
    other = tmp_path / "other"
    other.mkdir()
    _age(other)
    assert has_entry_points(GROUP) is False
    monkeypatch.setattr(sys, "path", [str(other)])
    assert has_entry_points(GROUP) is False
    monkeypatch.setattr(importlib.metadata, "entry_points", _no_scan)
    assert has_entry_points(GROUP) is False
    monkeypatch.setattr(sys, "path", [str(packages)])
    assert has_entry_points(GROUP) is False  # the first answer was not pushed out by the second


def _no_scan(**_: object) -> None:
    raise AssertionError("scanned although the answer was kept")
