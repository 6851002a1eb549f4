"""Receive fal's webhook deliveries and accept only genuine ones.

    python examples/webhook_receiver.py --port 8000
    # then submit with a webhook, e.g.
    fal-connector run add_request_to_queue --input '{"app_id": "fal-ai/flux/dev",
        "data": {"prompt": "a red fox"}, "webhook_url": "https://your-host.example/"}'

A plain ``http.server``; in a web framework the handler body is the same three steps: read the
RAW body bytes, ``verify_webhook(headers, body)``, then act once per ``request_id`` (fal retries
a delivery that was not answered with 2xx, so a handler must be idempotent).

A genuine delivery is answered 204 and printed as a JSON line ``{"event": "verified", ...}``; a
forged, altered or stale one is answered 403 and printed as ``{"event": "rejected", "reason":
...}``. The signing keys come from ``FAL_JWKS_URL`` (fal's by default; the ``FAL_*`` lines of
``fal-connector emulator`` point it at the emulator), fetched without the API key and cached.
The first line printed is ``listening on http://HOST:PORT/`` (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.webhooks import WebhookVerificationError, verify_webhook

MAX_BODY = 64 * 1024 * 1024  # a delivery carries the model output; refuse anything larger unread


class Deliveries:
    """What has been handled, so a retried delivery is acknowledged but not acted on twice."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first_time(self, request_id: str) -> bool:
        with self._lock:
            if request_id in self._seen:
                return False
            self._seen.add(request_id)
            return True


def handle(delivery: dict[str, Any]) -> dict[str, Any]:
    """Your work goes here: store the result, wake the workflow step waiting for this job..."""
    body = delivery["payload"]  # fal's body: request_id, status "OK" or "ERROR", error, payload
    output = body.get("payload") or {}
    urls = [image["url"] for image in output.get("images", []) if isinstance(image, dict)] if isinstance(output, dict) else []
    return {"status": body.get("status"), "error": body.get("error"), "urls": urls}


def make_handler(deliveries: Deliveries) -> type[BaseHTTPRequestHandler]:
    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(413 if length > MAX_BODY else 400, {"event": "rejected", "reason": "bad Content-Length"})
                return
            body = self.rfile.read(length)  # the raw bytes: the signature covers exactly these
            try:
                delivery = verify_webhook(dict(self.headers.items()), body)
            except WebhookVerificationError as exc:
                self._answer(403, {"event": "rejected", "reason": exc.reason})
                return
            request_id = delivery["request_id"]
            if not deliveries.first_time(request_id):
                self._answer(204, {"event": "duplicate", "request_id": request_id})
                return
            self._answer(204, {"event": "verified", "request_id": request_id, **handle(delivery)})

        def _answer(self, status: int, record: dict[str, Any]) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            print(json.dumps(record), flush=True)

        def log_message(self, format: str, *args: Any) -> None:  # keep stdout to the JSON lines
            pass

    return WebhookHandler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Deliveries()))
    port = server.server_address[1]
    print(f"listening on http://{args.host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
