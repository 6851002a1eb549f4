"""The emulator's side of webhooks: signing keys (published as a JWKS) and delivery with retries.

The wire format (headers, signed message, JWKS fields) is ``connector.fal.webhook_wire``'s,
shared with the verifier. Receivers verify against every key of the JWKS, so a rotation may
keep the old public key published for a while.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connector.fal.webhook_wire import (
    CURVE,
    ED25519,
    JWKS_KEYS,
    KEY_TYPE,
    OKP,
    PUBLIC_KEY,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    USER_ID_HEADER,
    signed_message,
)

if TYPE_CHECKING:
    from .jobs import Job
    from .outputs import Outcome


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class _Key:
    private: Ed25519PrivateKey
    x: str  # base64url public key, no padding
    kid: str


class KeyRing:
    """The signing key plus the public keys still published in the JWKS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[_Key] = []  # newest last; the newest signs
        self.rotate(keep_old=False)

    def rotate(self, keep_old: bool = True) -> str:
        private = Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key = _Key(private, _b64url(raw), hashlib.sha256(raw).hexdigest()[:16])
        with self._lock:
            self._keys = (self._keys if keep_old else []) + [key]
        return key.kid

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys)
        return {JWKS_KEYS: [{KEY_TYPE: OKP, CURVE: ED25519, PUBLIC_KEY: k.x, "kid": k.kid, "use": "sig", "alg": "EdDSA"}
                            for k in keys]}

    def sign(self, body: bytes, request_id: str, user_id: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else int(timestamp))
        with self._lock:
            key = self._keys[-1]
        signature = key.private.sign(signed_message(request_id, user_id, ts, body))
        return {
            REQUEST_ID_HEADER: request_id,
            USER_ID_HEADER: user_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: signature.hex(),
        }


def webhook_body(job: Job, outcome: Outcome) -> bytes:
    """fal's delivery body: status OK + payload, or ERROR + error + the error payload."""
    head: dict[str, Any] = {"request_id": job.request_id, "gateway_request_id": job.gateway_request_id}
    if outcome.ok:
        head.update(status="OK", error=None)
    else:
        head.update(status="ERROR", error=outcome.error)
    # Splice the payload bytes in rather than parse them: a 50 MB result is not re-encoded.
    prefix = json.dumps(head)[:-1].encode()
    return prefix + b', "payload": ' + outcome.body_bytes() + b"}"


class WebhookDispatcher:
    """One scheduler thread: holds (due time, job) and delivers when a job has completed.

    ``due(job)`` returns None when the job is complete (deliver now) or the time to look again
    (the job's completion can move earlier on cancel, so cancel calls ``poke``).
    """

    def __init__(self, keyring: KeyRing, user_id: str, due: Callable[[Job], float | None], build: Callable[[Job], bytes],
                 retries: int, retry_delay: float, timeout: float) -> None:
        self._keyring, self._user_id = keyring, user_id
        self._due, self._build = due, build
        self.retries, self.retry_delay, self.timeout = retries, retry_delay, timeout
        self.deliveries: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._loop, name="fal-emulator-webhooks", daemon=True)
        # No proxies: deliveries go straight to the receiver, as fal's would.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for t in list(self._threads):
            t.join(timeout)

    def schedule(self, job: Job, at: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._seq), job))
            self._cond.notify_all()

    poke = schedule

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                now = time.monotonic()
                if not self._heap or self._heap[0][0] > now:
                    wait = 0.5 if not self._heap else self._heap[0][0] - now
                    self._cond.wait(min(wait, 0.5))
                    continue
                _, _, job = heapq.heappop(self._heap)
            if job.request_id in self._done:
                continue
            again = self._due(job)
            if again is not None:
                self.schedule(job, again)
                continue
            self._done.add(job.request_id)
            t = threading.Thread(target=self._deliver, args=(job,), name="fal-emulator-webhook", daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _deliver(self, job: Job) -> None:
        body = self._build(job)
        for attempt in range(1, self.retries + 2):
            if self._stop.is_set():
                return
            headers = {"Content-Type": "application/json", "User-Agent": "fal-emulator-webhook/1",
                       **self._keyring.sign(body, job.request_id, self._user_id)}
            record: dict[str, Any] = {"url": job.webhook_url, "request_id": job.request_id, "attempt": attempt,
                      "status_code": None, "error": None, "time": time.time()}
            try:
                # Only jobs submitted with fal_webhook are scheduled, so the URL is set.
                req = urllib.request.Request(cast(str, job.webhook_url), data=body, headers=headers, method="POST")
                with self._opener.open(req, timeout=self.timeout) as resp:
                    record["status_code"] = resp.status
                    resp.read()
            except urllib.error.HTTPError as e:
                record["status_code"] = e.code
            except Exception as e:  # connection refused, timeout, TLS... all count as a failure
                record["error"] = f"{type(e).__name__}: {e}"
            self.deliveries.append(record)
            if record["status_code"] is not None and 200 <= record["status_code"] < 300:
                return
            if attempt <= self.retries and self._stop.wait(self.retry_delay):
                return
