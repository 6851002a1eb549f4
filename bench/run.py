#!/usr/bin/env python
"""fal-connector benchmark: the connector against raw ``requests`` and the official ``fal-client``.

    python bench/run.py                 # the full run (~3 min); writes bench/RESULTS.md
    python bench/run.py --quick         # fewer calls and jobs, for a smoke test (~1 min)
    python bench/run.py --save-as before  # also keep these figures as the "before" column

Needs ``fal-client`` (``pip install fal-client``); installs nothing itself. The emulator runs
in a separate process (``bench/emu_server.py``) so it never shares a GIL with the clients.
Every figure that is compared with fal-client is measured over TLS (fal-client only speaks
https): the emulator's throwaway certificate is trusted through ``SSL_CERT_FILE`` (httpx) and
``REQUESTS_CA_BUNDLE`` (requests), and fal-client is pointed at it with ``FAL_QUEUE_RUN_HOST``
and ``FAL_RUN_HOST``, set before it is imported. Contenders are interleaved (round-robin, the
order rotating every round) so machine drift hits all alike. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "bench-key-id:bench-key-secret-0123456789"
ECHO = "fal-ai/echo"
SLOW = "fal-ai/slow"  # set to run 3 s, no queue, for the job-following figures
SIZED = "fal-ai/sized"
BIG = 50_000_000  # bytes of the large result

sys.path.insert(0, str(ROOT))  # benchmark this checkout, installed or not

from bench.emu_process import EmulatorProcess  # noqa: E402  (after the path is set)
from bench.sampling import machine_load  # noqa: E402
from bench.stats import pct, rotate, spread  # noqa: E402

# -- contenders for the in-process figures ------------------------------------------------------


def make_contenders(emu: EmulatorProcess, request_id: str) -> dict[str, dict[str, Callable[[], Any]]]:
    """name -> {"tls": call, "http": call}: one status call of the same job, three ways."""
    import fal_client
    import requests

    from connector import Connector

    out: dict[str, dict[str, Callable[[], Any]]] = {"requests": {}, "connector": {}, "fal-client": {}}
    for scheme, base in (("tls", emu.https), ("http", emu.http)):
        session = requests.Session()
        url = f"{base}/{ECHO}/requests/{request_id}/status"
        headers = {"Authorization": f"Key {KEY}"}

        def raw(session: Any = session, url: str = url, headers: dict = headers) -> Any:
            response = session.get(url, headers=headers, timeout=(5, 30))
            if response.status_code != 200:
                raise RuntimeError(f"raw requests: HTTP {response.status_code}")
            return response.json()

        conn = Connector(queue_url=base, api_key=KEY)
        inputs = {"app_id": ECHO, "request_id": request_id}

        def via_connector(conn: Any = conn, inputs: dict = inputs) -> Any:
            output = conn.run("get_request_status", inputs)
            if not output["success"]:
                raise RuntimeError(f"connector: {output['error']}")
            return output

        out["requests"][scheme] = raw
        out["connector"][scheme] = via_connector
    client = fal_client.SyncClient(key=KEY)

    def via_fal(client: Any = client) -> Any:
        status = client.status(ECHO, request_id)
        if not isinstance(status, fal_client.Completed):
            raise RuntimeError(f"fal-client: {status!r}")
        return status

    out["fal-client"]["tls"] = via_fal
    return out


def per_call(contenders: dict[str, Callable[[], Any]], calls: int, round_size: int = 100) -> dict[str, dict[str, float]]:
    """Interleaved rounds of single calls; per-call wall time (µs) and client CPU per call (µs)."""
    names = list(contenders)
    for name in names:  # warm up: connections open, caches filled
        for _ in range(min(200, calls)):
            contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    clock, thread_cpu = time.perf_counter_ns, time.thread_time_ns
    rounds = max(1, calls // round_size)
    for r in range(rounds):
        for name in rotate(names, r):
            fn, bucket = contenders[name], times[name]
            c0 = thread_cpu()
            for _ in range(round_size):
                t0 = clock()
                fn()
                bucket.append((clock() - t0) / 1000)
            cpu[name].append((thread_cpu() - c0) / 1000 / round_size)
    return {
        n: {"median_us": statistics.median(times[n]), "p99_us": pct(times[n], 0.99), "cpu_us": statistics.median(cpu[n]), "calls": len(times[n]),
            "us": spread(times[n], inner=True), "cpu": spread(cpu[n], inner=True)}
        for n in names
    }


def throughput(contenders: dict[str, Callable[[], Any]], threads: int, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    """``threads`` threads sharing one client object, calling as fast as they can; calls/s."""
    names = list(contenders)
    rates: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, int] = {n: 0 for n in names}
    for r in range(rounds):
        for name in rotate(names, r):
            fn = contenders[name]
            counts = [0] * threads
            stop = threading.Event()
            barrier = threading.Barrier(threads + 1)

            def work(i: int, fn: Callable[[], Any] = fn, counts: list[int] = counts, stop: threading.Event = stop, barrier: threading.Barrier = barrier, name: str = name) -> None:
                barrier.wait()
                n = 0
                while not stop.is_set():
                    try:
                        fn()
                    except Exception:
                        errors[name] += 1
                    n += 1
                counts[i] = n

            pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for t in pool:
                t.start()
            barrier.wait()
            t0 = time.perf_counter()
            time.sleep(seconds)
            stop.set()
            for t in pool:
                t.join()
            rates[name].append(sum(counts) / (time.perf_counter() - t0))
    return {n: {"calls_per_s": statistics.median(rates[n]), "errors": errors[n], "rate": spread(rates[n])} for n in names}


# -- following a job ---------------------------------------------------------------------------


def follow(emu: EmulatorProcess, jobs: int) -> dict[str, dict[str, Any]]:
    """Whole 3 s jobs over TLS, interleaved: per job, the HTTP requests the emulator saw, the
    connections it accepted after the job completed (each a TCP and TLS handshake the caller
    waited for), and how late the caller learnt of the completion: the COMPLETED status in its
    hands (``status_ms``), and the result in its hands (``seen_ms``: what a caller waits for;
    for the stream, after the separate result call), both minus the emulator's completion time
    on the system-wide monotonic clock."""
    import fal_client

    from connector import Connector

    emu.ask("set_model", app_id=SLOW, queue_seconds=0, run_seconds=3)
    conn = Connector(queue_url=emu.https, api_key=KEY)
    client = fal_client.SyncClient(key=KEY)

    def connector_subscribe(n: int) -> tuple[str, float | None, float]:
        seen: list[float] = []

        def on_event(event: dict[str, Any]) -> None:
            if event["type"] == "status" and event["status"]["status"] == "COMPLETED" and not seen:
                seen.append(time.monotonic())

        out = conn.run("subscribe", {"app_id": SLOW, "data": {"n": n}, "timeout": 60}, on_event=on_event)
        done = time.monotonic()
        if not out["success"]:
            raise RuntimeError(f"connector subscribe: {out['error']}")
        return out["request_id"], seen[0] if seen else None, done

    def connector_stream(n: int) -> tuple[str, float | None, float]:
        job = conn.run("add_request_to_queue", {"app_id": SLOW, "data": {"n": n}})
        if not job["success"]:
            raise RuntimeError(f"connector submit: {job['error']}")
        ids = {"app_id": SLOW, "request_id": job["request_id"]}
        seen = None
        for status in conn.stream("stream_request_status", {**ids, "timeout": 60}):
            if status["status"] == "COMPLETED":
                seen = time.monotonic()
        result = conn.run("get_request_response", ids)
        done = time.monotonic()
        if not result["success"]:
            raise RuntimeError(f"connector result: {result['error']}")
        return job["request_id"], seen, done

    def fal_subscribe(n: int) -> tuple[str, float | None, float]:
        seen: list[float] = []
        ids: list[str] = []

        def on_update(status: Any) -> None:
            if isinstance(status, fal_client.Completed) and not seen:
                seen.append(time.monotonic())

        client.subscribe(SLOW, {"n": n}, on_enqueue=ids.append, on_queue_update=on_update)
        return ids[0], seen[0] if seen else None, time.monotonic()

    contenders = {"connector subscribe": connector_subscribe, "connector stream": connector_stream, "fal-client subscribe": fal_subscribe}
    found: dict[str, dict[str, list[float]]] = {n: {"requests": [], "late_conns": [], "status_ms": [], "seen_ms": []} for n in contenders}
    example: dict[str, list[str]] = {}
    for r in range(jobs):
        for name in rotate(list(contenders), r):
            emu.ask("log_clear")
            request_id, status_at, done = contenders[name](r)
            log = emu.ask("log_count")
            end_at = emu.ask("job", request_id=request_id)["end_at"]
            found[name]["requests"].append(log["count"])
            found[name]["late_conns"].append(sum(1 for at in log["connections"] if at >= end_at))
            found[name]["status_ms"].append((status_at - end_at) * 1000 if status_at is not None else float("nan"))
            found[name]["seen_ms"].append((done - end_at) * 1000)
            example.setdefault(name, [line.split("?")[0] for line in log["requests"]])
    return {
        n: {
            "requests": max(v["requests"]),  # the worst job: the budget is per job
            "late_conns": max(v["late_conns"]),
            "status_ms": spread(v["status_ms"]),
            "seen_ms": spread(v["seen_ms"]),
            "example": _squash(example[n]),
        }
        for n, v in found.items()
    }


def _squash(lines: list[str]) -> str:
    """'POST submit, GET status ×31, GET result' from a request log."""
    out: list[list[Any]] = []
    for line in lines:
        method, _, path = line.partition(" ")
        if "/requests/" in path:
            rest = path.split("/requests/", 1)[1].split("/", 1)
            label = f"{method} {rest[1] if len(rest) > 1 else 'result'}"
        else:
            label = f"{method} submit"
        if out and out[-1][0] == label:
            out[-1][1] += 1
        else:
            out.append([label, 1])
    return ", ".join(s if k == 1 else f"{s} ×{k}" for s, k in out)


# -- fresh processes ----------------------------------------------------------------------------


PYCACHE = ""  # set by main(): a temporary directory, removed at the end


def child_env(emu: EmulatorProcess) -> dict[str, str]:
    """The environment of every fresh-process contender: pointed at the TLS emulator, and with
    a private bytecode cache (filled by one unmeasured run of each contender) so that modules
    run from this checkout start from .pyc like installed ones do, even where the environment
    sets PYTHONDONTWRITEBYTECODE."""
    from connector.emulator.emulator import env_for

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "REQUESTS_CA_BUNDLE", "SSL_CERT_", "PYTHONDONTWRITEBYTECODE"))}
    if PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    host = urlsplit(emu.https).netloc
    env.update(
        **env_for(emu.https, KEY),
        FAL_QUEUE_RUN_HOST=host,
        FAL_RUN_HOST=host + "/run",
        SSL_CERT_FILE=emu.cert_file,
        REQUESTS_CA_BUNDLE=emu.cert_file,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    return env


def cli_command() -> tuple[list[str], str]:
    exe = shutil.which("fal-connector")
    if exe:
        return [exe], "fal-connector"
    return [sys.executable, "-m", "connector"], "python -m connector (fal-connector is not installed)"


def cold_start(emu: EmulatorProcess, request_id: str, runs: int) -> dict[str, Any]:
    """One status call as a fresh process, wall time from spawn to exit (ms)."""
    env = child_env(emu)
    cli, cli_label = cli_command()
    status_url = f"{emu.https}/{ECHO}/requests/{request_id}/status"
    commands = {
        "requests": [sys.executable, "-c",
                     f"import requests; print(requests.get({status_url!r}, headers={{'Authorization': 'Key {KEY}'}}, timeout=30).json())"],
        "connector": [*cli, "run", "get_request_status", "--input", json.dumps({"app_id": ECHO, "request_id": request_id})],
        "fal-client": [sys.executable, "-c", f"import fal_client; print(fal_client.status({ECHO!r}, {request_id!r}))"],
    }
    for name, cmd in commands.items():  # warm the page and bytecode caches; check each works
        for _ in range(2):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise RuntimeError(f"cold start {name} failed ({done.returncode}): {done.stderr[-2000:]}")
    times: dict[str, list[float]] = {n: [] for n in commands}
    cpu: dict[str, list[float]] = {n: [] for n in commands}  # the child's CPU time: less moved by other load than wall time
    for r in range(runs):
        for name in rotate(list(commands), r):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run(commands[name], env=env, capture_output=True, timeout=60)
            times[name].append((time.perf_counter() - t0) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
            if done.returncode != 0:
                raise RuntimeError(f"cold start {name} failed: {done.stderr[-2000:]!r}")
    out: dict[str, Any] = {n: {"median_ms": statistics.median(v), "min_ms": min(v), "runs": len(v), "ms": spread(v), "cpu_ms": spread(cpu[n])}
                           for n, v in times.items()}
    # The same round's starts side by side: a burst of load on the shared machine moves both.
    out["_paired_vs_fal"] = spread([c / f for c, f in zip(times["connector"], times["fal-client"], strict=True)])
    # What any client built on requests starts from: the raw one-liner against fal-client's.
    out["_paired_requests_vs_fal"] = spread([r / f for r, f in zip(times["requests"], times["fal-client"], strict=True)])
    out["_cli"] = cli_label
    return out


# Imported by a status call's start only if something is wrong: each serves other actions or errors.
NOT_ON_THE_STATUS_PATH = ("pydantic", "jsonschema", "yaml", "cryptography", "tenacity", "argparse", "uuid", "concurrent")
STACKS = {  # top-level module -> the group it is counted in
    **dict.fromkeys(("requests", "urllib3", "charset_normalizer", "idna", "certifi", "http", "email", "ssl", "_ssl",
                     "socket", "ipaddress", "mimetypes", "zipfile", "csv", "importlib"), "requests + urllib3 + their stdlib"),
    "connector": "connector", "pluggy": "pluggy", "jsonschema_rs": "jsonschema-rs (the schema checks)", "decimal": "jsonschema-rs (the schema checks)",
    **dict.fromkeys(("fal_client", "httpx", "httpcore", "h11", "anyio", "sniffio", "httpx_sse", "msgpack", "websockets"), "fal-client + httpx"),
}


def import_breakdown(emu: EmulatorProcess, request_id: str, runs: int = 7) -> dict[str, Any]:
    """``python -X importtime`` of the cold-start commands: each module's own import time (the
    least of ``runs`` starts, so load on the machine counts little), summed by group; and which
    of the modules a status call does not need were imported."""
    env = child_env(emu)
    cli, _ = cli_command()
    status_url = f"{emu.https}/{ECHO}/requests/{request_id}/status"
    argv = {
        "connector": [sys.executable, "-X", "importtime", *(cli if cli[0] == sys.executable else [cli[0]]), "run", "get_request_status",
                      "--input", json.dumps({"app_id": ECHO, "request_id": request_id})],
        "requests": [sys.executable, "-X", "importtime", "-c",
                     f"import requests; print(requests.get({status_url!r}, headers={{'Authorization': 'Key {KEY}'}}, timeout=30).json())"],
        "fal-client": [sys.executable, "-X", "importtime", "-c", f"import fal_client; print(fal_client.status({ECHO!r}, {request_id!r}))"],
    }
    for cmd in argv.values():
        subprocess.run(cmd, env=env, capture_output=True, timeout=60)  # bytecode and kept caches in place
    starts: dict[str, list[dict[str, int]]] = {name: [] for name in argv}
    for r in range(runs):
        for name in rotate(list(argv), r):  # interleaved, as every other figure
            done = subprocess.run(argv[name], env=env, capture_output=True, text=True, timeout=60)
            found: dict[str, int] = {}
            for line in done.stderr.splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[0].startswith("import time:") and parts[0].split(":")[1].strip().isdigit():
                    found[parts[2].strip()] = int(parts[0].split(":")[1])
            starts[name].append(found)
    out: dict[str, Any] = {}
    for name, seen in starts.items():
        # Modules every start imported (an import seen once is not the path), at their least own time.
        least = {m: min(run[m] for run in seen) for m in seen[0] if all(m in run for run in seen)}
        groups: dict[str, float] = {}
        for module, us in least.items():
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top.startswith("_") or top in ("encodings", "site", "sitecustomize"):
                group = STACKS.get(top, "other stdlib")
            else:
                group = STACKS.get(top, "other third-party (optional imports of the above)")
            groups[group] = groups.get(group, 0.0) + us / 1000
        connector_modules = sorted(((m, us / 1000) for m, us in least.items() if m.split(".")[0] == "connector"), key=lambda mu: -mu[1])
        out[name] = {"groups": dict(sorted(groups.items(), key=lambda kv: -kv[1])), "modules": len(least),
                     "total_ms": sum(least.values()) / 1000, "connector_modules": connector_modules[:12],
                     "unneeded": sorted(m for m in least if m.split(".")[0] in NOT_ON_THE_STATUS_PATH)}
    out["_runs"] = runs
    return out


def memory(emu: EmulatorProcess, runs: int) -> dict[str, dict[str, float]]:
    """Peak RSS of a fresh process fetching a ~50 MB JSON result (MiB)."""
    import requests

    session = requests.Session()
    session.verify = emu.cert_file
    submitted = session.post(f"{emu.https}/{SIZED}", json={"bytes": BIG}, headers={"Authorization": f"Key {KEY}"}, timeout=30).json()
    request_id = submitted["request_id"]
    while emu.ask("job", request_id=request_id)["status"] != "COMPLETED":
        time.sleep(0.05)
    env = child_env(emu)
    names = ["connector", "fal-client", "requests"]
    peaks: dict[str, list[float]] = {n: [] for n in names}
    bases: dict[str, list[float]] = {n: [] for n in names}
    for r in range(runs):
        for name in rotate(names, r):
            done = subprocess.run([sys.executable, str(HERE / "children.py"), "rss", name, SIZED, request_id],
                                  env=env, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"memory {name} failed: {done.stderr[-2000:]}")
            found = json.loads(done.stdout.strip().splitlines()[-1])
            if not found["ok"] or found["size"] < BIG - 100:
                raise RuntimeError(f"memory {name}: no whole result: {found}")
            peaks[name].append(found["maxrss_kb"] / 1024)
            bases[name].append(found["base_kb"] / 1024)
    return {n: {"peak_mib": statistics.median(peaks[n]), "base_mib": statistics.median(bases[n]), "peak": spread(peaks[n])} for n in names}


# -- report ---------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("fal-client", "httpx", "requests", "urllib3", "jsonschema", "pydantic", "pluggy", "tenacity"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "-"
    import connector

    out["fal-connector"] = connector.__version__
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "connector"], capture_output=True, text=True, timeout=5).stdout.strip()
        out["fal-connector"] += f" (git {rev}{' + uncommitted changes' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "os": platform.platform(), "python": f"{platform.python_implementation()} {platform.python_version()}"}


# The budget lines, as ratios of figures from the same run (absolute figures drift on a shared machine).
PER_CALL_VS_REQUESTS = 1.0  # per-call median ≤ this × raw requests
THROUGHPUT_VS_REQUESTS = 1.0  # 8-thread calls/s ≥ this × raw requests
# Cold start ≤ this × fal-client's one-liner: the median, over the interleaved rounds, of each
# round's connector start / fal-client start. This VM's speed moves in phases of a few seconds
# (~120 ms, then ~180 ms, for the same start); both starts of a round fall in the same phase,
# while each contender's own median lands in either phase (bench/README.md, the cold-start row).
COLD_VS_FAL = 0.85
SEEN_MS = 20.0  # completion seen (the result in hand) ≤ this many ms after the job completed
REQUESTS_PER_JOB = 3
RSS_VS_FAL = 0.8  # peak RSS on a 50 MB result ≤ this × fal-client


def _get(res: dict[str, Any], *path: str) -> Any:
    """res[path...], or None where an older results file lacks it."""
    value: Any = res
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def validator_figures(quick: bool) -> str | None:
    """The schema validators compared (``bench/validator.py``, when present): its output, verbatim."""
    script = HERE / "validator.py"
    if not script.exists():
        return None
    print("validators: bench/validator.py ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(script), *(["--quick"] if quick else [])], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)})
    if done.returncode not in (0, 1):
        return f"bench/validator.py failed ({done.returncode}): {done.stderr[-500:]}"
    return done.stdout.strip()


def figures(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows: figure, unit, per contender a median with its spread, ratios, budget, met."""
    rows: list[dict[str, Any]] = []

    def val(median: Any, sp: Any = None) -> dict[str, Any] | None:
        if median is None:
            return None
        out = {"median": median}
        if isinstance(sp, dict):
            out.update(lo=sp["lo"], hi=sp["hi"])
        return out

    def row(name: str, unit: str, req: Any, conn: Any, fal: Any, budget: str = "-", met: bool | None = None, spread_kind: str = "min–max") -> None:
        c = conn["median"] if conn else None
        rows.append({"figure": name, "unit": unit, "requests": req, "connector": conn, "fal": fal, "spread": spread_kind,
                     "vs_requests": c / req["median"] if c is not None and req and req["median"] else None,
                     "vs_fal": c / fal["median"] if c is not None and fal and fal["median"] else None,
                     "budget": budget, "met": met})

    def pc(kind: str, who: str, key: str = "median_us", sp: str = "us") -> Any:
        return val(_get(res, kind, who, key), _get(res, kind, who, sp))

    c, q, f = pc("per_call_tls", "connector"), pc("per_call_tls", "requests"), pc("per_call_tls", "fal-client")
    met = c["median"] <= PER_CALL_VS_REQUESTS * q["median"] if c and q else None
    row("status call, median (TLS)", "µs", q, c, f, f"≤ {PER_CALL_VS_REQUESTS:g}× requests", met, "p25–p75")
    row("status call, p99 (TLS)", "µs", pc("per_call_tls", "requests", "p99_us", "-"), pc("per_call_tls", "connector", "p99_us", "-"),
        pc("per_call_tls", "fal-client", "p99_us", "-"))
    row("status call, client CPU (TLS)", "µs", pc("per_call_tls", "requests", "cpu_us", "cpu"), pc("per_call_tls", "connector", "cpu_us", "cpu"),
        pc("per_call_tls", "fal-client", "cpu_us", "cpu"), spread_kind="p25–p75 of rounds")
    row("status call, median (plain HTTP)", "µs", pc("per_call_http", "requests"), pc("per_call_http", "connector"), None, spread_kind="p25–p75")

    def tp(who: str) -> Any:
        return val(_get(res, "throughput", who, "calls_per_s"), _get(res, "throughput", who, "rate"))

    t, tq = tp("connector"), tp("requests")
    row("8 threads, one shared client (TLS)", "calls/s", tq, t, tp("fal-client"), f"≥ {THROUGHPUT_VS_REQUESTS:g}× requests",
        t["median"] >= THROUGHPUT_VS_REQUESTS * tq["median"] if t and tq else None, "min–max of rounds")

    def cold(who: str) -> Any:
        return val(_get(res, "cold", who, "median_ms"), _get(res, "cold", who, "ms"))

    k, kf = cold("connector"), cold("fal-client")
    row("cold start: fresh process, one status call (TLS)", "ms", cold("requests"), k, kf)
    def cold_cpu(who: str) -> Any:
        sp = _get(res, "cold", who, "cpu_ms")
        return val(sp["median"], sp) if sp else None

    row("  cold start, CPU time of the process (user + system)", "ms", cold_cpu("requests"), cold_cpu("connector"), cold_cpu("fal-client"))
    paired = _get(res, "cold", "_paired_vs_fal")
    if paired:
        rows.append({"figure": "  cold start, connector / fal-client of the same round", "unit": "ratio", "requests": None,
                     "connector": {"median": paired["median"], "lo": paired["lo"], "hi": paired["hi"]}, "fal": None, "spread": "min–max",
                     "vs_requests": None, "vs_fal": None, "budget": f"≤ {COLD_VS_FAL:g}× fal-client", "met": paired["median"] <= COLD_VS_FAL})
    floor = _get(res, "cold", "_paired_requests_vs_fal")
    if floor:
        rows.append({"figure": "  cold start, raw requests / fal-client of the same round (a client importing requests whole)",
                     "unit": "ratio", "requests": {"median": floor["median"], "lo": floor["lo"], "hi": floor["hi"]}, "connector": None,
                     "fal": None, "spread": "min–max", "vs_requests": None, "vs_fal": None, "budget": "-", "met": None})

    for label, key in (("subscribe", "connector subscribe"), ("stream_request_status (+ submit, result)", "connector stream")):
        fol = _get(res, "follow", key)
        ff = _get(res, "follow", "fal-client subscribe")
        if fol is None or ff is None:
            continue
        row(f"3 s job, {label}: HTTP requests (worst job)", "requests", None, val(fol["requests"]), val(ff["requests"]),
            f"≤ {REQUESTS_PER_JOB}", fol["requests"] <= REQUESTS_PER_JOB)
        if "late_conns" in fol:
            row(f"3 s job, {label}: connections opened after completion (worst job)", "handshakes", None, val(fol["late_conns"]),
                val(ff["late_conns"]))
        seen = fol["seen_ms"] if isinstance(fol["seen_ms"], dict) else {"median": fol.get("done_ms")}
        fseen = ff["seen_ms"] if isinstance(ff["seen_ms"], dict) else {"median": ff.get("done_ms")}
        row(f"3 s job, {label}: completion seen (result in hand) after it happened", "ms", None, seen, fseen,
            f"≤ {SEEN_MS:g} ms", seen["median"] is not None and seen["median"] <= SEEN_MS)
        status = fol.get("status_ms")
        if isinstance(status, dict):
            row(f"3 s job, {label}: COMPLETED status in hand after it happened", "ms", None, status, ff.get("status_ms"))

    def mem(who: str, key: str = "peak_mib", sp: str = "peak") -> Any:
        return val(_get(res, "memory", who, key), _get(res, "memory", who, sp))

    m, mf = mem("connector"), mem("fal-client")
    row("50 MB result: peak RSS", "MiB", mem("requests"), m, mf, f"≤ {RSS_VS_FAL:g}× fal-client",
        m["median"] <= RSS_VS_FAL * mf["median"] if m and mf else None)
    row("  (RSS before the call: imports + client)", "MiB", mem("requests", "base_mib", "-"), mem("connector", "base_mib", "-"),
        mem("fal-client", "base_mib", "-"))
    return rows


