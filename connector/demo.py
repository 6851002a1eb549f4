"""``fal-connector demo``: one whole job, end to end, through the public API.

Without FAL_KEY it starts the embedded emulator on 127.0.0.1 and runs there: nothing leaves
the machine and nothing is billed. With FAL_KEY it would call fal.ai for real, which bills
the account, so it insists on ``--real``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from connector.fal.status import log_key

MODEL = "fal-ai/flux/dev"
SLOW_MODEL = "fal-ai/slow"
REAL_MODEL = "fal-ai/fast-sdxl"
PROMPT = "a lighthouse at dawn, watercolour"


def main(real: bool = False) -> int:
    from connector import Connector

    if os.environ.get("FAL_KEY") or (os.environ.get("FAL_KEY_ID") and os.environ.get("FAL_KEY_SECRET")):
        if not real:
            _err("FAL_KEY is set: this demo would submit real jobs to fal.ai and bill your account.\n"
                 "Run `fal-connector demo --real` to do that, or unset FAL_KEY to use the local emulator.")
            return 1
        return _steps(Connector(), REAL_MODEL, slow_model=None, where="fal.ai (billed)")

    from connector.emulator import Emulator

    with Emulator() as emu:
        conn = Connector(api_key="demo-key", environ=emu.env())  # the emulator's FAL_* lines only
        return _steps(conn, MODEL, slow_model=SLOW_MODEL, where=f"the local emulator at {emu.url} (no network, no key, no bill)")


def _steps(conn: Any, model: str, slow_model: str | None, where: str) -> int:
    _say(f"fal-connector demo — running on {where}\n")
    started = time.monotonic()

    out = _call(conn, "1. Find image models", "get_models", {"category": "text-to-image", "limit": 5})
    if out is None:
        return 1
    names = ", ".join(m["endpoint_id"] for m in out["models"])
    _say(f"   {len(out['models'])} found: {names}")

    out = _call(conn, f"2. Price {model}", "get_pricing", {"endpoint_id": model})
    if out is None:
        return 1
    for price in out["prices"]:
        _say(f"   {price['endpoint_id']}: {price['unit_price']} {price['currency']} per {price['unit']}")
    out = _call(conn, "   Estimate 4 images", "estimate_pricing",
                {"estimate_type": "unit_price", "endpoints": {model: {"unit_quantity": 4}}})
    if out is None:
        return 1
    _say(f"   4 images would cost about {out['total_cost']} {out['currency']}")

    out = _call(conn, f"3. Submit a job to {model}", "add_request_to_queue", {"app_id": model, "data": {"prompt": PROMPT}})
    if out is None:
        return 1
    request_id = out["request_id"]
    _say(f"   queued as request {request_id} (position {out['queue_position']})")

    _say("4. Follow it live (status stream; progress on stderr)")
    last, seen = None, set()
    for event in conn.stream("stream_request_status", {"app_id": model, "request_id": request_id, "logs": True, "timeout": 120}):
        line = event["status"] + (f" — queue position {event['queue_position']}" if event["queue_position"] is not None else "")
        _err(f"   · {line}")
        for entry in event["logs"]:  # fal resends recent logs with each event: show new ones
            if (key := log_key(entry)) not in seen:
                seen.add(key)
                _err(f"       log: {entry.get('message')}")
        last = event
    if not last or last["status"] != "COMPLETED":
        _say("   the stream ended before COMPLETED")
        return 1

    out = _call(conn, "5. Fetch the result", "get_request_response", {"app_id": model, "request_id": request_id})
    if out is None:
        return 1
    for image in out["data"].get("images", []):
        _say(f"   image: {image.get('url')} ({image.get('width')}x{image.get('height')})")

    if slow_model:
        out = _call(conn, f"6. Submit a slow job to {slow_model} and cancel it", "add_request_to_queue", {"app_id": slow_model, "data": {"prompt": PROMPT}})
        if out is None:
            return 1
        cancelled = conn.run("cancel_request", {"app_id": slow_model, "request_id": out["request_id"]})
        _say(f"   cancel answered {cancelled['cancel_status']}: the job will not run (or bill)")

    out = _call(conn, f"7. Recent requests of {model}", "list_requests", {"endpoint_id": model, "limit": 5})
    if out is None:
        return 1
    for item in out["items"]:
        _say(f"   {item.get('request_id')}: HTTP {item.get('status_code')}, {item.get('duration')} s")
    balance = conn.run("get_balance", {})
    if balance["success"]:
        _say(f"   balance: {balance['current_balance']} {balance['currency']}")
    else:  # reading the balance needs a key with billing access; not a reason to fail the demo
        _say(f"   balance not shown ({balance['failure']['type']}): {balance['error']}")

    _say(f"\nDone in {time.monotonic() - started:.1f} s. Every step above is `fal-connector run <action> --input '<json>'` too;")
    _say("see `fal-connector actions` for the list.")
    return 0


def _call(conn: Any, title: str, action: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    _say(f"{title}  [{action}]")
    out: dict[str, Any] = conn.run(action, inputs)
    if not out["success"]:
        _say(f"   failed ({out['failure']['type']}): {out['error']}")
        return None
    return out


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
