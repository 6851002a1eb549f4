"""Helpers shared across the test folders (a uniquely named module, not a conftest, so its
imports never collide with another conftest.py)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

# The checkout: a subprocess imports the connector from here, as the test process does.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The fake fal hosts unit tests mock with ``responses`` (nothing listens there).
FAKE_KEY = "test-key-id:test-key-secret-123456"

BASE_URLS = {
    "queue_url": "https://queue.test",
    "run_url": "https://run.test",
    "api_url": "https://api.test/v1",
    "jwks_url": "https://rest.test/.well-known/jwks.json",
    "rest_url": "https://rest.test",
    "cdn_url": "https://cdn.test",
}

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
# One valid input per built-in action (the fuzz and hostile-value tests start from these).
VALID_INPUTS: dict[str, dict[str, Any]] = {
    "add_request_to_queue": {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}},
    "get_request_status": {"app_id": "fal-ai/flux/dev", "request_id": RID},
    "stream_request_status": {"app_id": "fal-ai/flux/dev", "request_id": RID, "timeout": 2},
    "get_request_response": {"app_id": "fal-ai/flux/dev", "request_id": RID},
    "cancel_request": {"app_id": "fal-ai/flux/dev", "request_id": RID},
    "get_models": {"q": "flux"},
    "get_pricing": {"endpoint_id": "fal-ai/flux/dev"},
    "estimate_pricing": {"estimate_type": "historical_api_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 1}}},
    "get_jwks": {},
    "verify_webhook": {"headers": {"X-Fal-Webhook-Request-Id": RID}, "body": "{}", "jwks": {"keys": []}},
    "subscribe": {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}, "timeout": 2},
    "run_model": {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}, "timeout": 2},
    "upload_file": {"data_base64": "aGVsbG8=", "file_name": "hello.txt"},
    "download_file": {"url": "https://cdn.test/files/a.png", "dest": os.path.join(tempfile.gettempdir(), "fal-connector-fuzz", ""),
                      "overwrite": True},  # valid again after a test has saved the file there
    "list_requests": {"endpoint_id": "fal-ai/flux/dev"},
    "search_requests": {"query": "fox"},
    "get_usage": {},
    "get_analytics": {"endpoint_id": "fal-ai/flux/dev"},
    "get_billing_events": {},
    "get_balance": {},
    "delete_request_payloads": {"request_id": RID},
    "list_workflows": {},
    "get_workflow": {"username": "johndoe", "workflow_name": "my-image-workflow"},
    "sign_file_url": {"url": "https://v3.fal.media/files/b/0a1b/out.png", "expiration_seconds": 3600},
}


def cli_env() -> dict[str, str]:
    """An environment for a ``python -m connector`` subprocess: this package, no FAL_* of the
    outer process, every fal URL on a port nothing listens on, no retries."""
    import importlib.util
    import os
    from pathlib import Path

    import connector

    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL_")}
    # The subprocess runs the very package these tests imported, installed or not: its parent
    # directory goes first on PYTHONPATH (the cwd is a temporary directory, not the checkout).
    spec = importlib.util.find_spec("connector")
    assert spec is not None and spec.origin
    package_parent = str(Path(spec.origin).resolve().parent.parent)
    assert Path(package_parent, "connector").resolve() == Path(connector.__file__).resolve().parent
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    # Point everything at a port nothing listens on, so no test can reach the real fal.ai.
    for var in ("FAL_QUEUE_URL", "FAL_RUN_URL", "FAL_API_URL", "FAL_REST_URL", "FAL_CDN_URL"):
        env[var] = "http://127.0.0.1:9"
    env["FAL_JWKS_URL"] = "http://127.0.0.1:9/.well-known/jwks.json"
    env["FAL_CONNECTOR_MAX_RETRIES"] = "0"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def poll(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Call ``fn`` until it returns something truthy (bounded; short interval)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def record_texts(record: logging.LogRecord) -> list[str]:
    """Every text a log record carries: its message, arguments, traceback and attributes."""
    texts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info:
        texts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.exc_text:
        texts.append(record.exc_text)
    texts.extend(repr(v) for k, v in vars(record).items() if k not in ("msg", "args", "exc_info", "exc_text"))
    return texts


def subprocess_env(emulator: Any = None, **extra: str) -> dict[str, str]:
    """An environment for a subprocess (the CLI, an example script): the outer FAL_* variables
    and proxies removed, the checkout importable, and (optionally) ``emulator.env()`` added."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FAL_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if emulator is not None:
        env.update(emulator.env())
    env.update(extra)
    return env


def closed_at_teardown(build: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """The body of a factory fixture (``yield from``): ``make(...)`` returns ``build(...)``, and
    everything made is closed at teardown, each even when an earlier close failed."""
    import contextlib

    with contextlib.ExitStack() as made:

        def make(*args: Any, **kwargs: Any) -> Any:
            item = build(*args, **kwargs)
            made.callback(item.close)
            return item

        yield make
