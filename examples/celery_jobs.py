"""Run fal jobs on Celery workers, Redis as the broker: each prompt becomes one fal job
(submit -> wait -> fetch) that is never submitted twice, even when a worker is lost mid-job.

    pip install 'fal-connector[celery]'
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/0 FAL_KEY=...
    cd examples && celery -A celery_jobs worker --pool threads --concurrency 8   # as many as you like
    python examples/celery_jobs.py "a red fox" "a blue owl"    # prints one JSON line per prompt

``--worker`` starts one worker itself, to try it on one machine. ``--batch NAME`` names the
jobs ``NAME:0``, ``NAME:1``, ...: run the same batch again (after a crash, say) and the jobs
already submitted are followed, not submitted again. Exit status 1 when a job failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from celery import Celery

from connector.integrations.celery import FalTasks

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_jobs", broker=BROKER, backend=os.environ.get("CELERY_RESULT_BACKEND", BROKER))
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    # A waiting job is a message with a countdown, held unacknowledged by a worker: Redis must
    # not hand it to another worker before it is due.
    broker_transport_options={"visibility_timeout": 3600},
)
fal = FalTasks(app, poll_interval=1.0)  # Connector() from the FAL_* environment, in each worker


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate images for prompts on Celery workers.")
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--model", default="fal-ai/flux/dev")
    parser.add_argument("--batch", help="name the jobs NAME:0, NAME:1, ... (rerunning a batch never resubmits)")
    parser.add_argument("--worker", action="store_true", help="start one Celery worker for the run")
    args = parser.parse_args()
    worker = None
    if args.worker:
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_jobs", "worker", "--pool", "threads",
                                   "--concurrency", "4", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
                                  cwd=Path(__file__).parent, stdout=sys.stderr)  # stdout is for the results
    try:
        batch = args.batch or uuid.uuid4().hex
        results = [fal.job(args.model, {"prompt": p}, key=f"{batch}:{i}").delay() for i, p in enumerate(args.prompts)]
        ok = True
        for prompt, result in zip(args.prompts, results, strict=True):
            out = result.get(timeout=600)
            line = {"prompt": prompt, "ok": out["success"], "request_id": out["request_id"]}
            if out["success"]:
                line["urls"] = [image["url"] for image in out["data"].get("images", [])]
            else:
                line["error"] = out["error"]
                ok = False
            print(json.dumps(line), flush=True)
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.terminate()  # a warm shutdown: the worker finishes what it runs, then exits
            worker.wait(30)


if __name__ == "__main__":
    sys.exit(main())
