"""connector.record: the internal value classes behave as the dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle

import pytest

from connector.fal.app_id import AppId, parse_app_id
from connector.fal.follow import JobProgress
from connector.http.retry import RetryPolicy, Verdict
from connector.http.transport import Request
from connector.operation import Operation, Outcome, Value


def test_frozen_records_compare_hash_and_show_by_value() -> None:
    assert Verdict("timeout", False, True) == Verdict("timeout", False, True)
    assert Verdict("timeout", False, True) != Verdict("timeout", True, True)
    assert Verdict("timeout", False, True) != ("timeout", False, True)  # not a tuple
    assert len({Value("a"), Value("a"), Value("b")}) == 2
    assert repr(AppId("fal-ai", "flux", ("dev",))) == "AppId(owner='fal-ai', app='flux', path=('dev',), namespace=None)"
    assert parse_app_id("fal-ai/flux/dev") == AppId("fal-ai", "flux", ("dev",))
    assert RetryPolicy("read", 5, 60) == RetryPolicy("read", 5, 60, backoff_base=0.5, backoff_max=8.0)


def test_frozen_records_refuse_changes() -> None:
    policy = RetryPolicy("read", 5, 60)
    with pytest.raises(AttributeError, match="max_retries"):
        policy.max_retries = 1  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del policy.deadline
    with pytest.raises(AttributeError):
        policy.other = 1  # type: ignore[attr-defined]  # no __dict__ either
    assert policy.max_retries == 5


def test_records_copy_and_pickle_by_their_fields() -> None:
    operation = Operation("a", "GET", "queue", "/x", query=(Value("q", "q"),), outcomes=(Outcome(400, 400, failure="not_found"),))
    for twin in (copy.copy(operation), copy.deepcopy(operation), pickle.loads(pickle.dumps(operation))):
        assert twin == operation and twin is not operation
        assert twin.query == (Value("q", "q"),) and twin.outcomes[0].failure == "not_found"


def test_mutable_records_are_edited_in_place_and_unhashable() -> None:
    request = Request("GET", "https://x/y")
    assert request.headers == {} and request.headers is not Request("GET", "https://x/y").headers
    request.headers["X-A"] = "1"
    request.url = "https://x/z"
    assert request == Request("GET", "https://x/z", headers={"X-A": "1"})
    with pytest.raises(TypeError):
        hash(request)
    progress = JobProgress()
    assert progress.events == [] and progress.events is not JobProgress().events
    assert copy.deepcopy(progress) == progress
