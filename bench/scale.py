"""Scale figure: N fal jobs followed to completion by (a) one process running ``subscribe`` in
threads, (b) Temporal with webhooks, (c) Celery with webhooks (and (c') Celery polling).

    python bench/scale.py              # 1,000 jobs of ~2 s each (a few minutes)
    python bench/scale.py --quick      # 100 jobs: a smoke run (well under a minute per contender)
    python bench/scale.py --only celery,threads --n 300

Writes its table to stdout and, between ``<!-- scale:start -->`` and ``<!-- scale:end -->``, to
``bench/RESULTS.md`` (``--no-write``: not), whose other parts ``bench/run.py`` writes and keeps this one.

The emulator runs in its own process (``bench/emu_server.py``) and counts the HTTP requests it
receives; each contender runs in a fresh child process, so its peak RSS and threads are its
own. Reported per contender: wall time from the first submit to the last result in hand,
peak threads and peak RSS of the contender's process (threads sampled every 50 ms; RSS is
the process's own VmHWM, not ``ru_maxrss``, which also counts the parent's memory), and HTTP requests per job seen by fal; then each as a ratio to (a). Services
the engines run beside that process (Redis, Temporal's dev server) are not counted in its
threads or RSS. Not a test: ``bench/conftest.py`` makes pytest collect nothing here.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # this checkout's connector (and bench.*), installed or not

from bench.emu_process import EmulatorProcess  # noqa: E402  (after the path is set)
from bench.sampling import machine_load, peaks, process_status  # noqa: E402

RESULTS = HERE / "RESULTS.md"  # this script writes its own section of it (bench/results_section.py)
APP = "fal-ai/echo"
CONTENDERS = ("threads", "temporal", "celery", "celery_poll")
TITLES = {
    "threads": "(a) one process, `subscribe` in N threads",
    "temporal": "(b) Temporal, webhooks",
    "celery": "(c) Celery + Redis, webhooks",
    "celery_poll": "(c') Celery + Redis, polling every 2 s",
}


# --- inside a contender's process -----------------------------------------------------------


def data(i: int) -> dict[str, Any]:
    return {"i": i}


def run_threads(n: int, env: dict[str, str]) -> dict[str, Any]:
    from connector import Connector

    conn = Connector(environ=env)
    with peaks() as peak, ThreadPoolExecutor(max_workers=n) as pool:
        start = time.perf_counter()
        outs = list(pool.map(lambda i: conn.run("subscribe", {"app_id": APP, "data": data(i), "timeout": 300}), range(n)))
        wall = time.perf_counter() - start
    return {"n": n, "ok": sum(1 for o in outs if o["success"]), "wall_s": wall, "peak_threads": peak["threads"]}


def run_celery(n: int, env: dict[str, str], *, webhooks: bool, concurrency: int = 8) -> dict[str, Any]:
    from celery.contrib.testing.worker import start_worker

    from connector import Connector
    from connector.integrations.celery import FalTasks
    from connector.integrations.celery_testing import celery_app, redis_server, wsgi_server

    holder: dict[str, FalTasks] = {}
    with redis_server() as url, wsgi_server(lambda environ, start: holder["fal"].wsgi_app(environ, start)) as hook_url:
        app = celery_app(url, "fal-scale")
        # A webhook the emulator gives up on (3 tries) is followed by polling after 30 s.
        fal = holder["fal"] = FalTasks(app, connector=lambda: Connector(environ=env), poll_interval=2.0,
                                       webhook_url=hook_url if webhooks else None, webhook_fallback=30)
        with start_worker(app, pool="threads", concurrency=concurrency, perform_ping_check=False, loglevel="ERROR"), \
                peaks() as peak:
            start = time.perf_counter()
            results = [fal.fal_job(APP, data(i)).delay() for i in range(n)]
            outs = [r.get(timeout=600) for r in results]
            wall = time.perf_counter() - start
        # A result unsubscribes from Redis when collected: let that happen while Redis still runs.
        del results
        gc.collect()
        fal.close()
    return {"n": n, "ok": sum(1 for o in outs if o["success"]), "wall_s": wall, "peak_threads": peak["threads"],
            "worker_slots": concurrency}


def run_temporal(n: int, env: dict[str, str]) -> dict[str, Any]:
    try:
        from bench.scale_temporal import run_temporal as temporal  # the Temporal integration's own runner
    except ModuleNotFoundError as exc:
        raise SystemExit(f"the Temporal runner is missing ({exc.name}): bench/scale_temporal.py and the temporal extra") from None

    out: dict[str, Any] = temporal(n, env, app_id=APP, data=data, max_concurrent_activities=8)
    return {**out, "worker_slots": 8}


RUNNERS: dict[str, Callable[[int, dict[str, str]], dict[str, Any]]] = {
    "threads": run_threads,
    "temporal": run_temporal,
    "celery": lambda n, env: run_celery(n, env, webhooks=True),
    "celery_poll": lambda n, env: run_celery(n, env, webhooks=False),
}


def child(name: str, n: int, env: dict[str, str]) -> int:
    out = RUNNERS[name](n, env)
    out["peak_rss_kb"] = max(out.get("peak_rss_kb") or 0, process_status()["hwm_kb"])
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# --- the driver ------------------------------------------------------------------------------


def measure(name: str, n: int, emu: EmulatorProcess, timeout: float) -> dict[str, Any]:
    from connector.emulator.emulator import env_for  # here: the children must not carry the emulator's modules

    env = env_for(emu.http)
    emu.ask("log_clear")
    # Many threads and sockets at N = 1,000: raise the soft limit of open files for the child.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    # Its own session: on a timeout the whole group goes, with the services the child started.
    proc = subprocess.Popen([sys.executable, __file__, "--child", name, "--n", str(n), "--env", json.dumps(env)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"name": name, "error": f"did not finish within {timeout:g} s"}
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        return {"name": name, "error": " / ".join(tail) or f"exit {proc.returncode}"}
    out: dict[str, Any] = {"name": name, **json.loads(lines[-1][len("RESULT "):])}
    out["requests_per_job"] = emu.ask("log_count")["count"] / n
    return out


def table(rows: list[dict[str, Any]], n: int, run_seconds: float) -> str:
    base = next((r for r in rows if r["name"] == "threads" and "error" not in r), None)

    def ratio(row: dict[str, Any], key: str) -> str:
        return f"{row[key] / base[key]:.2f}x" if base and base.get(key) else "-"

    lines = [f"N = {n} jobs of `{APP}` running {run_seconds:g} s each (no queue), on the emulator; ratios are to (a).", "",
             "| contender | jobs ok | wall time | peak threads | peak RSS | HTTP requests / job |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        title = TITLES[row["name"]]
        if "error" in row:
            lines.append(f"| {title} | not run: {row['error']} | | | | |")
            continue
        lines.append(f"| {title} | {row['ok']}/{row['n']} | {row['wall_s']:.1f} s ({ratio(row, 'wall_s')}) "
                     f"| {row['peak_threads']} ({ratio(row, 'peak_threads')}) "
                     f"| {row['peak_rss_kb'] / 1024:.0f} MB ({ratio(row, 'peak_rss_kb')}) "
                     f"| {row['requests_per_job']:.2f} ({ratio(row, 'requests_per_job')}) |")
    return "\n".join(lines)


HOW = (
    "How: the emulator runs in its own process (`bench/emu_server.py`) and counts the HTTP requests it receives; "
    "each contender runs in a fresh child process, so peak threads (all of the process's threads, sampled every "
    "50 ms) and peak RSS are its own; the services beside it (Redis, Temporal's dev server) are not counted. "
    "(a) follows every job with `Connector.run(\"subscribe\")` in a thread of its own (submit, one SSE status "
    "stream, result); (b) and (c) run all N jobs at once on a worker with 8 activity slots, completed by webhooks "
    "(the Temporal worker with its default bounds: 8 workflow tasks and 16 webhook deliveries at a time); "
    "(c') polls every 2 s instead. Wall time runs from the first submit to the last result in hand."
)


def load_average() -> str:
    load = machine_load()
    return "/".join(f"{load[k]:.2f}" for k in ("load_1m", "load_5m", "load_15m")) if load else "?"


def results_section(rows: list[dict[str, Any]], n: int, run_seconds: float, command: str, load_before: str) -> str:
    """The scale section of ``bench/RESULTS.md``: when and how it was measured, the table, how to read it."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join([
        "## Scale: N jobs followed to completion",
        "",
        f"Written by `{command}` on {when}, {os.cpu_count()} CPUs, load average (1/5/15 min) {load_before} at the "
        f"start and {load_average()} at the end (the machine may be shared: read the ratios, not absolute figures).",
        "",
        table(rows, n, run_seconds),
        "",
        HOW,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="jobs per contender (default 1000; 100 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 jobs")
    parser.add_argument("--run-seconds", type=float, default=2.0, help="how long each job runs at fal (default 2)")
    parser.add_argument("--only", default=",".join(CONTENDERS), help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one contender may take (default 600)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--no-write", action="store_true", help="do not write the scale section of bench/RESULTS.md")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.n or (100 if args.quick else 1000)
    if args.child:
        return child(args.child, n, json.loads(args.env))
    names = [name for name in CONTENDERS if name in args.only.split(",")]
    load_before = load_average()
    emu = EmulatorProcess()
    try:
        emu.ask("set_model", app_id=APP, queue_seconds=0, run_seconds=args.run_seconds)
        rows = []
        for name in names:
            print(f"{TITLES[name]} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, n, emu, args.timeout))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        emu.stop()
    print(table(rows, n, args.run_seconds))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if not args.no_write:
        from bench.results_section import replace_section

        command = " ".join(["python bench/scale.py", *(argv if argv is not None else sys.argv[1:])])
        replace_section(RESULTS, "scale", results_section(rows, n, args.run_seconds, command, load_before))
        print(f"wrote the scale section of {RESULTS}", file=sys.stderr)
    return 0 if all("error" not in r and r["ok"] == r["n"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
