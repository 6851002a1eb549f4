"""The Temporal contender of ``bench/scale.py``: N fal jobs as ``FalJobWorkflow``s completed by webhooks.

    from bench.scale_temporal import run_temporal
    run_temporal(n, env, app_id="fal-ai/echo", data=lambda i: {"i": i}, max_concurrent_activities=8)

``env`` is an emulator's FAL_* variables (the emulator may run in another process; it must be
able to POST to 127.0.0.1). A Temporal dev server is started for the run (a separate process,
not counted), then one worker with its webhook receiver in this process; all N workflows are
in flight at once. Returns ``n``, ``ok``, ``wall_s`` (first submit to last result),
``peak_threads`` and ``peak_rss_kb`` of this process (``/proc/self/status`` every 50 ms), and
``threads_before`` (its threads with the worker running, before the first job).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.sampling import peaks


def run_temporal(n: int, env: dict[str, str], *, app_id: str = "fal-ai/echo",
                 data: Callable[[int], dict[str, Any]] = lambda i: {"i": i},
                 max_concurrent_activities: int = 8, **worker_options: Any) -> dict[str, Any]:
    """``worker_options``: more of ``fal_worker``'s settings (``max_concurrent_workflow_tasks``, ...)."""
    return asyncio.run(_run(n, env, app_id, data, {"max_concurrent_activities": max_concurrent_activities, **worker_options}))


async def _run(n: int, env: dict[str, str], app_id: str, data: Callable[[int], dict[str, Any]],
               worker_options: dict[str, Any]) -> dict[str, Any]:
    from connector import Connector
    from connector.integrations.temporal import fal_worker, run_jobs, start_dev_server

    conn = Connector(environ=env)
    server = await start_dev_server()
    try:
        async with fal_worker(server.client, "fal-scale", connector=conn, **worker_options):
            jobs = [{"app_id": app_id, "data": data(i), "timeout": 900} for i in range(n)]
            with peaks() as peak:
                start = time.perf_counter()
                outputs = await run_jobs(server.client, jobs, task_queue="fal-scale", max_in_flight=n)
                wall = time.perf_counter() - start
    finally:
        await server.shutdown()
    return {"n": n, "ok": sum(1 for o in outputs if o["success"]), "wall_s": wall,
            "peak_threads": peak["threads"], "threads_before": peak["threads_before"], "peak_rss_kb": peak["rss_kb"]}


if __name__ == "__main__":  # a quick look: python bench/scale_temporal.py [N]
    import json
    import sys

    from connector.emulator import Emulator

    with Emulator() as emu:
        emu.set_model("fal-ai/echo", queue_seconds=0, run_seconds=2.0)
        count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
        result = run_temporal(count, emu.env())
        result["requests_per_job"] = len(emu.requests_log) / count
        print(json.dumps(result))
