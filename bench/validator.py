#!/usr/bin/env python
"""The schema validator behind ``connector.schema_check.SchemaValidator``: jsonschema-rs against
the hand-written compiled checks it replaced, and against jsonschema itself.

    python bench/validator.py            # ~1 min: import cost, build cost, per-call cost
    python bench/validator.py --quick    # fewer processes and calls
    python bench/validator.py --json     # the figures as JSON (what bench/run.py can embed)

The hand-written checks are read from git (``connector/schema_check.py`` at ``--baseline``, the
last commit that had them) into a temporary module, so the comparison runs in the same process
and on the same instances. Every figure is interleaved (A B C, A B C, ... with the order
rotating each round) so machine noise hits all contenders alike, and is printed with its spread
(p25-p75 of the rounds), not only the median.

1. import: a fresh process imports the status call's own path first (``connector.cli``,
   ``requests``), then the contender; CPU time of that one import (median of the processes).
2. build: compiling the status call's input and output schemas (what the first call pays).
3. per call: ``is_valid`` of valid instances (status input and output, a submit input, a
   result with a 100-image payload), in rounds; µs per call.
4. errors: whether a jsonschema-rs error names the field and the expectation that the
   connector's invalid_input messages state (they stay jsonschema's: see the notes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINE = "a6e8359"  # the last commit with the hand-written compiled checks
sys.path.insert(0, str(ROOT))

from bench.stats import rotate, spread  # noqa: E402  (after the path is set)


def handwritten_module(baseline: str, where: Path) -> Path:
    """The hand-written ``schema_check.py`` of ``baseline``, written to ``where``."""
    source = subprocess.run(["git", "show", f"{baseline}:connector/schema_check.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    path = where / "schema_check_handwritten.py"
    path.write_text(source, encoding="utf-8")
    return path


def load_handwritten(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("schema_check_handwritten", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- 1. import --------------------------------------------------------------------------------


IMPORT_CHILD = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {extra!r})
import connector.cli, requests  # what a status call imports anyway
t, c = time.perf_counter(), time.process_time()
import {module}
print((time.process_time() - c) * 1000, (time.perf_counter() - t) * 1000)
"""


def import_cost(handwritten: Path, runs: int) -> dict[str, Any]:
    modules = {"jsonschema-rs": "jsonschema_rs", "hand-written": "schema_check_handwritten", "jsonschema": "jsonschema"}
    cpu: dict[str, list[float]] = {n: [] for n in modules}
    wall: dict[str, list[float]] = {n: [] for n in modules}
    with tempfile.TemporaryDirectory() as pycache:
        env = {"PYTHONPYCACHEPREFIX": pycache, "PATH": "/usr/bin:/bin"}
        for r in range(runs + 1):
            for name in rotate(list(modules), r):
                code = IMPORT_CHILD.format(root=str(ROOT), extra=str(handwritten.parent), module=modules[name])
                done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
                if done.returncode != 0:
                    raise RuntimeError(f"import of {name} failed: {done.stderr[-1500:]}")
                if r == 0:
                    continue  # warms the bytecode cache
                c, w = map(float, done.stdout.split())
                cpu[name].append(c)
                wall[name].append(w)
    return {n: {"cpu_ms": spread(cpu[n], inner=True), "wall_ms": spread(wall[n], inner=True)} for n in modules}


# -- 2 and 3. build and per call ----------------------------------------------------------------


def instances() -> dict[str, tuple[str, str, Any]]:
    """name -> (action id, "input"/"output", a valid instance)."""
    images = [{"url": f"https://v3.fal.media/files/x/{i}.png", "width": 1024, "height": 1024, "content_type": "image/png"} for i in range(100)]
    return {
        "status input": ("get_request_status", "input", {"app_id": "fal-ai/flux/dev", "request_id": "80e732af-660e-45cd-bd63-580e4f2a94cc"}),
        "status output": ("get_request_status", "output", {
            "success": True, "error": None, "failure": None, "status": "IN_PROGRESS", "queue_position": None,
            "logs": [{"message": "step 3/28", "level": "INFO", "source": "USER", "timestamp": "2026-01-01T00:00:00Z"}],
            "metrics": None, "job_error": None, "job_error_type": None}),
        "submit input": ("add_request_to_queue", "input", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox", "num_images": 2, "seed": 7},
                                                           "priority": "low", "hint": "lora-a"}),
        "result output (100 images)": ("get_request_response", "output", {
            "success": True, "error": None, "failure": None, "data": {"images": images, "seed": 42, "timings": {"inference": 1.5}}}),
    }


def schema_of(action_id: str, side: str) -> dict[str, Any]:
    from connector.manifest import manifest_spec

    spec = manifest_spec(action_id)
    return spec.input_schema if side == "input" else spec.output_schema


def compilers(handwritten: Any) -> dict[str, Callable[[dict[str, Any]], Callable[[Any], bool]]]:
    import jsonschema
    import jsonschema_rs

    def rs(schema: dict[str, Any]) -> Callable[[Any], bool]:
        from connector.schema_check import compile_check  # what the connector runs: jsonschema-rs plus its guard

        check = compile_check(schema)
        assert check is not None
        return check

    return {
        "jsonschema-rs": rs,
        "jsonschema-rs (bare)": lambda schema: jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True).is_valid,
        # As its SchemaValidator ran them: jsonschema when a schema uses a keyword they did not cover.
        "hand-written": lambda schema: handwritten.compile_check(schema) or jsonschema.Draft202012Validator(schema).is_valid,
        "jsonschema": lambda schema: jsonschema.Draft202012Validator(schema).is_valid,
    }


def _covered(schema: dict[str, Any]) -> bool:
    """Whether the hand-written checks compile ``schema`` (else they fell back to jsonschema: marked *)."""
    return bool(_HANDWRITTEN and _HANDWRITTEN.compile_check(schema) is not None)