def _num(v: float | None, unit: str) -> str:
    if v is None or v != v:
        return "-"
    if unit in ("requests", "handshakes"):
        return f"{v:g}"
    if unit == "ratio":
        return f"{v:.2f}×"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def _cell(v: dict[str, Any] | None, unit: str) -> str:
    if v is None:
        return "-"
    text = _num(v["median"], unit)
    if "lo" in v and v["lo"] != v["hi"]:
        text += f" ({_num(v['lo'], unit)}–{_num(v['hi'], unit)})"
    return text


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}×"


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| figure | unit | raw requests | connector | fal-client | spread shown | conn / requests | conn / fal-client | budget | met |",
           "|---|---|---:|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "**NO**")
        shown = r["spread"] if any(v and "lo" in v for v in (r["requests"], r["connector"], r["fal"])) else "-"
        out.append(f"| {r['figure']} | {r['unit']} | {_cell(r['requests'], r['unit'])} | {_cell(r['connector'], r['unit'])} | "
                   f"{_cell(r['fal'], r['unit'])} | {shown} | {_ratio(r['vs_requests'])} | {_ratio(r['vs_fal'])} | {r['budget']} | {met} |")
    return out


def before_after(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rows_b = {r["figure"]: r for r in figures(before)}
    out = ["| figure | unit | connector before | connector after | before / requests | after / requests | before / fal-client | after / fal-client |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in figures(after):
        b = rows_b.get(r["figure"])
        if b is None:
            continue
        out.append(f"| {r['figure']} | {r['unit']} | {_num((b['connector'] or {}).get('median'), r['unit'])} | "
                   f"{_num((r['connector'] or {}).get('median'), r['unit'])} | "
                   f"{_ratio(b['vs_requests'])} | {_ratio(r['vs_requests'])} | {_ratio(b['vs_fal'])} | {_ratio(r['vs_fal'])} |")
    return out


def imports_section(imports: dict[str, Any]) -> list[str]:
    """Where a cold start's import time goes (``python -X importtime``), by group, per contender."""
    names = [n for n in ("requests", "connector", "fal-client") if n in imports]
    imports.setdefault("_runs", "several")
    groups = sorted({g for n in names for g in imports[n]["groups"]}, key=lambda g: -max(imports[n]["groups"].get(g, 0) for n in names))
    lines = ["## Cold start: where the import time goes", "",
             f"`python -X importtime` of the three cold-start commands: each module's own import time, the least of {imports['_runs']} "
             "interleaved starts (so other load counts little), summed by group. The connector's cold start is the raw `requests` one-liner "
             "plus the rows where they differ; its requests row is the smaller because the command imports charset_normalizer and idna, "
             "which requests imports for what a status call does not use, only when first used (`connector/cli_deferred.py`).", "",
             "| group | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for g in groups:
        lines.append(f"| {g} | " + " | ".join(f"{imports[n]['groups'].get(g, 0):.1f} ms" for n in names) + " |")
    lines.append("| **all imports** | " + " | ".join(f"**{imports[n]['total_ms']:.1f} ms** ({imports[n]['modules']} modules)" for n in names) + " |")
    c = imports.get("connector")
    if c:
        lines += ["", "The connector's own modules that cost most: " +
                  ", ".join(f"`{m}` {ms:.2f} ms" for m, ms in c["connector_modules"][:8]) + ".", "",
                  f"Not needed by a status call, and imported on its path: {', '.join(c['unneeded']) or 'none'} "
                  f"(looked for: {', '.join(NOT_ON_THE_STATUS_PATH)}).", ""]
    return lines


def _load_text(load: dict[str, Any] | None) -> str:
    if not load or not load.get("before"):
        return "not recorded"
    b, a = load["before"], load.get("after") or {}
    return (f"load average (1/5/15 min) {b.get('load_1m')}/{b.get('load_5m')}/{b.get('load_15m')} at the start, "
            f"{a.get('load_1m')}/{a.get('load_5m')}/{a.get('load_15m')} at the end, on {os.cpu_count()} CPUs")


def write_results(res: dict[str, Any], before: dict[str, Any] | None, path: Path) -> None:
    m, v = res["machine"], res["versions"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python bench/run.py` (see `bench/README.md` for what each figure measures). "
        "Ratios compare figures from the same run.",
        "",
        f"- date: {res['date']}",
        f"- machine: {m['nproc']} CPUs, {m['cpu']}, {m['os']}",
        f"- Python: {m['python']}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if k != "python"),
        f"- run: {res['params']}",
        f"- cold start command: `{res['cold']['_cli']}`",
        f"- machine load (shared machine: the other figures are ratios of this same run): {_load_text(res.get('load'))}",
        "",
        "## This run",
        "",
        "Each cell is the median, with its spread in brackets (which one: the \"spread shown\" column). "
        "The contenders ran interleaved (A B C, B C A, …), so load on the machine hits all of them alike.",
        "",
        *table(figures(res)),
        "",
        "Requests each contender made for one 3 s job (first job of the run):",
        "",
        *[f"- {name}: {f['example']}" for name, f in res["follow"].items()],
        "",
    ]
    if res.get("imports"):
        lines += imports_section(res["imports"])
    if res.get("validator"):
        lines += ["## Schema validators (`bench/validator.py`)", "", "```", res["validator"], "```", ""]
    if before is not None:
        bm = before.get("versions", {}).get("fal-connector", "?")
        lines += [
            "## Before and after",
            "",
            f"\"Before\" is the connector before the performance work: {bm}, measured {before['date']} with this "
            "same command on this machine. \"After\" is this run. Each ratio is against the other contenders of its "
            "own run (the machine is shared: absolute figures drift between runs, ratios much less).",
            "",
            *before_after(before, res),
            "",
        ]
    from bench.results_section import kept_sections  # the sections other scripts own (bench/scale.py's)

    path.write_text("\n".join(lines) + kept_sections(path))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer calls, jobs and runs (a smoke test, not the figures of record)")
    p.add_argument("--calls", type=int, default=None, help="status calls per contender (default 3000; quick 600)")
    p.add_argument("--jobs", type=int, default=None, help="3 s jobs per follow contender (default 5; quick 2)")
    p.add_argument("--cold", type=int, default=None, help="fresh processes per cold-start contender (default 41, also quick)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per throughput round (default 2; quick 1)")
    p.add_argument("--save-as", choices=("before",), help="also store the figures as bench/results/before.json")
    p.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md and bench/results/latest.json")
    args = p.parse_args(argv)
    if importlib.util.find_spec("fal_client") is None:
        print("bench/run.py compares with the official client: pip install fal-client", file=sys.stderr)
        return 2
    calls = args.calls or (600 if args.quick else 3000)
    jobs = args.jobs or (2 if args.quick else 5)
    cold_runs = args.cold or 41  # one start varies by ±25 % on a shared VM: 41 give a steadier median
    seconds = args.seconds or (1.0 if args.quick else 2.0)
    rounds = 3

    global PYCACHE
    PYCACHE = tempfile.mkdtemp(prefix="fal-bench-pycache-")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    emu = EmulatorProcess(env)
    try:
        # Point this process at the emulator before fal_client is imported (it reads the hosts then).
        os.environ.update({k: v for k, v in child_env(emu).items() if k != "PYTHONPATH"})
        import requests

        boot = requests.Session()
        boot.verify = emu.cert_file
        request_id = boot.post(f"{emu.https}/{ECHO}", json={"bench": True}, headers={"Authorization": f"Key {KEY}"}, timeout=30).json()["request_id"]
        while emu.ask("job", request_id=request_id)["status"] != "COMPLETED":
            time.sleep(0.02)
        # the plain-HTTP emulator needs the same job id: submit there too and use it for http rows
        plain_id = requests.post(f"{emu.http}/{ECHO}", json={"bench": True}, headers={"Authorization": f"Key {KEY}"}, timeout=30).json()["request_id"]
        time.sleep(0.2)

        started = time.time()
        load_before = machine_load()
        res: dict[str, Any] = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                               "machine": machine(), "versions": versions(),
                               "params": f"{calls} calls/contender, {rounds}×{seconds:g} s throughput rounds, {cold_runs} cold starts, {jobs} jobs/follow contender"}
        print(f"per-call latency: {calls} status calls per contender, interleaved ...", file=sys.stderr, flush=True)
        contenders = make_contenders(emu, request_id)
        res["per_call_tls"] = per_call({n: c["tls"] for n, c in contenders.items()}, calls)
        http_contenders = make_contenders(emu, plain_id)
        res["per_call_http"] = per_call({n: c["http"] for n, c in http_contenders.items() if "http" in c}, calls)
        print("throughput: 8 threads sharing one client ...", file=sys.stderr, flush=True)
        res["throughput"] = throughput({n: c["tls"] for n, c in contenders.items()}, 8, seconds, rounds)
        print(f"cold start: {cold_runs} fresh processes per contender ...", file=sys.stderr, flush=True)
        res["cold"] = cold_start(emu, request_id, cold_runs)
        res["imports"] = import_breakdown(emu, request_id)
        print(f"following: {jobs} jobs of 3 s per contender ...", file=sys.stderr, flush=True)
        res["follow"] = follow(emu, jobs)
        print("memory: a 50 MB result, fresh process per fetch ...", file=sys.stderr, flush=True)
        res["memory"] = memory(emu, 3)
        res["validator"] = validator_figures(args.quick)
        res["seconds"] = round(time.time() - started, 1)
        res["load"] = {"before": load_before, "after": machine_load()}
    finally:
        emu.stop()
        shutil.rmtree(PYCACHE, ignore_errors=True)

    rows = figures(res)
    print()
    print("\n".join(table(rows)))
    met = [r for r in rows if r["met"] is not None]
    failed = [r["figure"] for r in met if not r["met"]]
    print()
    if res.get("validator"):
        print(res["validator"])
    print(f"machine load: {_load_text(res.get('load'))}")
    print(f"{len(met) - len(failed)} of {len(met)} budget figures met" + (f"; not met: {', '.join(failed)}" if failed else "") + f" ({res['seconds']} s)")
    results_dir = HERE / "results"
    if not args.no_write:
        results_dir.mkdir(exist_ok=True)
        (results_dir / "latest.json").write_text(json.dumps(res, indent=1))
        if args.save_as:
            (results_dir / f"{args.save_as}.json").write_text(json.dumps(res, indent=1))
        before_file = results_dir / "before.json"
        before = json.loads(before_file.read_text()) if before_file.exists() and args.save_as != "before" else None
        write_results(res, before, HERE / "RESULTS.md")
        print(f"wrote {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
