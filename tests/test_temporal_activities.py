"""The Temporal activities run in temporalio's ActivityEnvironment (no server) against the emulator:
outputs and typed failures, the once-only guard of billable actions, fal_job's submit, resume
and polling, the workflow's option checks and the receiver's refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("temporalio")

from temporalio.activity import _CompleteAsyncError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from connector.integrations.temporal import FalActivities, action_activities, complete_from_webhook
from connector.integrations.temporal.activities import NOT_SENT
from connector.integrations.temporal.workflow import split_options
from connector.testing import connector_for

ECHO = "fal-ai/echo"


def env_for(attempt: int = 1, details: tuple[Any, ...] = ()) -> tuple[ActivityEnvironment, list[Any]]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=list(details), workflow_id="wf-1",
                                   workflow_run_id="run-1", activity_id="act-1")
    beats: list[Any] = []
    env.on_heartbeat = lambda *d: beats.extend(d)
    return env, beats


def run(env: ActivityEnvironment, fn: Any, arg: Any) -> Any:
    return asyncio.run(env.run(fn, arg))


def by_name(conn: Any) -> dict[str, Any]:
    return {fn.__temporal_activity_definition.name: fn for fn in action_activities(conn)}


def test_one_activity_per_action_named_after_it(fal_connector):
    names = set(by_name(fal_connector))
    assert names == {"fal." + spec["id"] for spec in fal_connector.actions()}
    assert {"fal.add_request_to_queue", "fal.get_request_status", "fal.cancel_request"} <= names


def test_success_returns_the_whole_output(fal_connector):
    env, _ = env_for()
    out = run(env, by_name(fal_connector)["fal.get_models"], {"limit": 2})
    assert out["success"] is True and out["failure"] is None and len(out["models"]) == 2


@pytest.mark.parametrize("inputs, kind, retryable", [
    ({"app_id": ECHO, "request_id": "no-such-job"}, "not_found", False),
    ({"app_id": ECHO}, "invalid_input", False),
])
def test_failure_is_an_application_error_carrying_the_output(fal_connector, inputs, kind, retryable):
    env, _ = env_for()
    with pytest.raises(ApplicationError) as caught:
        run(env, by_name(fal_connector)["fal.get_request_status"], inputs)
    err = caught.value
    assert err.type == kind and err.non_retryable is (not retryable)
    output = err.details[0]
    assert output["success"] is False and output["failure"]["type"] == kind and output["error"] == err.message


def test_retryable_failure_is_retryable(fal_emulator):
    fal_emulator.faults.add("status", status=503, times=100)
    env, _ = env_for()
    with pytest.raises(ApplicationError) as caught:  # the connector's own retries off: Temporal's do it
        run(env, by_name(connector_for(fal_emulator, max_retries=0))["fal.get_request_status"], {"app_id": ECHO, "request_id": "abc"})
    assert caught.value.type == "server_error" and caught.value.non_retryable is False


def test_billable_retry_refused_unless_the_last_attempt_sent_nothing(fal_emulator, fal_connector):
    submit = by_name(fal_connector)["fal.add_request_to_queue"]
    job = {"app_id": ECHO, "data": {"x": 1}}
    for details in [(), ({"fal_phase": "sending"},)]:
        env, _ = env_for(attempt=2, details=details)
        with pytest.raises(ApplicationError) as caught:
            run(env, submit, job)
        assert caught.value.type == "outcome_unknown" and caught.value.non_retryable is True
    assert fal_emulator.jobs == []  # nothing was sent
    env, _ = env_for(attempt=2, details=(NOT_SENT,))
    assert run(env, submit, job)["success"] is True
    assert len(fal_emulator.jobs) == 1


def test_billable_failure_that_sent_nothing_records_it_and_stays_retryable(fal_emulator):
    fal_emulator.faults.add("submit", status=429, times=100)
    env, beats = env_for()
    with pytest.raises(ApplicationError) as caught:
        run(env, by_name(connector_for(fal_emulator, max_retries=0))["fal.add_request_to_queue"], {"app_id": ECHO, "data": {}})
    assert caught.value.type == "rate_limited" and caught.value.non_retryable is False
    assert beats == [NOT_SENT]


def test_billable_failure_of_unknown_outcome_is_never_retried(fal_emulator, fal_connector):
    fal_emulator.faults.add("submit", action="drop_after")  # enqueued, answer lost
    env, beats = env_for()
    with pytest.raises(ApplicationError) as caught:
        run(env, by_name(fal_connector)["fal.add_request_to_queue"], {"app_id": ECHO, "data": {}})
    assert caught.value.type == "outcome_unknown" and caught.value.non_retryable is True
    assert beats == []  # no "nothing sent" mark: a retry would refuse


def test_fal_job_polls_to_the_result_without_a_webhook(fal_emulator, fal_connector):
    acts = FalActivities(fal_connector, poll_interval=0.05)
    env, beats = env_for()
    done = run(env, acts.fal_job, {"app_id": ECHO, "data": {"x": 1}})
    assert done["data"] == {"echo": {"x": 1}} and done["status"] == "COMPLETED"
    assert beats and all(b["request_id"] == done["request_id"] for b in beats) and beats[-1]["status"] == "COMPLETED"


def test_fal_job_with_a_webhook_submits_then_completes_async(fal_emulator, fal_connector):
    acts = FalActivities(fal_connector, webhook_url="http://127.0.0.1:9/hooks?team=a")
    env, beats = env_for()
    with pytest.raises(_CompleteAsyncError):
        run(env, acts.fal_job, {"app_id": ECHO, "data": {"x": 1}})
    (job,) = fal_emulator.jobs
    assert beats == [{"request_id": job.request_id, "app_id": ECHO, "status": "IN_QUEUE"}]
    query = parse_qs(urlsplit(job.webhook_url).query)
    assert query == {"team": ["a"], "workflow_id": ["wf-1"], "run_id": ["run-1"], "activity_id": ["act-1"]}


def test_fal_job_retry_resumes_the_same_request_and_never_resubmits(fal_emulator, fal_connector):
    first = fal_connector.run("add_request_to_queue", {"app_id": ECHO, "data": {"x": 2}})
    acts = FalActivities(fal_connector, webhook_url="http://127.0.0.1:9/hooks", poll_interval=0.05)
    env, _ = env_for(attempt=2, details=({"request_id": first["request_id"], "app_id": ECHO, "status": "IN_QUEUE"},))
    done = run(env, acts.fal_job, {"app_id": ECHO, "data": {"x": 2}})
    assert done == {"request_id": first["request_id"], "status": "COMPLETED", "data": {"echo": {"x": 2}}}
    assert len(fal_emulator.jobs) == 1


def test_fal_job_retry_without_a_request_id_is_outcome_unknown(fal_emulator, fal_connector):
    env, _ = env_for(attempt=2)
    with pytest.raises(ApplicationError) as caught:
        run(env, FalActivities(fal_connector).fal_job, {"app_id": ECHO, "data": {}})
    assert caught.value.type == "outcome_unknown" and fal_emulator.jobs == []


def test_fal_job_model_failure_is_a_typed_non_retryable_error(fal_connector):
    env, _ = env_for()
    with pytest.raises(ApplicationError) as caught:
        run(env, FalActivities(fal_connector, poll_interval=0.05).fal_job, {"app_id": "fal-ai/always-fails", "data": {}})
    err = caught.value
    assert err.type == "model_error" and err.non_retryable is True
    assert "Invalid status code: 422" in err.message and err.details[0]["failure"]["job_error_type"] == "validation_error"


def test_poll_interval_must_be_positive(fal_connector):
    with pytest.raises(ValueError, match="poll_interval"):
        FalActivities(fal_connector, poll_interval=0)


@pytest.mark.parametrize("field, value", [("timeout", 0), ("webhook_wait", "10"), ("heartbeat_timeout", True)])
def test_workflow_options_are_checked_naming_the_field(field, value):
    with pytest.raises(ApplicationError) as caught:
        split_options({"app_id": ECHO, "data": {}, field: value})
    assert caught.value.message == f"{field}: expected a number of seconds > 0, got {value!r}"
    assert caught.value.type == "invalid_input" and caught.value.non_retryable is True


def test_workflow_options_are_split_from_the_submit_input():
    submit, options = split_options({"app_id": ECHO, "data": {}, "priority": "low", "timeout": 5})
    assert submit == {"app_id": ECHO, "data": {}, "priority": "low"}
    assert options == {"timeout": 5.0, "webhook_wait": 600.0, "heartbeat_timeout": None}


def test_receiver_refuses_a_url_without_target_and_a_bad_signature(fal_emulator):
    body = json.dumps({"request_id": "r1", "status": "OK", "payload": {}}).encode()
    headers = fal_emulator.sign_webhook(body, "r1")
    status, answer = asyncio.run(complete_from_webhook(None, headers, body, "workflow_id=wf"))  # type: ignore[arg-type]
    assert status == 400 and "activity_id" in answer["error"]
    forged = {**headers, "X-Fal-Webhook-Signature": "00" * 64}
    status, answer = asyncio.run(complete_from_webhook(None, forged, body, "workflow_id=wf&activity_id=1",  # type: ignore[arg-type]
                                                       jwks=fal_emulator.jwks()))
    assert status == 401 and answer["error"].startswith("signature invalid")


def call_app(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body[i:i + 4], "more_body": i + 4 < len(body)} for i in range(0, len(body), 4)] or \
        [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_receiver_app_answers_wrong_path_method_and_oversized_body():
    from connector.integrations.temporal import webhook_app

    app = webhook_app(None, path="/hooks", max_body_bytes=10)  # type: ignore[arg-type]
    assert call_app(app, "POST", "/elsewhere")[0] == 404
    assert call_app(app, "GET", "/hooks")[0] == 405
    status, answer = call_app(app, "POST", "/hooks", b"x" * 11)
    assert status == 413 and "10 bytes" in answer["error"]
    status, answer = call_app(app, "POST", "/hooks", b"{}")  # no target in the query: refused before anything
    assert status == 400
