"""The balance guardrail (min_balance_usd), with ``responses``: refused below the floor, one
balance read per cache period, refused when the balance cannot be read, never on free actions."""

from __future__ import annotations

import pytest

BILLING = "https://api.test/v1/account/billing"
SUBMIT = "https://queue.test/fal-ai/flux/dev"
SUBMIT_ANSWER = {"request_id": "80e732af-660e-45cd-bd63-580e4f2a94cc", "status": "IN_QUEUE"}


def balance(usd, currency="USD"):
    return {"username": "me", "credits": {"current_balance": usd, "currency": currency}}


def submit(conn):
    return conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}})


def test_below_the_floor_nothing_is_sent(make_conn, mocked, check_output):
    conn = make_conn(min_balance_usd=5)
    mocked.get(BILLING, json=balance(4.99))
    out = submit(conn)
    check_output(conn, "add_request_to_queue", out)
    assert out["failure"]["type"] == "policy_denied" and out["failure"]["attempts"] == 0
    assert out["failure"]["detail"] == {"rule": "min_balance_usd", "min_balance_usd": 5, "balance_usd": 4.99}
    assert "4.99 USD" in out["error"] and "FAL_CONNECTOR_MIN_BALANCE_USD" in out["error"]
    assert [c.request.url.split("?")[0] for c in mocked.calls] == [BILLING]


@pytest.mark.parametrize("usd", [5, 5.0, "12.5"])
def test_at_or_above_the_floor_the_call_goes_out(make_conn, mocked, usd):
    conn = make_conn(min_balance_usd=5)
    mocked.get(BILLING, json=balance(usd))
    mocked.post(SUBMIT, json=SUBMIT_ANSWER)
    assert submit(conn)["success"] is True


def test_the_balance_is_read_once_per_cache_period(make_conn, mocked):
    conn = make_conn(min_balance_usd=1, balance_cache_seconds=60)
    mocked.get(BILLING, json=balance(10))
    mocked.post(SUBMIT, json=SUBMIT_ANSWER)
    for _ in range(3):
        assert submit(conn)["success"] is True
    assert sum(c.request.url.startswith(BILLING) for c in mocked.calls) == 1
    uncached = make_conn(min_balance_usd=1, balance_cache_seconds=0)
    submit(uncached)
    submit(uncached)
    assert sum(c.request.url.startswith(BILLING) for c in mocked.calls) == 3


@pytest.mark.parametrize(("answer", "why"), [
    ({"status": 403, "json": {"error": {"type": "authorization_error", "message": "Access denied"}}}, "auth_error"),
    ({"json": balance(3, "EUR")}, "not an amount in USD"),
    ({"json": balance("plenty")}, "not an amount in USD"),
])
def test_an_unreadable_balance_refuses_the_call(make_conn, mocked, answer, why):
    conn = make_conn(min_balance_usd=1)
    mocked.get(BILLING, **answer)
    out = submit(conn)
    assert out["failure"]["type"] == "policy_denied" and why in out["error"]
    assert not any(c.request.method == "POST" for c in mocked.calls)


def test_free_actions_never_read_the_balance(make_conn, mocked):
    conn = make_conn(min_balance_usd=1000)
    mocked.get("https://api.test/v1/models", json={"models": [], "has_more": False})
    assert conn.run("get_models", {})["success"] is True
    assert [c.request.url.split("?")[0] for c in mocked.calls] == ["https://api.test/v1/models"]


def test_other_rules_refuse_first_without_a_balance_read(make_conn, mocked):
    conn = make_conn(min_balance_usd=1, allowed_models=["fal-ai/echo"])
    out = submit(conn)
    assert out["failure"]["detail"]["rule"] == "allowed_models" and not mocked.calls


def test_the_setting_is_validated(make_conn):
    from connector.config import ConfigError

    with pytest.raises(ConfigError, match="min_balance_usd"):
        make_conn(min_balance_usd=-1)
    with pytest.raises(ConfigError, match="balance_cache_seconds"):
        make_conn(balance_cache_seconds=-5)


class _Asks:
    """A context whose guardrail reads get ``answer`` (as a plugin's replacement action could give)."""

    def __init__(self, answer):
        self.answer, self.plugin_manager = answer, type("PM", (), {})()
        self.config = type("C", (), {"balance_cache_seconds": 0})()

    def run_action(self, action_id, inputs):
        return {"success": True, **self.answer}


@pytest.mark.parametrize(("value", "currency"), [(float("nan"), "USD"), (float("inf"), None), (True, "USD"), ("lots", "USD"), (3, "EUR")])
def test_both_money_guards_refuse_an_answer_that_is_not_an_amount_in_usd(value, currency):
    from connector.default_plugins import balance_guard, guardrails
    from connector.errors import ActionError

    action = type("A", (), {"id": "subscribe"})()
    with pytest.raises(ActionError, match="not an amount in USD") as estimate:
        guardrails._estimate(action, "fal-ai/flux/dev", 1.0, _Asks({"total_cost": value, "currency": currency}))
    with pytest.raises(ActionError, match="not an amount in USD") as balance:
        balance_guard._balance(action, 1.0, _Asks({"current_balance": value, "currency": currency}))
    assert estimate.value.type == balance.value.type == "policy_denied" and not estimate.value.retryable
    assert estimate.value.detail["estimate_usd"] is None and balance.value.detail["balance_usd"] is None
