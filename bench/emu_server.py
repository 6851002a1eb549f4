"""The emulator for the benchmark, in its own process (so it never shares a GIL with a client).

Started by ``bench/run.py``; serves two emulators (plain HTTP and HTTPS with a throwaway
self-signed certificate) and prints one JSON line with their URLs and the certificate file.
Then it answers JSON commands, one per line on stdin, with one JSON line on stdout:

    {"op": "set_model", "app_id": ..., "queue_seconds": ..., "run_seconds": ...}
    {"op": "log_clear"}                      forget the requests and connections seen so far
    {"op": "log_count"}                      -> {"count": N, "requests": [...], "connections": [...]}:
                                                requests seen since (both emulators), and when
                                                each connection since was accepted (jobs' clock)
    {"op": "job", "request_id": ...}         -> {"status", "end_at"}: when the job completes(d),
                                                on the system-wide time.monotonic() clock
    {"op": "stop"}                           (end of stdin stops too)
"""

from __future__ import annotations

import json
import sys

from connector.emulator import Emulator


def main() -> int:
    plain = Emulator(log_size=100_000).start()
    tls = Emulator(tls=True, log_size=100_000).start()
    emulators = (plain, tls)
    print(json.dumps({"http": plain.url, "https": tls.url, "cert_file": tls.cert_file}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            op = cmd.pop("op")
            if op == "stop":
                break
            if op == "set_model":
                for emu in emulators:
                    emu.set_model(cmd["app_id"], queue_seconds=cmd.get("queue_seconds"), run_seconds=cmd.get("run_seconds"))
                answer: dict = {"ok": True}
            elif op == "log_clear":
                for emu in emulators:
                    emu.requests_log.clear()
                    emu.connections_log.clear()
                answer = {"ok": True}
            elif op == "log_count":
                answer = {"count": sum(len(emu.requests_log) for emu in emulators), "requests": [
                    f"{method} {target}" for emu in emulators for method, target, _ in emu.requests_log][:200],
                    "connections": [at for emu in emulators for at in emu.connections_log]}
            elif op == "job":
                job = next((j for emu in emulators if (j := emu.job(cmd["request_id"])) is not None), None)
                if job is None:
                    answer = {"error": "no such job"}
                else:
                    # queue_seconds 0 and no cancel: the job runs from start_at for run_seconds.
                    answer = {"status": job.state, "end_at": job.start_at + job.run_seconds}
            else:
                answer = {"error": f"unknown op {op!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        for emu in emulators:
            emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
