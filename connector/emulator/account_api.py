"""Usage, analytics, billing events and the account balance, derived from the jobs that ran.

A finished job with a 2xx answer is billable: ``units`` of its catalogue entry times the entry's
``unit_price`` (fal never charges server errors; we charge no failed job at all). The balance is
the starting credit (``Emulator(balance=...)``, ``emu.set_balance``) minus what was billed.

* ``GET /v1/models/usage`` (admin) — cost and quantity per endpoint, as time buckets and/or a summary;
* ``GET /v1/models/analytics`` — request/error counts and duration percentiles per endpoint and bucket;
* ``GET /v1/models/billing-events`` (admin) — one event per billed request;
* ``GET /v1/account/billing?expand=credits`` (admin) — ``{username, credits: {current_balance, currency}}``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import params
from .auth import Keys, platform_error
from .history import History, Record, unknown_endpoint
from .models import Catalogue
from .wire import Request, Response, json_response

_Entry = TypeVar("_Entry")

TIMEFRAMES = ("minute", "hour", "day", "week", "month")
USAGE_EXPANDS = ("time_series", "summary", "auth_method", "auth_method_structured")
PERCENTILES = {"p25_duration": 25, "p50_duration": 50, "p75_duration": 75, "p90_duration": 90,
               "p95_duration": 95, "p99_duration": 99}
COUNTS = ("request_count", "success_count", "user_error_count", "error_count", "timeout_error_count")
METRICS = (*COUNTS, *PERCENTILES, "total_billable_duration")
BUCKETS_DEFAULT, BUCKETS_MAX = 50, 100
EVENTS_DEFAULT, EVENTS_MAX = 100, 10000
EVENTS_MAX_RANGE = timedelta(days=90)
CURRENCY = "USD"


@dataclass
class Charge:
    """What one billable request cost."""

    rec: Record
    units: float
    unit_price: float
    unit: str

    @property
    def cost(self) -> float:
        return round(self.units * self.unit_price, 6)


def percentile(values: list[float], p: int) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def auto_timeframe(start: float, end: float) -> str:
    span = end - start
    for name, limit in (("minute", 2 * 3600), ("hour", 2 * 86400), ("day", 60 * 86400), ("week", 366 * 86400)):
        if span <= limit:
            return name
    return "month"


def bucket_of(ts: float, timeframe: str, tz: ZoneInfo) -> str:
    """The start of the bucket holding ``ts``, in ``tz``, ISO 8601 with offset."""
    t = datetime.fromtimestamp(ts, tz)
    if timeframe == "minute":
        t = t.replace(second=0, microsecond=0)
    elif timeframe == "hour":
        t = t.replace(minute=0, second=0, microsecond=0)
    else:
        t = t.replace(hour=0, minute=0, second=0, microsecond=0)
        if timeframe == "week":
            t -= timedelta(days=t.weekday())
        elif timeframe == "month":
            t = t.replace(day=1)
    return t.isoformat()


def _time_series(req: Request, entries: list[_Entry], ended_at: Callable[[_Entry], float | None],
                 results: Callable[[list[_Entry]], list[dict[str, Any]]], timeframe: str,
                 tz: ZoneInfo) -> tuple[list[dict[str, Any]], str | None, bool]:
    """``entries`` (finished ones) grouped into time buckets by when each ended, each bucket with
    its ``results``: one page of the series, with its next cursor and whether there is more."""
    buckets: dict[str, list[_Entry]] = {}
    for entry in entries:
        when = ended_at(entry)
        assert when is not None
        buckets.setdefault(bucket_of(when, timeframe, tz), []).append(entry)
    series = [{"bucket": b, "results": results(group)} for b, group in sorted(buckets.items())]
    return params.paginate(series, req, BUCKETS_DEFAULT, BUCKETS_MAX)


class AccountAPI:
    def __init__(self, history: History, catalogue: Catalogue, keys: Keys, user_id: str,
                 balance: float) -> None:
        self._history, self._catalogue, self._keys, self._user = history, catalogue, keys, user_id
        self._lock = threading.Lock()
        self._credit = float(balance)

    # --- money -----------------------------------------------------------------------------

    def set_balance(self, usd: float) -> None:
        """The balance as of now: later billable jobs are taken off it."""
        with self._lock:
            self._credit = float(usd) + self.spent()

    def spent(self) -> float:
        return round(sum(c.cost for c in self.charges()), 6)

    def balance(self) -> float:
        with self._lock:
            return round(self._credit - self.spent(), 6)

    def charges(self, records: list[Record] | None = None) -> list[Charge]:
        out = []
        for rec in self._history.records() if records is None else records:
            spec = self._catalogue.get(rec.job.model)
            if rec.outcome is None or spec is None:
                continue
            units = spec.units(rec.outcome)
            if units > 0:
                out.append(Charge(rec, units, spec.unit_price, spec.unit))
        return out

    # --- shared parsing --------------------------------------------------------------------

    @staticmethod
    def _series(req: Request) -> tuple[float, float, str, ZoneInfo]:
        start, end = params.window(req)
        tz_name = req.arg("timezone") or "UTC"
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise params.BadParam(f"Unknown timezone {tz_name!r}") from None
        timeframe = params.one_of(req, "timeframe", TIMEFRAMES) or auto_timeframe(start, end)
        return start, end, timeframe, tz

    def _in_window(self, start: float, end: float, endpoint_ids: list[str]) -> list[Record]:
        """Finished requests that ended in [start, end), of these endpoints (all when empty)."""
        return [r for r in self._history.records() if r.ended_at is not None and start <= r.ended_at < end
                and (not endpoint_ids or r.job.endpoint_id in endpoint_ids)]

    # --- routes ----------------------------------------------------------------------------

    def usage(self, req: Request) -> Response:
        return self._keys.platform(req, admin=True) or self._usage(req)

    def _usage(self, req: Request) -> Response:
        start, end, timeframe, tz = self._series(req)
        endpoint_ids = params.multi(req, "endpoint_id")
        expand = params.multi(req, "expand") or ["time_series"]
        bad = [e for e in expand if e not in USAGE_EXPANDS]
        if bad:
            raise params.BadParam(f"Unknown expand value(s) {bad}; allowed {list(USAGE_EXPANDS)}")
        if not {"time_series", "summary"} & set(expand):
            raise params.BadParam("expand needs time_series or summary")
        charges = self.charges(self._in_window(start, end, endpoint_ids))

        def items(group: list[Charge]) -> list[dict[str, Any]]:
            by_endpoint: dict[str, list[Charge]] = {}
            for c in group:
                by_endpoint.setdefault(c.rec.job.endpoint_id, []).append(c)
            out = []
            for endpoint_id, cs in sorted(by_endpoint.items()):
                cost = round(sum(c.cost for c in cs), 6)
                item = {"endpoint_id": endpoint_id, "unit": cs[0].unit,
                        "quantity": round(sum(c.units for c in cs), 6), "unit_price": cs[0].unit_price,
                        "percent_discount": None, "cost_subtotal": cost, "cost_discount": 0.0,
                        "cost_total": cost, "cost": cost, "currency": CURRENCY}
                if "auth_method" in expand:
                    item["auth_method"] = "api_key"
                if "auth_method_structured" in expand:
                    item["auth_method_structured"] = {"detail": "api_key"}
                out.append(item)
            return out

        body: dict[str, Any] = {"next_cursor": None, "has_more": False}
        if "time_series" in expand:
            body["time_series"], body["next_cursor"], body["has_more"] = _time_series(
                req, charges, lambda c: c.rec.ended_at, items, timeframe, tz)
        if "summary" in expand:
            body["summary"] = items(charges)
        return json_response(200, body)

    def analytics(self, req: Request) -> Response:
        return self._keys.platform(req) or self._analytics(req)

    def _analytics(self, req: Request) -> Response:
        endpoint_ids = params.multi(req, "endpoint_id")
        if not endpoint_ids:
            raise params.BadParam("endpoint_id is required")
        unknown = unknown_endpoint(self._catalogue, endpoint_ids)
        if unknown:
            return unknown
        start, end, timeframe, tz = self._series(req)
        expand = params.multi(req, "expand") or ["time_series", "request_count"]
        bad = [e for e in expand if e not in (*METRICS, "time_series", "summary")]
        if bad:
            raise params.BadParam(f"Unknown expand value(s) {bad}; allowed {['time_series', 'summary', *METRICS]}")
        metrics = [m for m in expand if m in METRICS] or ["request_count"]
        recs = self._in_window(start, end, endpoint_ids)

        def results(group: list[Record]) -> list[dict[str, Any]]:
            out = []
            for endpoint_id in endpoint_ids:
                mine = [r for r in group if r.job.endpoint_id == endpoint_id]
                if not mine:
                    continue
                durations = [r.duration for r in mine if r.duration is not None]
                row: dict[str, Any] = {"endpoint_id": endpoint_id}
                for m in metrics:
                    if m in PERCENTILES:
                        row[m] = percentile(durations, PERCENTILES[m])
                    elif m == "total_billable_duration":
                        row[m] = round(sum(r.duration or 0.0 for r in mine if r.status_class == "success"), 6)
                    elif m == "request_count":
                        row[m] = len(mine)
                    elif m == "timeout_error_count":
                        row[m] = sum(1 for r in mine if r.status_code == 504)
                    else:
                        row[m] = sum(1 for r in mine if r.status_class == m[:-len("_count")])
                out.append(row)
            return out

        body: dict[str, Any] = {"next_cursor": None, "has_more": False}
        if "summary" in expand or "time_series" not in expand:
            body["summary"] = results(recs)
        if "time_series" in expand:
            body["time_series"], body["next_cursor"], body["has_more"] = _time_series(
                req, recs, lambda r: r.ended_at, results, timeframe, tz)
        return json_response(200, body)

    def billing_events(self, req: Request) -> Response:
        return self._keys.platform(req, admin=True) or self._billing_events(req)

    def _billing_events(self, req: Request) -> Response:
        start, end = params.window(req)
        if end - start > EVENTS_MAX_RANGE.total_seconds():
            raise params.BadParam("The time range can be at most 90 days")
        endpoint_ids = params.multi(req, "endpoint_id")
        charges = sorted(self.charges(self._in_window(start, end, endpoint_ids)),
                         key=lambda c: c.rec.ended_at or 0.0, reverse=True)
        events = [{"request_id": c.rec.job.request_id, "endpoint_id": c.rec.job.endpoint_id,
                   "timestamp": datetime.fromtimestamp(c.rec.ended_at or 0.0, timezone.utc).isoformat(),
                   "output_units": c.units, "unit_price": c.unit_price, "unit": c.unit,
                   "percent_discount": None, "cost_subtotal": c.cost, "cost_discount": 0.0,
                   "cost_total": c.cost, "cost_estimate_nano_usd": int(round(c.cost * 1e9)),
                   "currency": CURRENCY} for c in charges]
        chunk, next_cursor, has_more = params.paginate(events, req, EVENTS_DEFAULT, EVENTS_MAX)
        return json_response(200, {"billing_events": chunk, "next_cursor": next_cursor, "has_more": has_more})

    def billing(self, req: Request) -> Response:
        denied = self._keys.platform(req, admin=True)
        if denied:
            return denied
        expand = params.multi(req, "expand")
        bad = [e for e in expand if e != "credits"]
        if bad:
            return platform_error(400, "validation_error", f"Unknown expand value(s) {bad}; allowed ['credits']")
        body: dict[str, Any] = {"username": self._user}
        if expand:
            body["credits"] = {"current_balance": self.balance(), "currency": CURRENCY}
        return json_response(200, body)
