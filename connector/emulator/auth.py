"""API-key checks, and the admin scope.

With ``api_key=None`` the emulator accepts any key and no key; with a key it demands
``Authorization: Key <key>`` exactly. The wire bodies of fal's 401 are not documented for the
inference hosts: we answer FastAPI-style ``{"detail"}`` there and the platform's error envelope
under /v1.

fal keys have a scope, ``API`` or ``ADMIN``; a few platform operations (usage, billing events,
account billing, payload deletion) want an ADMIN key and answer an ordinary one with
403 ``authorization_error`` "Access denied". The emulator knows its admin key because it is
told (``Emulator(admin_key=...)``, ``--admin-key``): that key is accepted everywhere, any other
accepted key is ordinary. Without an admin key every accepted key has the admin scope.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .wire import Request, Response, detail, json_response

SEND_KEY = "send 'Authorization: Key <FAL_KEY>'"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def platform_error(status: int, type_: str, message: str) -> Response:
    return json_response(status, {"error": {"type": type_, "message": message}})


@dataclass(frozen=True)
class Keys:
    api_key: str | None = None
    admin_key: str | None = None

    def _presented(self, req: Request) -> tuple[str | None, str | None]:
        """(the key sent, or None; why the header is unusable, or None)."""
        header = req.headers.get("Authorization")
        if not header:
            return None, f"Missing Authorization header: {SEND_KEY}"
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "key":
            return None, f"Unsupported authorization scheme {scheme!r}: {SEND_KEY}"
        return value.strip(), None

    def problem(self, req: Request) -> str | None:
        """Why the request's key is not acceptable, or None when it is."""
        if self.api_key is None:
            return None
        key, problem = self._presented(req)
        if problem is not None or key is None:
            return problem
        if _same(key, self.api_key) or (self.admin_key is not None and _same(key, self.admin_key)):
            return None
        return "Invalid API key"

    def is_admin(self, req: Request) -> bool:
        if self.admin_key is None:
            return True
        key, _ = self._presented(req)
        return key is not None and _same(key, self.admin_key)

    def require(self, req: Request) -> Response | None:
        """Inference hosts and storage: 401 ``{"detail"}``."""
        problem = self.problem(req)
        return None if problem is None else detail(401, problem)

    def platform(self, req: Request, *, optional: bool = False, admin: bool = False) -> Response | None:
        """Platform API auth. ``optional`` (GET /v1/models) lets keyless requests through but
        still rejects a wrong key; ``admin`` wants the admin key (401 without a key, 403 with an
        ordinary one)."""
        sent = req.headers.get("Authorization")
        if optional and not sent:
            return None
        problem = self.problem(req)
        if admin and problem is None and self.admin_key is not None:
            key, problem = self._presented(req)
            if problem is None and not (key is not None and _same(key, self.admin_key)):
                return platform_error(403, "authorization_error", "Access denied: this operation needs an admin key")
        if problem is None:
            return None
        return platform_error(401, "authorization_error", "Authentication required" if not sent else problem)
