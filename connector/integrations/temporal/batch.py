"""``run_jobs``: many ``FalJobWorkflow``s with a bounded number in flight.

fal limits how many of an account's requests run at once (2 for a new account, up to 40) and
queues the rest without rejecting them, so keeping more than that in flight only lengthens
fal's queue: the default bound is 40. Each job's answer comes back as an output dict in the
connector's shape (``success``, ``error``, ``failure``), in the order the jobs were given.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError

from .workflow import FalJobWorkflow

FAL_CONCURRENCY_LIMIT = 40
# Workflows being started at once. The answer to each start returns through a thread of the SDK
# that waits for the GIL; starting thousands at once would make a thread for most of them.
STARTS_AT_ONCE = 8


async def run_jobs(
    client: Client,
    jobs: Iterable[dict[str, Any]],
    *,
    task_queue: str,
    max_in_flight: int = FAL_CONCURRENCY_LIMIT,
    id_prefix: str | None = None,
    on_done: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run one ``FalJobWorkflow`` per job; ``on_done(index, output)`` is called as each finishes."""
    if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise ValueError(f"max_in_flight: expected an integer >= 1, got {max_in_flight!r}")
    prefix = id_prefix or f"fal-job-{uuid.uuid4().hex[:12]}"
    gate = asyncio.Semaphore(max_in_flight)
    starting = asyncio.Semaphore(STARTS_AT_ONCE)

    async def one(index: int, job: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            try:
                async with starting:
                    handle = await client.start_workflow(FalJobWorkflow.run, job, id=f"{prefix}-{index}", task_queue=task_queue)
                done = await handle.result()  # a long poll: a pending call, no thread
                output = {"success": True, "error": None, "failure": None, **done}
            except WorkflowFailureError as err:
                output = failed_output(err)
        if on_done is not None:
            on_done(index, output)
        return output

    return list(await asyncio.gather(*(one(i, job) for i, job in enumerate(jobs))))


def failed_output(err: WorkflowFailureError) -> dict[str, Any]:
    """The innermost typed failure of a failed workflow as a connector-style output."""
    cause: BaseException | None = err.cause
    while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError) and cause.cause is not None:
        cause = cause.cause  # ActivityError -> ApplicationError
    details = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
    details = details if isinstance(details, dict) else {}
    failure = details.get("failure")
    failure = failure if isinstance(failure, dict) else {}
    return {"success": False, "error": str(cause or err), "request_id": details.get("request_id"),
            "failure": {"type": getattr(cause, "type", None) or "workflow_failed",
                        "retryable": bool(failure.get("retryable", False)), "detail": details or None}}
