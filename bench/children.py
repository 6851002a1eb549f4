"""Fresh-process contenders for ``bench/run.py``: peak memory fetching a large result.

    python bench/children.py rss {connector|fal-client|requests} APP_ID REQUEST_ID

Prints one JSON line: ``maxrss_kb`` (peak RSS of this process since it started: ``VmHWM``, not
``ru_maxrss``, which also counts the parent's memory copied when it forked), ``base_kb``
(RSS after the imports and client set-up, before the call) and ``ok``. The environment comes
from ``run.py`` (FAL_KEY, FAL_QUEUE_URL, FAL_QUEUE_RUN_HOST, certificate variables).
"""

from __future__ import annotations

import json
import os
import sys

from bench.sampling import process_status  # bench/run.py runs this with the checkout on PYTHONPATH


def rss(contender: str, app_id: str, request_id: str) -> dict:
    if contender == "connector":
        from connector import Connector

        conn = Connector()
        base = process_status()["rss_kb"]
        out = conn.run("get_request_response", {"app_id": app_id, "request_id": request_id})
        ok = bool(out["success"]) and isinstance(out["data"].get("padding"), str)
        size = len(out["data"]["padding"]) if ok else 0
        detail = None if ok else out.get("error")
    elif contender == "fal-client":
        import fal_client

        client = fal_client.SyncClient()
        client._client  # noqa: B018 - build the httpx client before the baseline, as Connector() does
        base = process_status()["rss_kb"]
        data = client.result(app_id, request_id)
        ok, size, detail = isinstance(data.get("padding"), str), len(data["padding"]), None
    elif contender == "requests":
        import requests

        session = requests.Session()
        base = process_status()["rss_kb"]
        url = f"{os.environ['FAL_QUEUE_URL']}/{app_id}/requests/{request_id}"
        response = session.get(url, headers={"Authorization": f"Key {os.environ['FAL_KEY']}"}, timeout=60)
        data = response.json()
        ok, size, detail = response.status_code == 200 and isinstance(data.get("padding"), str), len(data["padding"]), None
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    maxrss = process_status()["hwm_kb"]
    return {"contender": contender, "ok": ok, "maxrss_kb": maxrss, "base_kb": base, "size": size, "error": detail}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "rss":
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(rss(*argv[1:])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
