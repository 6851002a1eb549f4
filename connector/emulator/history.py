"""Request history, derived from the queue's jobs: what fal's dashboard calls "Recent History".

Every queue job is a request record; its times come from the job's timeline, so history agrees
with status answers at every instant. Routes (platform API, API key unless marked):

* ``GET /v1/models/requests/by-endpoint?endpoint_id=`` — one endpoint's requests, newest first;
* ``GET /v1/models/requests/search`` — text search over inputs/outputs, any endpoint;
* ``DELETE /v1/models/requests/{id}/payloads`` (admin) — forget a request's input/output and its
  output files; ``Idempotency-Key`` answers a repeat with the first answer for 10 minutes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import params
from .auth import Keys, platform_error
from .jobs import COMPLETED, Job, JobStore, clock, iso
from .models import Catalogue
from .outputs import Outcome
from .wire import Request, Response, json_response

LIST_DEFAULT, LIST_MAX = 50, 100
STATUSES = ("success", "error", "user_error")
SORTS = ("ended_at", "duration")
ID_WINDOW = timedelta(days=90)  # fal widens the default window when a request_id is given
IDEMPOTENCY_TTL = 600.0  # fal caches a deletion's answer per Idempotency-Key for 10 minutes


@dataclass
class Record:
    """One request as history reports it (epoch seconds; None while not reached)."""

    job: Job
    sent_at: float
    started_at: float | None
    ended_at: float | None
    outcome: Outcome | None

    @property
    def status_code(self) -> int | None:
        return None if self.outcome is None else self.outcome.status_code

    @property
    def status_class(self) -> str | None:
        """success | user_error (4xx) | error (5xx); None while running."""
        code = self.status_code
        if code is None:
            return None
        return "success" if code < 400 else "user_error" if code < 500 else "error"

    @property
    def duration(self) -> float | None:
        if self.ended_at is None or self.started_at is None:
            return None
        return round(self.ended_at - self.started_at, 6)

    def output_json(self) -> Any:
        if self.outcome is None or not isinstance(self.outcome.body, bytes):
            return None  # running, or a streamed giant body (fal-ai/sized) nobody wants inline
        try:
            return json.loads(self.outcome.body)
        except ValueError:
            return None


def output_links(value: Any) -> list[str]:
    """Every ``url`` inside an output (the files a payload deletion removes from the CDN)."""
    if isinstance(value, dict):
        own = [value["url"]] if isinstance(value.get("url"), str) else []
        return own + [u for k, v in value.items() if k != "url" for u in output_links(v)]
    if isinstance(value, list):
        return [u for v in value for u in output_links(v)]
    return []


class History:
    """Records of the store's jobs, plus payload deletion state."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.deleted: set[str] = set()  # request ids whose payloads were deleted
        self.deletions: list[dict[str, Any]] = []  # every DELETE received: request_id, idempotency_key
        self._answers: dict[str, tuple[float, str, dict[str, Any]]] = {}  # key -> (expiry, request_id, body)

    def record(self, job: Job, now: float | None = None) -> Record:
        now = clock() if now is None else now
        tl = JobStore.timeline(job, now)

        def wall(t: float) -> float:
            return job.wall + (t - job.submitted)

        started = wall(job.start_at) if tl.started and now >= job.start_at else None
        if tl.status != COMPLETED:
            return Record(job, job.wall, started, None, None)
        return Record(job, job.wall, started, wall(tl.end_at), self._store.outcome(job, tl))

    def records(self) -> list[Record]:
        now = clock()
        return [self.record(job, now) for job in self._store.all()]

    def item(self, rec: Record, payloads: bool) -> dict[str, Any]:
        """fal's history item: request_id, endpoint_id, times, status_code, duration (+ payloads)."""
        item: dict[str, Any] = {"request_id": rec.job.request_id, "endpoint_id": rec.job.endpoint_id,
                                "sent_at": iso(rec.sent_at),
                                "started_at": iso(rec.started_at) if rec.started_at is not None else None}
        if rec.ended_at is not None:
            item.update(ended_at=iso(rec.ended_at), status_code=rec.status_code, duration=rec.duration)
        if payloads:
            gone = rec.job.request_id in self.deleted
            item["json_input"] = None if gone else rec.job.input
            item["json_output"] = None if gone else rec.output_json()
        return item

    # --- payload deletion ------------------------------------------------------------------

    def delete_payloads(self, request_id: str, key: str | None) -> tuple[int, dict[str, Any]]:
        """(status, body). A repeat with the same Idempotency-Key gets the first answer back."""
        now = time.monotonic()
        with self._lock:
            self.deletions.append({"request_id": request_id, "idempotency_key": key})
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            if key is not None and key in self._answers:
                _, first_id, body = self._answers[key]
                if first_id != request_id:
                    return 422, {"error": {"type": "validation_error",
                                           "message": "Idempotency-Key was already used for another request"}}
                return 200, body
        job = self._store.get(request_id)
        if job is None:
            return 404, {"error": {"type": "not_found", "message": f"Request not found: {request_id}"}}
        rec = self.record(job)
        with self._lock:
            links = [] if request_id in self.deleted else output_links(rec.output_json())
            self.deleted.add(request_id)
            body = {"cdn_delete_results": [{"link": link, "exception": None} for link in links]}
            if key is not None:
                self._answers[key] = (now + IDEMPOTENCY_TTL, request_id, body)
        return 200, body


