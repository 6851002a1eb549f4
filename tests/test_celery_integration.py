"""connector.integrations.celery against a real Redis server (a fresh ``redis-server`` on a
free loopback port), a real Celery worker (``start_worker``, not eager mode) and the emulator as fal.

A redelivery is a real one: the task raises Celery's ``Reject(requeue=True)`` at the chosen
point (what a lost worker amounts to with ``acks_late``), so Redis hands the same message to
the worker again.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("celery", reason="the celery extra is not installed (pip install '.[celery]')")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (apt-get install redis-server)", allow_module_level=True)

from celery.contrib.testing.worker import start_worker  # noqa: E402
from celery.exceptions import Reject  # noqa: E402

from connector.integrations.celery import FalTasks  # noqa: E402
from connector.integrations.celery_testing import celery_app, redis_server, wsgi_server  # noqa: E402
from connector.testing import connector_for  # noqa: E402

APP = "fal-ai/echo"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def make_tasks(redis_url: str, fal_emulator: Any) -> Iterator[Any]:
    """make_tasks(**options) -> FalTasks on a fresh Celery app (an empty Redis), its connector
    pointed at the emulator."""
    import redis

    made: list[FalTasks] = []

    def make(connector: Any = None, **options: Any) -> FalTasks:
        redis.Redis.from_url(redis_url).flushall()
        app = celery_app(redis_url)
        options.setdefault("poll_interval", 0.2)
        tasks = FalTasks(app, connector=connector or (lambda: connector_for(fal_emulator)), **options)
        made.append(tasks)
        return tasks

    yield make
    gc.collect()  # results unsubscribe from Redis when collected: while it still runs
    for tasks in made:
        tasks.close()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Any:
    """A Celery worker sets up logging for the whole process (root level ERROR, a stderr
    handler): put it back, so the tests after these see logging as pytest set it."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def worker(tasks: FalTasks, **options: Any) -> Any:
    # The default pool is 'solo': ONE task at a time, in the worker's own thread.
    return start_worker(tasks.app, perform_ping_check=False, shutdown_timeout=10, **options)


def submits(emulator: Any) -> list[str]:
    return [target for method, target, _ in emulator.requests_log if method == "POST" and target.startswith("/" + APP)]


def requests_for(emulator: Any, request_id: str) -> list[tuple[str, str]]:
    return [(method, target.split("?")[0].rsplit("/", 1)[-1]) for method, target, _ in emulator.requests_log
            if request_id in target]


def test_a_job_completes_through_submit_wait_fetch(make_tasks, fal_emulator):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.5)
    tasks = make_tasks()
    with worker(tasks):
        out = tasks.job(APP, {"n": 1}, key="order-1").delay().get(timeout=30)
    assert out["success"] is True, out
    assert out["data"] == {"echo": {"n": 1}}
    assert out["key"] == "order-1"
    [job] = fal_emulator.jobs
    assert out["request_id"] == job.request_id
    seen = requests_for(fal_emulator, job.request_id)
    assert ("GET", "status") in seen  # the wait task looked (then re-queued itself) ...
    assert seen[-1] == ("GET", job.request_id)  # ... and fetch read the result last
    assert tasks.store.get("order-1")["request_id"] == job.request_id


def test_a_failed_job_is_a_failure_output_not_an_exception(make_tasks, fal_emulator):
    tasks = make_tasks()
    with worker(tasks):
        out = tasks.job("fal-ai/always-fails", {}).delay().get(timeout=30)
    assert out["success"] is False and out["failure"]["type"] == "model_error", out
    assert out["request_id"] == fal_emulator.jobs[0].request_id


def test_a_job_completes_by_webhook_with_two_requests_and_no_status_call(make_tasks, fal_emulator):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.5)
    holder: dict[str, FalTasks] = {}
    with wsgi_server(lambda environ, start: holder["tasks"].wsgi_app(environ, start)) as url:
        tasks = holder["tasks"] = make_tasks(webhook_url=url)
        with worker(tasks):
            out = tasks.job(APP, {"n": 2}, key="hooked").delay().get(timeout=30)
    assert out["success"] is True and out["data"] == {"echo": {"n": 2}}, out
    [job] = fal_emulator.jobs
    assert job.webhook_url is not None and "fal_job=hooked" in job.webhook_url
    assert [d["status_code"] for d in fal_emulator.webhook_deliveries] == [200]
    # submit + result: nothing polled while fal worked
    assert len(submits(fal_emulator)) == 1
    assert requests_for(fal_emulator, job.request_id) == [("GET", job.request_id)]


def test_a_redelivered_submit_message_does_not_submit_twice(make_tasks, fal_emulator):
    tasks = make_tasks()
    record, deliveries = tasks.store.record, []

    def record_then_lose_the_worker(key: str, request_id: Any, state: str, parked: Any) -> str:
        verdict = record(key, request_id, state, parked)
        deliveries.append(request_id)
        if len(deliveries) == 1:  # the worker is lost after the record, before the ack
            raise Reject("worker lost", requeue=True)
        return verdict

    tasks.store.record = record_then_lose_the_worker  # type: ignore[method-assign]
    with worker(tasks):
        out = tasks.job(APP, {"n": 3}).delay().get(timeout=30)
    assert out["success"] is True, out
    [job] = fal_emulator.jobs
    assert deliveries == [job.request_id, job.request_id]  # the message came twice ...
    assert len(submits(fal_emulator)) == 1  # ... fal got one submit


