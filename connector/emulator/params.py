"""Query parameters of the platform API (/v1), parsed the same way on every route.

A parser returns the value, or raises :class:`BadParam`, which a route turns into fal's 400
``{"error": {"type": "validation_error", "message"}}``. Cursors are opaque to clients; fal's
"encodes the page number", so ours is base64 of the 1-based page ("Mg==" is page 2).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from .wire import Request

T = TypeVar("T")
DEFAULT_WINDOW = timedelta(hours=24)  # fal's default time range when start/end are absent


class BadParam(ValueError):
    """A query parameter fal would refuse with 400 validation_error."""


def multi(req: Request, name: str) -> list[str]:
    """Repeated ``?x=a&x=b`` and comma-separated ``?x=a,b`` both work."""
    return [v.strip() for raw in req.query.get(name, []) for v in raw.split(",") if v.strip()]


def cursor_for(page: int) -> str:
    return base64.b64encode(str(page).encode()).decode()


def page_of(cursor: str | None) -> int | None:
    """The 1-based page a cursor encodes; None for a cursor we never handed out."""
    if cursor is None or cursor == "":
        return 1
    try:
        page = int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return page if page >= 1 else None


def limit(req: Request, default: int, maximum: int) -> int:
    raw = req.arg("limit")
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        raise BadParam("limit must be an integer") from None
    if not 1 <= value <= maximum:
        raise BadParam(f"limit must be between 1 and {maximum}")
    return value


def page(req: Request) -> int:
    number = page_of(req.arg("cursor"))
    if number is None:
        raise BadParam("Invalid cursor")
    return number


def paginate(items: list[T], req: Request, default: int, maximum: int) -> tuple[list[T], str | None, bool]:
    """(this page's items, next_cursor, has_more) for ``limit``/``cursor``."""
    size, number = limit(req, default, maximum), page(req)
    start = (number - 1) * size
    chunk, has_more = items[start:start + size], start + size < len(items)
    return chunk, cursor_for(number + 1) if has_more else None, has_more


def instant(req: Request, name: str) -> datetime | None:
    """An ISO 8601 date-time (``2025-01-01T00:00:00Z``) or date (``2025-01-01``), as UTC."""
    raw = req.arg(name)
    if raw in (None, ""):
        return None
    assert raw is not None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadParam(f"{name} must be an ISO 8601 date or date-time, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def window(req: Request, default: timedelta = DEFAULT_WINDOW) -> tuple[float, float]:
    """[start, end) as epoch seconds: ``end`` defaults to now, ``start`` to ``end - default``."""
    end = instant(req, "end") or datetime.now(timezone.utc)
    start = instant(req, "start") or end - default
    if start >= end:
        raise BadParam("start must be before end")
    return start.timestamp(), end.timestamp()


def one_of(req: Request, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = req.arg(name)
    if value in (None, ""):
        return default
    if value not in allowed:
        raise BadParam(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value