_HANDWRITTEN: Any = None


def build_cost(makers: dict[str, Any], rounds: int) -> dict[str, Any]:
    schemas = [schema_of("get_request_status", "input"), schema_of("get_request_status", "output")]
    times: dict[str, list[float]] = {n: [] for n in makers}
    for r in range(rounds):
        for name in rotate(list(makers), r):
            t = time.perf_counter()
            for schema in schemas:
                makers[name](schema)
            times[name].append((time.perf_counter() - t) * 1000)
    return {n: spread(v, inner=True) for n, v in times.items()}


def per_call(makers: dict[str, Any], calls: int, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, (action_id, side, instance) in instances().items():
        schema = schema_of(action_id, side)
        if not _covered(schema):
            label += " *"
        checks = {name: make(schema) for name, make in makers.items()}
        for name, check in checks.items():
            assert check(instance), f"{name} refuses the {label} instance"
        per_round = max(1, calls // rounds)
        times: dict[str, list[float]] = {n: [] for n in checks}
        for r in range(rounds):
            for name in rotate(list(checks), r):
                check = checks[name]
                t = time.perf_counter()
                for _ in range(per_round):
                    check(instance)
                times[name].append((time.perf_counter() - t) / per_round * 1e6)
        out[label] = {n: spread(v, inner=True) for n, v in times.items()}
    return out


# -- 4. errors ----------------------------------------------------------------------------------


BAD = [
    ("get_request_status", {"app_id": "fal-ai/flux/dev"}),
    ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": 7}),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}, "priority": "urgent"}),
    ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}, "start_timeout": 0}),
    ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": "r", "colour": "red"}),
]


def errors() -> list[dict[str, Any]]:
    import jsonschema_rs

    from connector.errors import InvalidInputError
    from connector.schema_check import SchemaValidator
    from connector.validation import check_input

    rows = []
    for action_id, bad in BAD:
        schema = schema_of(action_id, "input")
        try:
            check_input(SchemaValidator(schema), bad)
            ours = "accepted?"
        except InvalidInputError as exc:
            ours = str(exc)
        rs = next(iter(jsonschema_rs.Draft202012Validator(schema, validate_formats=False).iter_errors(bad)))
        rows.append({"input": bad, "connector": ours, "jsonschema-rs": {
            "field": "/".join(str(p) for p in rs.instance_path) or "(root)", "keyword": rs.kind.name, "message": rs.message}})
    return rows


# -- report -----------------------------------------------------------------------------------


def measure(quick: bool = False, baseline: str = BASELINE) -> dict[str, Any]:
    """Every figure of this file; bench/run.py may call this and print ``lines(...)``."""
    with tempfile.TemporaryDirectory() as where:
        path = handwritten_module(baseline, Path(where))
        global _HANDWRITTEN
        handwritten = _HANDWRITTEN = load_handwritten(path)
        makers = compilers(handwritten)
        return {
            "baseline": baseline,
            "import": import_cost(path, 5 if quick else 15),
            "build": build_cost(makers, 20 if quick else 60),
            "per_call": per_call(makers, 20_000 if quick else 100_000, 10 if quick else 30),
            "errors": errors(),
        }


def _fmt(s: dict[str, float], unit: str) -> str:
    return f"{s['median']:.2f} {unit} ({s['lo']:.2f}-{s['hi']:.2f})"


def lines(res: dict[str, Any]) -> list[str]:
    out = [f"schema validator: jsonschema-rs vs the hand-written checks of {res['baseline']} and jsonschema; median (p25-p75)", ""]
    imp = res["import"]
    out += ["| import after the status path | CPU | wall | CPU ratio rs/hand-written |", "|---|---|---|---|"]
    for name, fig in imp.items():
        ratio = fig["cpu_ms"]["median"] / imp["hand-written"]["cpu_ms"]["median"]
        out.append(f"| {name} | {_fmt(fig['cpu_ms'], 'ms')} | {_fmt(fig['wall_ms'], 'ms')} | {ratio:.2f} |")
    out += ["", "| build: status input + output schemas | time | ratio to hand-written |", "|---|---|---|"]
    for name, fig in res["build"].items():
        out.append(f"| {name} | {_fmt(fig, 'ms')} | {fig['median'] / res['build']['hand-written']['median']:.2f} |")
    out += ["", "| is_valid, per call | " + " | ".join(next(iter(res["per_call"].values()))) + " | rs/hand-written |",
            "|---" * (len(next(iter(res["per_call"].values()))) + 2) + "|"]
    for label, figs in res["per_call"].items():
        ratio = figs["jsonschema-rs"]["median"] / figs["hand-written"]["median"]
        out.append(f"| {label} | " + " | ".join(_fmt(f, "µs") for f in figs.values()) + f" | {ratio:.2f} |")
    if any(label.endswith(" *") for label in res["per_call"]):
        out.append("\n\\* a keyword the hand-written checks did not cover (e.g. unevaluatedProperties): they fell back to jsonschema")
    out += ["", "| invalid input | connector's message (jsonschema) | jsonschema-rs: field, keyword, message |", "|---|---|---|"]
    for row in res["errors"]:
        rs = row["jsonschema-rs"]
        out.append(f"| `{json.dumps(row['input'])}` | {row['connector']} | `{rs['field']}`, {rs['keyword']}: {rs['message']} |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer processes, rounds and calls")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--baseline", default=BASELINE, help="git commit whose connector/schema_check.py has the hand-written checks")
    args = p.parse_args(argv)
    res = measure(args.quick, args.baseline)
    print(json.dumps(res, indent=1, ensure_ascii=False) if args.json else "\n".join(lines(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