def test_two_deliveries_at_once_submit_once(make_tasks, fal_emulator):
    # The same job sent twice, run side by side: the second finds the first mid-submit (fal
    # answers after 1 s), waits for it and follows the same request.
    fal_emulator.faults.add("submit", delay=1.0)
    tasks = make_tasks()
    give_up, seen = tasks.store.give_up, []
    tasks.store.give_up = lambda key, now: seen.append(give_up(key, now)) or seen[-1]  # type: ignore[method-assign]
    with worker(tasks, pool="threads", concurrency=2):
        results = [tasks.job(APP, {"n": 6}, key="twice").delay() for _ in range(2)]
        outs = [r.get(timeout=30) for r in results]
    [job] = fal_emulator.jobs
    assert len(submits(fal_emulator)) == 1
    assert [(o["success"], o["request_id"]) for o in outs] == [(True, job.request_id)] * 2, outs
    assert "submitting" in seen  # the second really found the first one mid-submit


class LosesWorkerAfterSubmit:
    """A connector whose first submit reaches fal, then the worker is lost before the record."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.lost = conn, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def run(self, action: str, inputs: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = self.conn.run(action, inputs)
        if action == "add_request_to_queue" and not self.lost:
            self.lost = True
            raise Reject("worker lost between fal's accept and the record", requeue=True)
        return out


def test_a_worker_lost_before_recording_the_request_id_never_resubmits(make_tasks, fal_emulator):
    conn = LosesWorkerAfterSubmit(connector_for(fal_emulator))
    tasks = make_tasks(connector=lambda: conn, lease=1.0)
    with worker(tasks):
        out = tasks.job(APP, {"n": 4}, key="lost").delay().get(timeout=30)
    assert conn.lost
    assert len(fal_emulator.jobs) == 1 and len(submits(fal_emulator)) == 1
    # polling cannot learn the request id: an honest outcome_unknown, never a second submit
    assert out["success"] is False and out["failure"]["type"] == "outcome_unknown", out
    assert "not re-sent" in out["error"] and out["key"] == "lost"
    assert tasks.store.get("lost")["state"] == "unknown"


def test_with_webhooks_a_lost_request_id_comes_back_with_the_webhook(make_tasks, fal_emulator):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=1.5)
    conn = LosesWorkerAfterSubmit(connector_for(fal_emulator))
    holder: dict[str, FalTasks] = {}
    with wsgi_server(lambda environ, start: holder["tasks"].wsgi_app(environ, start)) as url:
        tasks = holder["tasks"] = make_tasks(connector=lambda: conn, lease=0.5, webhook_url=url)
        with worker(tasks):
            out = tasks.job(APP, {"n": 5}, key="recovered").delay().get(timeout=30)
    [job] = fal_emulator.jobs
    assert conn.lost and len(submits(fal_emulator)) == 1
    assert out["success"] is True and out["request_id"] == job.request_id, out
    assert out["data"] == {"echo": {"n": 5}}


def test_waiting_holds_no_worker_slot(make_tasks, fal_emulator):
    # 12 jobs of 2 s on a worker that runs ONE task at a time: were a worker held while fal
    # works, job k+1 could only be submitted after job k completed.
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=2)
    tasks = make_tasks(poll_interval=0.5)
    with worker(tasks, concurrency=1):
        results = [tasks.job(APP, {"i": i}).delay() for i in range(12)]
        outs = [r.get(timeout=60) for r in results]
    assert [o["data"] for o in outs] == [{"echo": {"i": i}} for i in range(12)]
    jobs = sorted(fal_emulator.jobs, key=lambda j: j.submitted)
    assert len(jobs) == 12
    first_done = min(j.start_at + j.run_seconds for j in jobs)
    assert jobs[-1].submitted < first_done  # all twelve were at fal at once


def test_one_task_per_action_returns_its_output(make_tasks, fal_emulator):
    tasks = make_tasks()
    assert set(tasks.actions) == {a["id"] for a in connector_for(fal_emulator).actions()}
    # a redelivery may run a task twice: only actions the manifest calls idempotent ack late
    assert tasks.action("get_request_status").acks_late is True
    assert tasks.action("add_request_to_queue").acks_late is False
    assert tasks.action("subscribe").acks_late is False
    with pytest.raises(KeyError, match="no action 'nope'"):
        tasks.action("nope")
    with worker(tasks):
        out = tasks.action("get_models").delay({"endpoint_id": APP}).get(timeout=30)
        bad = tasks.action("get_request_status").delay({"app_id": APP}).get(timeout=30)
    assert out["success"] is True and [m["endpoint_id"] for m in out["models"]] == [APP]
    assert bad["success"] is False and bad["failure"]["type"] == "invalid_input" and "request_id" in bad["error"]


def test_job_rejects_unknown_options(make_tasks):
    tasks = make_tasks()
    with pytest.raises(TypeError, match="webhook"):
        tasks.job(APP, {}, webhook="x")


def test_the_webhook_receiver_refuses_what_it_cannot_trust(make_tasks, fal_emulator):
    tasks = make_tasks()
    body = json.dumps({"request_id": "r1", "status": "OK", "payload": {}}).encode()
    headers = fal_emulator.sign_webhook(body, "r1")
    assert tasks.handle_webhook(headers, body, None)[0] == 400  # no job key in the URL
    assert tasks.handle_webhook({**headers, "X-Fal-Webhook-Signature": "00" * 64}, body, "k")[0] == 401
    assert tasks.handle_webhook(headers, body, "no-such-job")[0] == 404
    tasks.store.claim("k", "owner", 0)
    tasks.store.record("k", "r2", "submitted", None)
    code, reason = tasks.handle_webhook(headers, body, "k")  # a genuine delivery, but for another request
    assert code == 409 and "another request" in reason
    assert "delivered" not in tasks.store.get("k")
    assert tasks.handle_webhook(fal_emulator.sign_webhook(body, "r2"), body, "k")[0] == 200
    assert tasks.store.get("k")["delivered"] == "OK"
