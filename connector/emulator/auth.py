"""API-key checks. With ``api_key=None`` the emulator accepts any key and no key; with a key
it demands ``Authorization: Key <key>`` exactly. The wire bodies of fal's 401 are not
documented for the inference hosts: we answer FastAPI-style ``{"detail"}``
there and the platform's error envelope under /v1."""

from __future__ import annotations

import hmac

from .wire import Request, Response, detail, json_response


def key_problem(api_key: str | None, req: Request) -> str | None:
    """Why the request's key is not acceptable, or None when it is."""
    if api_key is None:
        return None
    header = req.headers.get("Authorization")
    if not header:
        return "Missing Authorization header: send 'Authorization: Key <FAL_KEY>'"
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "key":
        return f"Unsupported authorization scheme {scheme!r}: send 'Authorization: Key <FAL_KEY>'"
    if not hmac.compare_digest(value.strip().encode(), api_key.encode()):
        return "Invalid API key"
    return None


def require_key(api_key: str | None, req: Request) -> Response | None:
    problem = key_problem(api_key, req)
    return None if problem is None else detail(401, problem)


def platform_error(status: int, type_: str, message: str) -> Response:
    return json_response(status, {"error": {"type": type_, "message": message}})


def require_platform_key(api_key: str | None, req: Request, *, optional: bool = False) -> Response | None:
    """Platform API auth; ``optional`` (GET /v1/models) lets keyless requests through but still
    rejects a wrong key."""
    if optional and not req.headers.get("Authorization"):
        return None
    problem = key_problem(api_key, req)
    if problem is None:
        return None
    message = "Authentication required" if not req.headers.get("Authorization") else problem
    return platform_error(401, "authorization_error", message)
