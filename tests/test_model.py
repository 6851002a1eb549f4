"""The manifest models and ``Config``: frozen dataclasses, read and refused as pydantic did.

``Config`` reads each setting from its table in ``connector.config``; whatever pydantic (the
model ``Config`` was) accepts it accepts with the same value and type, and whatever pydantic
refuses it refuses, naming the setting. ``ActionSpec``, ``Operation`` and ``Annotations`` are
frozen dataclasses that take plain dicts for the nested models and refuse a field of the wrong
type by name. None of it imports pydantic.
"""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from connector.config import _ENV, Config, ConfigError, SecretStr, _base_url, _dirs, _key, _patterns
from connector.manifest import load_manifest
from connector.models import ActionSpec, Annotations, Operation

ROOT = Path(__file__).resolve().parent.parent

ODD: list[Any] = [
    None, True, False, 0, 1, -1, 5, 30, 1024, 10**9, 0.0, 0.5, 2.5, 30.0, -1.0, float("inf"), float("nan"),
    "", " ", "0", "1", "30", "30.5", "-1", "1e3", " 30 ", "abc", "nan", "inf", "https://q.test", "https://q.test/",
    "http://h:1/p/", "ftp://q.test", "https://q.test/?x=1", "fal-ai/*,x", " , ", "key-id:secret-123", "bad key\n",
    [], ["a"], ["a", "b "], ("x",), ["", "a"], [1], {}, {"a": 1}, {1: 2}, b"bytes", SecretStr("s3cret-key"),
    "3.0", "3.50", "+5", "1_000", "５",
]


def _reference() -> type[pydantic.BaseModel]:
    """``Config`` as the pydantic model it was (same fields, bounds and validators)."""
    from pydantic import Field

    def key(value: Any) -> Any:
        return _key(value).get_secret_value() if isinstance(value, (str, SecretStr)) else value

    def patterns(value: Any) -> Any:
        return _patterns(value) if isinstance(value, (str, list, tuple, set, frozenset)) else value

    def dirs(value: Any) -> Any:
        return _dirs(value) if isinstance(value, (str, list, tuple)) else value

    url = pydantic.AfterValidator(_base_url)
    from typing import Annotated

    return pydantic.create_model(
        "Reference",
        __config__=pydantic.ConfigDict(frozen=True, extra="forbid"),
        api_key=(Annotated[pydantic.SecretStr | None, pydantic.BeforeValidator(key)], None),
        queue_url=(Annotated[str, url], "https://queue.fal.run"),
        run_url=(Annotated[str, url], "https://fal.run"),
        api_url=(Annotated[str, url], "https://api.fal.ai/v1"),
        jwks_url=(Annotated[str, url], "https://rest.fal.ai/.well-known/jwks.json"),
        rest_url=(Annotated[str, url], "https://rest.fal.ai"),
        cdn_url=(Annotated[str, url], "https://v3.fal.media"),
        timeout=(float, Field(30.0, gt=0, le=3600)),
        max_retries=(int | None, Field(None, ge=0, le=100)),
        retry_deadline=(float, Field(60.0, gt=0, le=86400)),
        max_response_bytes=(int, Field(64 * 1024 * 1024, ge=1024)),
        upload_multipart_threshold=(int, Field(100 * 1024 * 1024, ge=1)),
        upload_part_size=(int, Field(10 * 1024 * 1024, ge=1)),
        backoff_base=(float, Field(0.5, ge=0)),
        backoff_max=(float, Field(8.0, ge=0)),
        allowed_models=(Annotated[tuple[str, ...] | None, pydantic.BeforeValidator(patterns)], None),
        max_cost_usd=(float | None, Field(None, ge=0, allow_inf_nan=False)),
        min_balance_usd=(float | None, Field(None, ge=0, allow_inf_nan=False)),
        balance_cache_seconds=(float, Field(30.0, ge=0, le=3600, allow_inf_nan=False)),
        max_tool_result_bytes=(int, Field(100_000, ge=1024)),
        download_dirs=(Annotated[tuple[str, ...] | None, pydantic.BeforeValidator(dirs)], None),
        upload_dirs=(Annotated[tuple[str, ...] | None, pydantic.BeforeValidator(dirs)], None),
    )


REFERENCE = _reference()


def test_the_reference_has_every_setting_in_order():
    assert list(REFERENCE.model_fields) == [f.name for f in dataclasses.fields(Config)]


def _plain(value: Any) -> Any:
    return SecretStr(value.get_secret_value()) if isinstance(value, pydantic.SecretStr) else value


def _compare(data: dict[str, Any]) -> str:
    """'accepted' or 'refused', alike by both; raises on a difference."""
    try:
        expected = REFERENCE.model_validate(data)
    except pydantic.ValidationError as exc:
        with pytest.raises(ConfigError) as ours:
            Config(**data)
        name = str(exc.errors()[0]["loc"][0])
        assert f" {name}" in str(ours.value), f"{data!r}: pydantic refuses {name}: {exc}; we say {ours.value}"
        return "refused"
    try:
        config = Config(**data)
    except ConfigError as exc:
        raise AssertionError(f"{data!r}: pydantic accepts it, we refuse it: {exc}") from None
    for name in REFERENCE.model_fields:
        ours, theirs = getattr(config, name), _plain(getattr(expected, name))
        assert ours == theirs and type(ours) is type(theirs), f"{data!r}: {name}: ours {ours!r}, pydantic {theirs!r}"
    return "accepted"


def test_config_reads_settings_as_pydantic_did():
    rnd = random.Random(11)
    names = [f.name for f in dataclasses.fields(Config)]
    seen = {"accepted": 0, "refused": 0}
    for _ in range(1500):
        data = {name: rnd.choice(ODD) for name in rnd.sample(names, rnd.randrange(0, 5))}
        seen[_compare(data)] += 1
    assert seen["accepted"] > 100 and seen["refused"] > 100, seen


