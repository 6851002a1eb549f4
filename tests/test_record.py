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
    request.verify = False  # type: ignore[attr-defined]  # a plugin's own attribute, kept as on the dataclass (ignored by the transport)
    assert request.verify is False and request == Request("GET", "https://x/z", headers={"X-A": "1"})  # type: ignore[attr-defined]
    progress = JobProgress()
    assert progress.events == [] and progress.events is not JobProgress().events
    assert copy.deepcopy(progress) == progress


def _twins(frozen: bool) -> tuple[type, type]:
    """The same fields as a plain dataclass and as one with DataclassMethods."""
    from dataclasses import dataclass, field

    from connector.record import DataclassMethods

    def body() -> dict[str, object]:
        return {"__annotations__": {"a": "int", "b": "object", "hidden": "int", "ignored": "int"},
                "b": None, "hidden": field(default=0, repr=False), "ignored": field(default=0, compare=False)}

    plain = dataclass(frozen=frozen)(type("Twin", (), body()))
    extra = {} if frozen else {"__hash__": None}
    lean = dataclass(frozen=frozen, eq=False, repr=False)(type("Twin", (DataclassMethods,), {**body(), **extra}))
    return plain, lean


@pytest.mark.parametrize("frozen", [True, False])
def test_dataclass_methods_answer_as_generated_ones(frozen: bool) -> None:
    plain, lean = _twins(frozen)
    cases = [((1,), (1,)), ((1, 2), (1, 3)), ((1, [1]), (1, [1])), ((1, None, 5), (1, None, 6)), ((1, None, 0, 7), (1, None, 0, 8))]
    for left, right in cases:
        assert (lean(*left) == lean(*right)) == (plain(*left) == plain(*right))
        assert repr(lean(*left)) == repr(plain(*left))
        assert lean(*left) != plain(*left)  # another class is never equal, as with dataclasses
        hashable = frozen and not isinstance(left[1:2] and left[1], list)
        if hashable:
            assert (hash(lean(*left)) == hash(lean(*right))) == (hash(plain(*left)) == hash(plain(*right)))
        else:
            with pytest.raises(TypeError):
                hash(lean(*left))
    node, twin = lean(1), plain(1)
    object.__setattr__(node, "b", node)
    object.__setattr__(twin, "b", twin)
    assert repr(node) == repr(twin) == "Twin(a=1, b=..., ignored=0)"  # a field holding its own instance


def test_manifest_models_and_config_keep_dataclass_equality_and_repr() -> None:
    import dataclasses

    from connector.config import Config
    from connector.manifest import load_manifest

    spec = load_manifest()[1]
    assert spec == dataclasses.replace(spec) and spec != load_manifest()[0]
    assert repr(spec.annotations) == "Annotations(read_only=True, destructive=False, idempotent=True, open_world=True)"
    assert hash(spec.annotations) == hash(dataclasses.replace(spec.annotations))
    assert Config.load({}) == Config.load({}) and Config.load({}) != Config.load({}, timeout=5)
    assert hash(Config.load({})) == hash(Config.load({}))
    for value in (spec, spec.annotations, spec.operation, Config.load({})):
        assert_frozen_like_a_frozen_dataclass(value)


def assert_frozen_like_a_frozen_dataclass(value: object) -> None:
    import dataclasses

    name = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    before = getattr(value, name)
    for change in (lambda: setattr(value, name, before), lambda: delattr(value, name), lambda: setattr(value, "extra", 1)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            change()
    assert getattr(value, name) is before and not hasattr(value, "extra")


def test_frozen_dataclass_refuses_what_a_frozen_dataclass_refuses() -> None:
    import dataclasses

    from connector.record import FrozenDataclass

    @dataclasses.dataclass(eq=False, repr=False)
    class Lean(FrozenDataclass):
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Plain:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    for value in (Lean(1), Plain(1)):
        assert_frozen_like_a_frozen_dataclass(value)
    lean = Lean(1, [2])
    assert (lean.a, lean.b) == (1, [2]) and dataclasses.replace(lean, a=3).a == 3 and lean == Lean(1, [2])
    assert dataclasses.asdict(lean) == dataclasses.asdict(Plain(1, [2]))
