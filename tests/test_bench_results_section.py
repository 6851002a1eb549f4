"""bench/RESULTS.md has two writers: bench/scale.py replaces only its own section (between marker
comments), and bench/run.py, which rewrites the file whole, keeps that section. No benchmark runs
here: scale.py's measurements are replaced by canned rows, run.py writes from its saved results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from suite_helpers import REPO


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(REPO)  # bench/ is a folder of scripts, importable from the checkout
    import bench.results_section

    return bench


def test_replace_section_appends_then_replaces_only_its_block(bench, tmp_path):
    sections = bench.results_section
    results = tmp_path / "RESULTS.md"
    sections.replace_section(results, "scale", "first")  # no file yet
    assert results.read_text() == "<!-- scale:start -->\nfirst\n<!-- scale:end -->\n"
    results.write_text("# Benchmark results\n\ntable\n")
    sections.replace_section(results, "scale", "## Scale\n\nN = 10")
    assert results.read_text() == "# Benchmark results\n\ntable\n\n<!-- scale:start -->\n## Scale\n\nN = 10\n<!-- scale:end -->\n"
    results.write_text(results.read_text() + "\n## Notes after it\n")
    sections.replace_section(results, "scale", "## Scale\n\nN = 20")
    sections.replace_section(results, "scale", "## Scale\n\nN = 20")  # twice: still one block
    text = results.read_text()
    assert text == "# Benchmark results\n\ntable\n\n<!-- scale:start -->\n## Scale\n\nN = 20\n<!-- scale:end -->\n\n## Notes after it\n"


def test_run_py_rewrites_the_file_and_keeps_the_scale_section(bench, tmp_path):
    import bench.run as run

    results = tmp_path / "RESULTS.md"
    block = "<!-- scale:start -->\n## Scale: N jobs\n\n| contender | jobs ok |\n<!-- scale:end -->"
    results.write_text(f"# Benchmark results\n\nan older run's figures\n\n{block}\n")
    saved = Path(REPO) / "bench" / "results"
    res, before = (json.loads((saved / name).read_text()) for name in ("latest.json", "before.json"))
    run.write_results(res, before, results)
    text = results.read_text()
    assert text.startswith("# Benchmark results\n") and "an older run's figures" not in text
    assert "## This run" in text and "## Before and after" in text
    assert text.count("<!-- scale:start -->") == 1 and text.rstrip("\n").endswith(block)
    run.write_results(res, before, results)  # and again: kept, not doubled
    assert results.read_text() == text
    results.unlink()
    run.write_results(res, before, results)  # no file before: nothing to keep
    assert "scale:start" not in results.read_text()


class FakeEmulator:
    http = "http://127.0.0.1:9"

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        return {}

    def stop(self) -> None:
        pass


def test_scale_py_writes_its_section_between_the_markers(bench, tmp_path, monkeypatch):
    import bench.scale as scale

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nrun.py's part\n")
    rows = {"threads": {"name": "threads", "n": 10, "ok": 10, "wall_s": 2.0, "peak_threads": 12, "peak_rss_kb": 40960,
                        "requests_per_job": 3.0},
            "temporal": {"name": "temporal", "n": 10, "ok": 10, "wall_s": 4.0, "peak_threads": 6, "peak_rss_kb": 81920,
                         "requests_per_job": 1.0}}
    monkeypatch.setattr(scale, "RESULTS", results)
    monkeypatch.setattr(scale, "EmulatorProcess", FakeEmulator)
    monkeypatch.setattr(scale, "measure", lambda name, n, emu, timeout: rows[name])
    assert scale.main(["--n", "10", "--only", "threads,temporal"]) == 0
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nrun.py's part\n\n<!-- scale:start -->\n## Scale: N jobs followed to completion\n")
    assert "Written by `python bench/scale.py --n 10 --only threads,temporal` on " in text
    assert "| (b) Temporal, webhooks | 10/10 | 4.0 s (2.00x) | 6 (0.50x) | 80 MB (2.00x) | 1.00 (0.33x) |" in text
    assert text.endswith("<!-- scale:end -->\n")
    rows["temporal"]["peak_threads"] = 7
    assert scale.main(["--n", "10", "--only", "threads,temporal"]) == 0  # a second run replaces the first
    again = results.read_text()
    assert again.count("<!-- scale:start -->") == 1 and "| 7 (0.58x) |" in again and "| 6 (0.50x) |" not in again
    assert scale.main(["--n", "10", "--only", "threads", "--no-write"]) == 0
    assert results.read_text() == again
