"""The /_emulator control API, for an emulator running in another process (benchmarks, the
CLI). Never subject to auth or faults.

* ``POST /_emulator/faults`` — JSON with the keyword arguments of ``emu.faults.add``
* ``GET /_emulator/faults``, ``DELETE /_emulator/faults``
* ``GET /_emulator/jobs`` — ``{"jobs": [...]}``
* ``POST /_emulator/models`` — ``{"app_id", "queue_seconds", "run_seconds"}`` (= ``set_model``)
* ``GET /_emulator/webhooks`` — ``{"deliveries": [...]}``
* ``GET /_emulator/balance``, ``POST /_emulator/balance`` ``{"usd": N}`` (= ``set_balance``)
"""

from __future__ import annotations

from typing import Any

from .wire import Request, Response, detail, json_response


def handle(emu: Any, req: Request, rest: list[str]) -> Response:
    what, method = "/".join(rest), req.method
    try:
        if what == "faults" and method == "POST":
            spec = req.json()
            if not isinstance(spec, dict) or "route" not in spec:
                return detail(400, "Body must be a JSON object with at least 'route'")
            return json_response(200, emu.faults.add(**spec).to_dict())
        if what == "faults" and method == "GET":
            return json_response(200, {"faults": [r.to_dict() for r in emu.faults.rules]})
        if what == "faults" and method == "DELETE":
            return json_response(200, {"cleared": emu.faults.clear()})
        if what == "jobs" and method == "GET":
            return json_response(200, {"jobs": [j.to_dict() for j in emu.jobs]})
        if what == "models" and method == "POST":
            spec = req.json()
            if not isinstance(spec, dict) or "app_id" not in spec:
                return detail(400, "Body must be a JSON object with 'app_id'")
            changed = emu.set_model(spec["app_id"], queue_seconds=spec.get("queue_seconds"),
                                    run_seconds=spec.get("run_seconds"))
            return json_response(200, {"updated": changed})
        if what == "balance" and method == "POST":
            spec = req.json()
            if not isinstance(spec, dict) or type(spec.get("usd")) not in (int, float):
                return detail(400, 'Body must be {"usd": <number>}')
            emu.set_balance(spec["usd"])
            return json_response(200, {"current_balance": emu.balance})
        if what == "balance" and method == "GET":
            return json_response(200, {"current_balance": emu.balance})
        if what == "webhooks" and method == "GET":
            return json_response(200, {"deliveries": list(emu.webhook_deliveries)})
    except KeyError as e:
        return detail(404, str(e.args[0]) if e.args else "not found")
    except (TypeError, ValueError) as e:
        return detail(400, str(e))
    return detail(404, "Unknown control endpoint")
