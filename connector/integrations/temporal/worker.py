"""A ready worker: the fal activities, ``FalJobWorkflow`` and the webhook receiver, in one process.

    async with fal_worker(client, "fal", public_url="https://hooks.example.com/fal/webhook",
                          listen=("0.0.0.0", 8088)) as worker:
        ...                                   # serve until done

or from a shell (prints one JSON line with the receiver's URL, then serves until stopped):

    python -m connector.integrations.temporal.worker --address localhost:7233 --task-queue fal \\
        --listen 0.0.0.0:8088 --public-url https://hooks.example.com/fal/webhook

``public_url`` is where fal can reach the receiver (a proxy or tunnel in front of ``listen``);
without it the receiver's own address is used, which suits a local emulator. ``--no-webhooks``
polls instead (a worker slot per job while it waits).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from .job import FalActivities
from .receiver import MAX_DELIVERIES, WebhookServer
from .workflow import FalJobWorkflow

# The workflow module imports only the standard library and temporalio; passing the connector's
# modules through spares the sandbox re-importing the package for every workflow run.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("connector"))
# A workflow task is a few milliseconds of Python under the GIL: more of them at once adds threads, not speed.
MAX_WORKFLOW_TASKS = 8


@dataclass
class FalWorker:
    worker: Worker
    webhook_url: str | None  # what fal is told to call; None when polling


@asynccontextmanager
async def fal_worker(
    client: Client,
    task_queue: str,
    *,
    connector: Any = None,
    jwks_url: str | None = None,
    webhooks: bool = True,
    listen: tuple[str, int] = ("127.0.0.1", 0),
    public_url: str | None = None,
    poll_interval: float = 1.0,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = MAX_WORKFLOW_TASKS,
    max_concurrent_deliveries: int = MAX_DELIVERIES,
) -> AsyncIterator[FalWorker]:
    """Run a worker (and the receiver, with webhooks) for the duration of the ``async with``.
    ``jwks_url`` defaults to the connector's (``FAL_JWKS_URL``), which signs fal's deliveries.

    The process's threads are bounded by these settings, not by how many jobs are in flight:
    ``max_concurrent_workflow_tasks`` sizes the thread pool that runs workflow code (Temporal's
    default lets it grow to 500 threads under load), ``max_concurrent_deliveries`` how many
    webhooks the receiver handles at once (each one's Temporal calls finish on a thread of the
    SDK's own that waits for the GIL, so a burst of deliveries would be a burst of threads)."""
    if connector is None:
        from connector import Connector

        connector = Connector()
    async with AsyncExitStack() as stack:
        url = None
        if webhooks:
            server = await stack.enter_async_context(WebhookServer(client, host=listen[0], port=listen[1],
                                                                   max_concurrent=max_concurrent_deliveries,
                                                                   jwks_url=jwks_url or _jwks_url_of(connector)))
            url = public_url or server.url
        activities = FalActivities(connector, webhook_url=url, poll_interval=poll_interval)
        worker = Worker(client, task_queue=task_queue, activities=activities.all(), workflows=[FalJobWorkflow],
                        max_concurrent_activities=max_concurrent_activities,
                        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks, workflow_runner=WORKFLOW_RUNNER)
        await stack.enter_async_context(worker)
        yield FalWorker(worker, url)


def _jwks_url_of(connector: Any) -> str | None:
    return getattr(getattr(connector, "config", None), "jwks_url", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.integrations.temporal.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="localhost:7233", help="Temporal frontend host:port")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default="fal")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port of the webhook receiver (port 0: a free one)")
    parser.add_argument("--public-url", help="the URL fal calls (defaults to the receiver's own)")
    parser.add_argument("--no-webhooks", action="store_true", help="poll instead of waiting for webhooks")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--max-concurrent-activities", type=int, default=100)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=MAX_WORKFLOW_TASKS,
                        help="workflow tasks at once: the size of the thread pool that runs them")
    parser.add_argument("--max-concurrent-deliveries", type=int, default=MAX_DELIVERIES, help="webhooks handled at once")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen: expected host:port, got {args.listen!r}")
    return asyncio.run(_serve(args, (host, int(port))))


async def _serve(args: argparse.Namespace, listen: tuple[str, int]) -> int:
    client = await Client.connect(args.address, namespace=args.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fal_worker(client, args.task_queue, webhooks=not args.no_webhooks, listen=listen, public_url=args.public_url,
                          poll_interval=args.poll_interval, max_concurrent_activities=args.max_concurrent_activities,
                          max_concurrent_workflow_tasks=args.max_concurrent_workflow_tasks,
                          max_concurrent_deliveries=args.max_concurrent_deliveries) as running:
        sys.stdout.write(json.dumps({"task_queue": args.task_queue, "webhook_url": running.webhook_url}) + "\n")
        sys.stdout.flush()
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
