"""Run a batch of prompts through one model, a few jobs at a time.

    python examples/batch_prompts.py "a red fox" "a lighthouse at dusk" "a bowl of ramen"
    python examples/batch_prompts.py --model fal-ai/fast-sdxl --concurrency 2 --timeout 120 < prompts.txt

One ``Connector`` is shared by every thread (it is thread-safe); a ``ThreadPoolExecutor``
bounds how many jobs are in flight at once, so a long list never floods your queue. Each job
is one ``subscribe``: submit, follow, fetch, and a cancel if it runs past ``--timeout``, so a
stuck job stops billing. Prints one JSON line per prompt, in the order given; exits 1 if any
failed. Without a prompt argument, prompts are read from stdin, one a line.

Configuration comes from the environment (``FAL_KEY``; the ``FAL_*`` lines of
``fal-connector emulator`` point it at the local emulator).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connector import Connector


def generate(conn: Connector, model: str, prompt: str, timeout: float) -> dict[str, Any]:
    out = conn.run("subscribe", {"app_id": model, "data": {"prompt": prompt}, "timeout": timeout})
    if not out["success"]:
        # failure.type says what to do: rate_limited/server_error may be retried later,
        # timeout carries the request_id (the job was cancelled), invalid_input never helps.
        return {"prompt": prompt, "ok": False, "failure": out["failure"]["type"], "error": out["error"],
                "request_id": out.get("request_id")}
    images = (out["data"] or {}).get("images") or []
    return {"prompt": prompt, "ok": True, "request_id": out["request_id"], "urls": [image["url"] for image in images]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", nargs="*", help="the prompts (default: one a line on stdin)")
    parser.add_argument("--model", default="fal-ai/flux/dev", help="endpoint id (default fal-ai/flux/dev)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs in flight at once (default 4)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per job before it is cancelled (default 300)")
    args = parser.parse_args(argv)
    prompts = args.prompts or [line.strip() for line in sys.stdin if line.strip()]
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")

    with Connector() as conn, ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        # map() keeps the input order and never runs more than max_workers jobs at once.
        results = pool.map(lambda prompt: generate(conn, args.model, prompt, args.timeout), prompts)
        failed = 0
        for result in results:
            failed += not result["ok"]
            print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
