"""The platform actions end to end against the emulator: request history, recovery after a lost
submit, payload deletion (with its Idempotency-Key), usage, analytics, billing, balance,
workflows, signed URLs, the balance guardrail, and the submit options."""

from __future__ import annotations

import json
import subprocess

import pytest

from connector.emulator import Emulator

ADMIN = "e2e-admin:secret"


@pytest.fixture
def scoped_emu():
    """An emulator that accepts any key but knows one admin key."""
    e = Emulator(admin_key=ADMIN).start()
    try:
        yield e
    finally:
        e.stop()


def finished_job(conn, app: str = "fal-ai/echo", data: dict | None = None) -> str:
    out = conn.run("subscribe", {"app_id": app, "data": data if data is not None else {"x": 1}, "timeout": 20})
    assert out["success"] is True, out
    return out["request_id"]


def test_history_actions_find_the_jobs_that_ran(emu, conn):
    rid = finished_job(conn, data={"prompt": "a red balloon"})
    listed = conn.run("list_requests", {"endpoint_id": "fal-ai/echo", "expand": ["payloads"]})
    assert listed["success"] is True, listed
    [item] = listed["items"]
    assert item["request_id"] == rid and item["status_code"] == 200
    assert item["json_output"] == {"echo": {"prompt": "a red balloon"}}
    found = conn.run("search_requests", {"query": "red balloon"})
    assert [r["request_id"] for r in found["results"]] == [rid]


def test_list_requests_pages_through_every_job(emu, conn):
    ids = [conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"n": n}})["request_id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = conn.run("list_requests", {"endpoint_id": "fal-ai/echo", "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page["success"] is True and len(page["items"]) <= 2
        seen += [i["request_id"] for i in page["items"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(ids)


def test_a_dropped_submit_is_found_with_list_requests_and_resumed(emu, conn):
    emu.faults.add("submit", action="drop_after")  # fal queued the job, the answer never arrived
    lost = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"lost": True}})
    assert lost["success"] is False and lost["failure"]["type"] == "outcome_unknown", lost
    assert len(emu.jobs) == 1  # the job exists, and was not submitted twice
    find = lost["failure"]["detail"]["find_job"]
    assert find["action"] == "list_requests" and "list_requests" in lost["error"]
    listed = conn.run(find["action"], find["input"])
    assert [i["request_id"] for i in listed["items"]] == [emu.jobs[0].request_id]
    resumed = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": {}, "request_id": listed["items"][0]["request_id"],
                                     "timeout": 20})
    assert resumed["success"] is True and resumed["data"] == {"echo": {"lost": True}}
    assert len(emu.jobs) == 1  # following it submitted nothing


def test_deleting_payloads_retries_with_the_same_idempotency_key(scoped_emu, make_conn):
    conn = make_conn(scoped_emu, api_key=ADMIN)
    rid = finished_job(conn, "fal-ai/flux/schnell", {"prompt": "p", "num_images": 2})
    scoped_emu.faults.add("payloads", action="drop_after")  # deleted, then the answer was lost
    out = conn.run("delete_request_payloads", {"request_id": rid})
    assert out["success"] is True, out
    assert len(out["cdn_delete_results"]) == 2  # the first answer, replayed for the same key
    keys = [d["idempotency_key"] for d in scoped_emu.history.deletions]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    again = conn.run("delete_request_payloads", {"request_id": rid})  # a new call: a new key
    assert again["cdn_delete_results"] == [] and scoped_emu.history.deletions[-1]["idempotency_key"] != keys[0]


def test_admin_actions_refuse_an_ordinary_key(scoped_emu, make_conn):
    ordinary = make_conn(scoped_emu, api_key="someone:else")
    for action_id, inputs in (("get_usage", {}), ("get_billing_events", {}), ("get_balance", {}),
                              ("delete_request_payloads", {"request_id": "x"})):
        out = ordinary.run(action_id, inputs)
        assert out["failure"]["type"] == "auth_error" and out["failure"]["status_code"] == 403, (action_id, out)
        assert "admin key" in out["error"]