@pytest.mark.parametrize(("env", "kwargs", "expected"), [
    ({"FAL_CONNECTOR_TIMEOUT": "abc"}, {}, "a number"),
    ({"FAL_CONNECTOR_MAX_RETRIES": "-1"}, {}, "an integer >= 0 and <= 100"),
    ({}, {"timeout": 0}, "a number > 0 and <= 3600"),
    ({}, {"queue_url": "ftp://x"}, "http:// or https:// URL"),
    ({"FAL_KEY": "has space"}, {}, "printable ASCII"),
    ({}, {"nonsense": 1}, "not a setting"),
    ({"FAL_CONNECTOR_MAX_COST_USD": "nan"}, {}, "a finite number"),
])
def test_refusals_name_the_setting_and_the_expectation(env, kwargs, expected):
    with pytest.raises(ConfigError) as ours:
        Config.load(env, **kwargs)
    values = {**({"api_key": env["FAL_KEY"]} if "FAL_KEY" in env else {}),
              **{name: env[var] for name, var in _ENV.items() if var in env}, **kwargs}
    with pytest.raises(pydantic.ValidationError) as theirs:  # pydantic refused them too
        REFERENCE.model_validate(values)
    name = str(theirs.value.errors()[0]["loc"][0])
    assert f"invalid configuration: {name}" in str(ours.value) and expected in str(ours.value)
    if name in _ENV:
        assert _ENV[name] in str(ours.value)
    assert "has space" not in str(ours.value)  # never the key


def test_instances_behave_like_pydantic_models():
    config = Config.load({"FAL_KEY": "key-id:secret-123"}, timeout=12)
    assert config.timeout == 12.0 and type(config.timeout) is float
    assert config.api_key.get_secret_value() == "key-id:secret-123" and "secret" not in repr(config.api_key)
    assert "secret" not in str(config.api_key) and "secret" not in repr(config) and "secret" not in str(config)
    dumped = config.model_dump()
    assert isinstance(dumped["api_key"], SecretStr) and dumped["timeout"] == 12.0
    as_json = json.loads(config.model_dump_json())
    assert as_json["api_key"] == "**********" and "secret-123" not in config.model_dump_json()
    assert json.loads(config.model_dump_json()) == json.loads(REFERENCE.model_validate(
        {"api_key": "key-id:secret-123", "timeout": 12}).model_dump_json())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timeout = 1
    assert config == Config.load({"FAL_KEY": "key-id:secret-123"}, timeout=12) and hash(config) == hash(config.model_copy())
    assert config.model_copy(update={"timeout": 5}).timeout == 5 and config.timeout == 12
    spec = load_manifest()[0]
    assert isinstance(spec.annotations, Annotations) and spec.annotations.model_dump()["read_only"] in (True, False)
    assert isinstance(spec.operation, Operation) or spec.operation is None
    assert ActionSpec(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}) == spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.id = "other"


def test_action_specs_take_plain_dicts_and_refuse_wrong_types_by_name():
    base = {"id": "x", "title": "X", "description": "d", "input_schema": {"type": "object"}, "output_schema": {},
            "annotations": {"read_only": True, "destructive": False, "idempotent": True}}
    spec = ActionSpec(**base, aliases=["y"], operation={"method": "GET", "host": "queue", "path": "/x"})
    assert spec.aliases == ("y",) and spec.annotations == Annotations(read_only=True, destructive=False, idempotent=True)
    assert spec.operation == Operation(method="GET", host="queue", path="/x") and spec.annotations.open_world is True
    for bad, field in [({"title": 1}, "title"), ({"input_schema": "x.json"}, "input_schema"), ({"streaming": "yes"}, "streaming"),
                       ({"annotations": {"read_only": True}}, "annotations"), ({"operation": {"method": 1, "host": "q", "path": "/"}}, "method"),
                       ({"annotations": {**base["annotations"], "extra": 1}}, "annotations"), ({"aliases": [1]}, "aliases")]:
        with pytest.raises(ValueError, match=field):
            ActionSpec(**{**base, **bad})
    with pytest.raises(TypeError, match="nonsense"):
        ActionSpec(**base, nonsense=1)


def test_a_plain_run_does_not_import_pydantic():
    code = ("import sys\nfrom connector import Connector\n"
            "env = {'FAL_KEY': 'k-123456', 'FAL_QUEUE_URL': 'http://127.0.0.1:9', 'FAL_CONNECTOR_MAX_RETRIES': '0'}\n"
            "out = Connector(environ=env).run('get_request_status', {'app_id': 'fal-ai/x', 'request_id': 'r'})\n"
            "assert out['failure']['type'] == 'connection_error', out\n"
            "print('pydantic' in sys.modules)")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr


def test_non_finite_and_bool_inputs_are_read_as_pydantic_did():
    with pytest.raises(ConfigError, match="backoff_base"):
        Config.load({}, backoff_base=float("nan"))  # nan >= 0 is false: pydantic refused it, so do we
    assert Config.load({}, max_retries=3.0).max_retries == 3
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
    assert [p.name for p in tmp_path.rglob("manifest.*.marshal")] and not list(tmp_path.rglob("*.tmp"))
    assert manifest_cache.read(source, raw + b"\n# edited\n") is None  # another text, another key
    kept = manifest_cache.read(source, raw)
    assert manifest.parse_manifest(kept["document"]) == manifest.load_manifest()
    assert manifest.parse_manifest_operations(kept["document"], bundled=kept["bundled"])[0] == manifest.load_manifest()
