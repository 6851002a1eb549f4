"""connector._model: the pydantic-free models validate exactly as pydantic would.

``Config``, ``ActionSpec``, ``Operation`` and ``Annotations`` keep their pydantic-style
declarations but validate plain input on a fast path without importing pydantic. Whatever the
fast path accepts must come out exactly as the equivalent pydantic model (built from the same
declarations) makes it; everything else goes to that pydantic model, so refusals and their
messages are pydantic's own.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector._model import SecretStr, ValidationError, _Fallback
from connector.config import Config, ConfigError
from connector.manifest import load_manifest
from connector.models import ActionSpec, Annotations, Operation

ROOT = Path(__file__).resolve().parent.parent

ODD: list[Any] = [
    None, True, False, 0, 1, -1, 5, 30, 1024, 10**9, 0.0, 0.5, 2.5, 30.0, -1.0, float("inf"), float("nan"),
    "", " ", "0", "1", "30", "30.5", "-1", "1e3", " 30 ", "abc", "nan", "inf", "https://q.test", "https://q.test/",
    "http://h:1/p/", "ftp://q.test", "https://q.test/?x=1", "fal-ai/*,x", " , ", "key-id:secret-123", "bad key\n",
    [], ["a"], ["a", "b "], ("x",), ["", "a"], [1], {}, {"a": 1}, {1: 2}, b"bytes", SecretStr("s3cret-key"),
]


def _compare(model: Any, data: dict[str, Any]) -> str:
    """'fast' (fast path taken and equal to pydantic), 'fallback', or raises on a mismatch."""
    model._resolve()
    try:
        fast = model._fast(data)
    except _Fallback:
        return "fallback"
    try:
        reference = model._from_twin(data).__dict__
    except ValidationError as exc:
        raise AssertionError(f"{model.__name__}: the fast path accepted {data!r}, pydantic refuses it: {exc}") from None
    assert fast == reference, f"{model.__name__}: {data!r}: fast {fast!r} != pydantic {reference!r}"
    for name, value in fast.items():  # same types too (3 and 3.0 compare equal)
        assert type(value) is type(reference[name]), (name, value, reference[name])
    return "fast"


def test_config_fast_path_agrees_with_pydantic():
    rnd = random.Random(11)
    names = list(Config.model_fields)
    seen = {"fast": 0, "fallback": 0}
    for _ in range(1500):
        data = {name: rnd.choice(ODD) for name in rnd.sample(names, rnd.randrange(0, 5))}
        seen[_compare(Config, data)] += 1
    assert seen["fast"] > 100 and seen["fallback"] > 100, seen


def test_action_spec_fast_path_agrees_with_pydantic():
    rnd = random.Random(5)
    base = {"id": "x", "title": "X", "description": "d", "input_schema": {"type": "object"}, "output_schema": {},
            "annotations": {"read_only": True, "destructive": False, "idempotent": True}}
    seen = {"fast": 0, "fallback": 0}
    for spec in load_manifest():
        seen[_compare(ActionSpec, spec.model_dump())] += 1
    fields = list(ActionSpec.model_fields) + ["operation", "annotations"]
    for _ in range(1200):
        data = dict(base)
        for name in rnd.sample(fields, rnd.randrange(0, 3)):
            choice = rnd.random()
            if name == "operation" and choice < 0.5:
                data[name] = {"method": rnd.choice(["GET", 1]), "host": "queue", "path": rnd.choice(["/x", None])}
            elif name == "annotations" and choice < 0.5:
                data[name] = {**base["annotations"], rnd.choice(["open_world", "read_only", "extra"]): rnd.choice(ODD)}
            elif choice < 0.8:
                data[name] = rnd.choice(ODD)
            else:
                data.pop(name, None)
        seen[_compare(ActionSpec, data)] += 1
    assert seen["fast"] > 100 and seen["fallback"] > 100, seen


@pytest.mark.parametrize(("env", "kwargs"), [
    ({"FAL_CONNECTOR_TIMEOUT": "abc"}, {}),
    ({"FAL_CONNECTOR_MAX_RETRIES": "-1"}, {}),
    ({}, {"timeout": 0}),
    ({}, {"queue_url": "ftp://x"}),
    ({"FAL_KEY": "has space"}, {}),
    ({}, {"nonsense": 1}),
    ({"FAL_CONNECTOR_MAX_COST_USD": "nan"}, {}),
])
def test_refusals_are_pydantics(env, kwargs):
    import pydantic

    with pytest.raises(ConfigError) as ours:
        Config.load(env, **kwargs)
    twin = Config._twin()
    values = {**({"api_key": env["FAL_KEY"]} if "FAL_KEY" in env else {}),
              **{name: env[var] for name, var in __import__("connector.config").config._ENV.items() if var in env}, **kwargs}
    with pytest.raises(pydantic.ValidationError) as theirs:
        twin.model_validate(values)
    assert theirs.value.errors()[0]["msg"] in str(ours.value)


def test_instances_behave_like_pydantic_models():
    config = Config.load({"FAL_KEY": "key-id:secret-123"}, timeout=12)
    assert config.timeout == 12.0 and type(config.timeout) is float
    assert config.api_key.get_secret_value() == "key-id:secret-123" and "secret" not in repr(config.api_key)
    dumped = config.model_dump()
    assert isinstance(dumped["api_key"], SecretStr) and dumped["timeout"] == 12.0
    as_json = json.loads(config.model_dump_json())
    assert as_json["api_key"] == "**********" and "secret-123" not in config.model_dump_json()
    assert json.loads(config.model_dump_json()) == json.loads(Config._twin().model_validate(
        {"api_key": "key-id:secret-123", "timeout": 12}).model_dump_json())
    with pytest.raises(ValidationError, match="frozen"):
        config.timeout = 1
    assert config == Config.load({"FAL_KEY": "key-id:secret-123"}, timeout=12) and hash(config) == hash(config.model_copy())
    assert config.model_copy(update={"timeout": 5}).timeout == 5 and config.timeout == 12
    spec = load_manifest()[0]
    assert isinstance(spec.annotations, Annotations) and spec.annotations.model_dump()["read_only"] in (True, False)
    assert isinstance(spec.operation, Operation) or spec.operation is None
    assert ActionSpec.model_validate(spec.model_dump()) == spec


def test_a_plain_run_does_not_import_pydantic():
    code = ("import sys\nfrom connector import Connector\n"
            "env = {'FAL_KEY': 'k-123456', 'FAL_QUEUE_URL': 'http://127.0.0.1:9', 'FAL_CONNECTOR_MAX_RETRIES': '0'}\n"
            "out = Connector(environ=env).run('get_request_status', {'app_id': 'fal-ai/x', 'request_id': 'r'})\n"
            "assert out['failure']['type'] == 'connection_error', out\n"
            "print('pydantic' in sys.modules)")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr


def test_non_finite_and_bool_inputs_take_pydantics_path():
    with pytest.raises(ConfigError, match="backoff_base"):
        Config.load({}, backoff_base=float("nan"))  # nan >= 0 is false: pydantic refuses it, so do we
    assert Config.load({}, max_retries=3.0).max_retries == 3  # pydantic's coercion, through pydantic
    assert Config.load({}, backoff_max=True).backoff_max == 1.0


def test_the_parsed_manifest_is_cached_like_bytecode(monkeypatch, tmp_path):
    from connector import manifest, manifest_cache

    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    source = manifest._package_file("manifest.yaml")
    raw = source.read_bytes()
    document = manifest._parse_yaml(raw.decode("utf-8"))
    bundled = {spec.id: {"input_schema": spec.input_schema, "output_schema": spec.output_schema} for spec in manifest.load_manifest()}
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    manifest_cache.write(source, raw, document, bundled)
    assert manifest_cache.read(source, raw) is None  # where Python writes no bytecode, neither do we
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    manifest_cache.write(source, raw, document, bundled)
    assert manifest_cache.read(source, raw) == {"document": document, "bundled": bundled}
    assert [p.name for p in tmp_path.rglob("manifest.*.json")] and not list(tmp_path.rglob("*.tmp"))
    assert manifest_cache.read(source, raw + b"\n# edited\n") is None  # another text, another key
    kept = manifest_cache.read(source, raw)
    assert manifest.parse_manifest(kept["document"]) == manifest.load_manifest()
    assert manifest.parse_manifest_operations(kept["document"], bundled=kept["bundled"])[0] == manifest.load_manifest()
