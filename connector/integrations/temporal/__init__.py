"""fal jobs on Temporal (``pip install 'fal-connector[temporal]'``).

    from connector import Connector
    from connector.integrations.temporal import FalActivities, FalJobWorkflow, WebhookServer, WORKFLOW_RUNNER, run_jobs

    async with WebhookServer(client, host="0.0.0.0", port=8088) as hooks:
        acts = FalActivities(Connector(), webhook_url="https://hooks.example.com/fal/webhook")
        async with Worker(client, task_queue="fal", activities=acts.all(), workflows=[FalJobWorkflow],
                          workflow_runner=WORKFLOW_RUNNER):   # or simply: async with fal_worker(client, "fal", ...)
            outputs = await run_jobs(client, jobs, task_queue="fal")

Names are imported on first use, so Temporal's workflow sandbox, which imports
``connector.integrations.temporal.workflow``, loads only that module and temporalio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["FalActivities", "FalJobWorkflow", "WebhookServer", "action_activities", "complete_from_webhook",
           "run_jobs", "start_dev_server", "temporal_cli_path", "webhook_app", "WORKFLOW_RUNNER", "fal_worker"]

_LAZY = {
    "FalActivities": "job", "FalJobWorkflow": "workflow", "WebhookServer": "receiver", "action_activities": "activities",
    "complete_from_webhook": "receiver", "run_jobs": "batch", "start_dev_server": "devserver",
    "temporal_cli_path": "devserver", "webhook_app": "receiver", "WORKFLOW_RUNNER": "worker", "fal_worker": "worker",
}

if TYPE_CHECKING:
    from .activities import action_activities
    from .batch import run_jobs
    from .devserver import start_dev_server, temporal_cli_path
    from .job import FalActivities
    from .receiver import WebhookServer, complete_from_webhook, webhook_app
    from .worker import WORKFLOW_RUNNER, fal_worker
    from .workflow import FalJobWorkflow


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