def unknown_endpoint(catalogue: Catalogue, endpoint_ids: list[str]) -> Response | None:
    """The platform API's 404 for the first of ``endpoint_ids`` the catalogue does not know."""
    for endpoint_id in endpoint_ids:
        if catalogue.resolve(endpoint_id) is None:
            return platform_error(404, "not_found", f"Endpoint not found: {endpoint_id}")
    return None


class HistoryAPI:
    def __init__(self, history: History, catalogue: Catalogue, keys: Keys) -> None:
        self._history, self._catalogue, self._keys = history, catalogue, keys

    def _filtered(self, req: Request, endpoint_ids: list[str]) -> list[Record]:
        """Records in [start, end) (by submit time), of these endpoints (all when empty),
        filtered by status and request_id, newest first (or longest first)."""
        request_id = req.arg("request_id")
        start, end = params.window(req, ID_WINDOW if request_id else params.DEFAULT_WINDOW)
        status = params.one_of(req, "status", STATUSES)
        sort_by = params.one_of(req, "sort_by", SORTS, "ended_at")
        recs = [r for r in self._history.records() if start <= r.sent_at < end
                and (not endpoint_ids or r.job.endpoint_id in endpoint_ids)
                and (status is None or r.status_class == status)
                and (request_id is None or r.job.request_id == request_id)]
        if sort_by == "duration":
            recs.sort(key=lambda r: -1.0 if r.duration is None else r.duration, reverse=True)
        else:  # unfinished requests first, then by end time; newest first
            recs.sort(key=lambda r: (r.ended_at is None, r.ended_at or r.sent_at), reverse=True)
        return recs

    def _payloads(self, req: Request) -> bool:
        expand = params.multi(req, "expand")
        bad = [e for e in expand if e != "payloads"]
        if bad:
            raise params.BadParam(f"Unknown expand value(s) {bad}; allowed ['payloads']")
        return bool(expand)

    def by_endpoint(self, req: Request) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        endpoint_id = req.arg("endpoint_id")
        if not endpoint_id:
            return platform_error(400, "validation_error", "endpoint_id is required")
        unknown = unknown_endpoint(self._catalogue, [endpoint_id])
        if unknown:
            return unknown
        return self._page(req, [endpoint_id], "items", lambda item, rec: item)

    def search(self, req: Request) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        given = [n for n in ("query", "image_url", "video_url") if req.arg(n)]
        if len(given) > 1:
            return platform_error(400, "validation_error", f"{given} are mutually exclusive; send one")
        endpoint_ids = params.multi(req, "endpoint_id") + params.multi(req, "endpoint")
        unknown = unknown_endpoint(self._catalogue, endpoint_ids)
        if unknown:
            return unknown
        try:
            floor = float(req.arg("min_similarity") or 0)
        except ValueError:
            floor = -1.0
        if not 0 <= floor <= 1:
            return platform_error(400, "validation_error", "min_similarity must be a number 0..1")
        needle = (req.arg(given[0]) if given else "") or ""

        def similarity(rec: Record) -> float:
            if not needle:
                return 1.0
            text = json.dumps([rec.job.input, rec.output_json()]).lower()
            return 1.0 if needle.lower() in text else 0.0

        def scored(item: dict[str, Any], rec: Record) -> dict[str, Any] | None:
            score = similarity(rec)
            return {**item, "similarity": score} if score > 0 and score >= floor else None

        return self._page(req, endpoint_ids, "results", scored)

    def _page(self, req: Request, endpoint_ids: list[str], key: str,
              shape: Callable[[dict[str, Any], Record], dict[str, Any] | None]) -> Response:
        payloads = self._payloads(req)
        items = [shaped for rec in self._filtered(req, endpoint_ids)
                 if (shaped := shape(self._history.item(rec, payloads), rec)) is not None]
        chunk, next_cursor, has_more = params.paginate(items, req, LIST_DEFAULT, LIST_MAX)
        return json_response(200, {key: chunk, "next_cursor": next_cursor, "has_more": has_more})

    def delete_payloads(self, req: Request, request_id: str) -> Response:
        denied = self._keys.platform(req, admin=True)
        if denied:
            return denied
        status, body = self._history.delete_payloads(request_id, req.headers.get("Idempotency-Key"))
        return json_response(status, body)