def test_usage_billing_analytics_and_balance(emu, conn):
    emu.set_balance(10.0)
    finished_job(conn, "fal-ai/fast-sdxl", {"prompt": "p", "num_images": 2})
    usage = conn.run("get_usage", {"expand": ["summary"]})
    assert usage["summary"][0]["quantity"] == 2 and usage["summary"][0]["cost"] == pytest.approx(0.005)
    events = conn.run("get_billing_events", {})
    assert len(events["billing_events"]) == 1
    analytics = conn.run("get_analytics", {"endpoint_id": "fal-ai/fast-sdxl", "expand": ["summary", "request_count"]})
    assert analytics["summary"][0]["request_count"] == 1
    balance = conn.run("get_balance", {})
    assert balance["current_balance"] == pytest.approx(9.995) and balance["currency"] == "USD"


def test_workflows_and_signed_urls(emu, conn):
    listed = conn.run("list_workflows", {})
    wf = listed["workflows"][0]
    got = conn.run("get_workflow", {"username": wf["user_nickname"], "workflow_name": wf["name"]})
    assert got["input_schema"]["prompt"]["type"] == "string"
    missing = conn.run("get_workflow", {"username": "fal-ai", "workflow_name": "nope"})
    assert missing["failure"]["type"] == "not_found"
    uploaded = conn.run("upload_file", {"data_base64": "aGVsbG8=", "file_name": "hello.txt"})
    signed = conn.run("sign_file_url", {"url": uploaded["url"], "expiration_seconds": 60})
    assert signed["success"] is True and signed["signed_url"].startswith(uploaded["url"] + "?")


def test_the_balance_guardrail_refuses_billable_calls_below_the_floor(emu, make_conn):
    conn = make_conn(min_balance_usd=5.0, balance_cache_seconds=0)
    emu.set_balance(4.0)
    out = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["detail"]["rule"] == "min_balance_usd"
    assert out["failure"]["detail"]["balance_usd"] == 4.0 and emu.jobs == []
    emu.set_balance(6.0)
    assert conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})["success"] is True
    assert conn.run("get_models", {})["success"] is True  # not billable: never checked


def test_the_balance_is_cached_for_a_short_time(emu, make_conn):
    conn = make_conn(min_balance_usd=1.0, balance_cache_seconds=60)
    for _ in range(3):
        assert conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})["success"] is True
    reads = [line for line in emu.requests_log if "/v1/account/billing" in line[1]]
    assert len(reads) == 1


def test_submit_options_become_headers(emu, conn):
    out = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}, "no_retry": True, "store_io": False,
                                            "object_lifecycle": {"expiration_duration_seconds": 3600,
                                                                 "initial_acl": {"default": "forbid"}}})
    headers = emu.job(out["request_id"]).headers
    assert headers["X-Fal-No-Retry"] == "1" and headers["X-Fal-Store-IO"] == "0"
    assert json.loads(headers["X-Fal-Object-Lifecycle-Preference"]) == {
        "expiration_duration_seconds": 3600, "initial_acl": {"default": "forbid"}}
    plain = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})
    assert not {"X-Fal-No-Retry", "X-Fal-Store-IO", "X-Fal-Object-Lifecycle-Preference"} & set(emu.job(plain["request_id"]).headers)


def test_upload_lifecycle_reaches_the_storage(emu, conn):
    out = conn.run("upload_file", {"data_base64": "aGk=", "file_name": "hi.txt",
                                   "object_lifecycle": {"expiration_duration_seconds": 60}})
    assert out["success"] is True, out
    assert emu._storage.lifecycles[out["url"]] == {"expiration_duration_seconds": 60}


def test_the_new_actions_run_from_the_cli(emu, cli_env, python):
    finished = subprocess.run([*python, "run", "add_request_to_queue", "--input",
                               json.dumps({"app_id": "fal-ai/echo", "data": {}})],
                              env=cli_env(emu), capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 0, finished.stderr
    for action_id, inputs in (("list_requests", {"endpoint_id": "fal-ai/echo"}), ("get_balance", {}),
                              ("list_workflows", {})):
        proc = subprocess.run([*python, "run", action_id, "--input", json.dumps(inputs)], env=cli_env(emu),
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["success"] is True
