"""URL routing: one base URL serves every fal host (the queue layout as fal's).

* ``/{owner}/{app}[/path]`` (and ``workflows/`` / ``comfy/`` 3-part ids) — queue API;
* ``/run/...`` — sync run; ``/v1/...`` — platform API; ``/.well-known/jwks.json``;
* ``/storage/...`` (REST storage) and ``/cdn/...`` (upload host, stored files, images);
* ``/_emulator/...`` — the control API.

``resolve`` only picks a handler; nothing here touches sockets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import control, params
from .auth import platform_error
from .models import NAMESPACES
from .wire import Request, Response, detail, json_response

SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Route:
    name: str | None  # fault route name (None: faults never apply)
    call: Callable[[Request], Response]
    app_id: str | None = None
    endpoint_id: str | None = None
    fal_host: bool = False  # queue/run hosts: every answer carries x-fal-request-id
    platform: bool = False  # /v1: errors use the platform envelope


# --- routing ---------------------------------------------------------------------------------

def _fixed(resp: Response) -> Callable[[Request], Response]:
    return lambda req: resp


def _not_found(message: str = "Not Found", **kw: Any) -> Route:
    return Route(None, _fixed(detail(404, message)), **kw)


def _method_not_allowed(allowed: str, **kw: Any) -> Route:
    resp = detail(405, "Method Not Allowed")
    resp.headers["Allow"] = allowed
    return Route(None, _fixed(resp), **kw)


def _inference_route(emu: Any, method: str, segs: list[str], run: bool) -> Route:
    """Queue host at the root, sync run host under /run (one base URL)."""
    host: dict[str, Any] = {"fal_host": True}
    if not segs or not all(SEGMENT.match(s) for s in segs):
        return _not_found(**host)
    n = 3 if segs[0] in NAMESPACES else 2
    if len(segs) < n:  # bare alias such as "fast-sdxl": fal's server behaviour is unknown; 404
        return _not_found(f"Application '{'/'.join(segs)}' not found; use owner/app", **host)
    app_id, endpoint_id = "/".join(segs[:n]), "/".join(segs)
    where: dict[str, Any] = {"app_id": app_id, "endpoint_id": endpoint_id, **host}
    queue = emu._queue
    if run:
        if method != "POST":
            return _method_not_allowed("POST", **host)
        return Route("run", lambda req: queue.run(req, app_id, endpoint_id), **where)
    if "requests" in segs[n:]:
        i = segs.index("requests", n)
        rest = segs[i + 1:]
        # The full-endpoint form (owner/app/path/requests/...) is accepted; the path is ignored.
        where["endpoint_id"] = "/".join(segs[:i])
        table = {
            1: ("result", "GET", queue.result),
            2: ("status", "GET", queue.status) if rest[1:] == ["status"] else
               ("cancel", "PUT", queue.cancel) if rest[1:] == ["cancel"] else None,
            3: ("stream", "GET", queue.stream) if rest[1:] == ["status", "stream"] else None,
        }.get(len(rest))
        if table is not None:
            name, allowed, fn = table
            if method != allowed:
                return _method_not_allowed(allowed, **host)
            rid = rest[0]
            return Route(name, lambda req: fn(req, app_id, rid), **where)
    if method != "POST":
        return _method_not_allowed("POST", **host)
    return Route("submit", lambda req: queue.submit(req, app_id, endpoint_id), **where)


def _platform_table(emu: Any, segs: list[str]) -> tuple[str, str, Callable[[Request], Response]] | None:
    """(fault route name, method, handler) of a /v1 path, or None."""
    api, history, account, workflows = emu._platform, emu._history_api, emu._account, emu._workflows
    table: dict[tuple[str, ...], tuple[str, str, Callable[[Request], Response]]] = {
        ("models",): ("models", "GET", api.models), ("models", "pricing"): ("pricing", "GET", api.pricing),
        ("models", "pricing", "estimate"): ("estimate", "POST", api.estimate),
        ("models", "requests", "by-endpoint"): ("requests", "GET", history.by_endpoint),
        ("models", "requests", "search"): ("requests", "GET", history.search),
        ("models", "usage"): ("usage", "GET", account.usage),
        ("models", "analytics"): ("analytics", "GET", account.analytics),
        ("models", "billing-events"): ("billing_events", "GET", account.billing_events),
        ("account", "billing"): ("billing", "GET", account.billing),
        ("workflows",): ("workflows", "GET", workflows.list),
        ("storage", "files", "sign"): ("sign", "POST", emu._storage.sign),
    }
    entry = table.get(tuple(segs))
    if entry is not None:
        return entry
    if len(segs) == 4 and segs[:2] == ["models", "requests"] and segs[3] == "payloads":
        rid = segs[2]
        return "payloads", "DELETE", lambda req: history.delete_payloads(req, rid)
    if len(segs) == 3 and segs[0] == "workflows":
        owner, name = segs[1], segs[2]
        return "workflows", "GET", lambda req: workflows.get(req, owner, name)
    return None


def _platform_route(emu: Any, method: str, segs: list[str]) -> Route:
    entry = _platform_table(emu, segs)
    if entry is None:
        return Route(None, _fixed(platform_error(404, "not_found", "Resource not found")), platform=True)
    name, allowed, fn = entry
    if method != allowed:
        refused = platform_error(405, "validation_error", f"Method not allowed; use {allowed}")
        refused.headers["Allow"] = allowed
        return Route(None, _fixed(refused), platform=True)
    return Route(name, _validated(fn), platform=True)


def _validated(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A platform route whose query a parser refused (``params.BadParam``) answers fal's 400."""

    def route(req: Request) -> Response:
        try:
            return fn(req)
        except params.BadParam as e:
            return platform_error(400, "validation_error", str(e))

    return route


def _storage_route(emu: Any, method: str, segs: list[str]) -> Route:
    st = emu._storage
    if segs == ["auth", "token"] and method == "POST":
        return Route("storage_token", st.token)
    if segs == ["upload", "initiate"] and method == "POST":
        return Route("upload_initiate", st.initiate)
    if len(segs) == 3 and segs[:2] == ["upload", "put"] and method == "PUT":
        return Route("upload", lambda req: st.signed_put(req, segs[2]))
    return _not_found()


def _cdn_route(emu: Any, method: str, segs: list[str]) -> Route:
    st = emu._storage
    if segs == ["files", "upload"] and method == "POST":
        return Route("upload", st.upload)
    if segs == ["files", "upload", "multipart"] and method == "POST":
        return Route("multipart", st.multipart_create)
    if segs[:1] == ["images"] and method == "GET":
        return Route("file", st.get_image)
    if len(segs) >= 3 and segs[0] == "files":
        if len(segs) >= 6 and segs[3] == "multipart":
            file_path = "/cdn/" + "/".join(segs[:3])
            if len(segs) == 6 and segs[5] == "complete" and method == "POST":
                return Route("multipart", lambda req: st.multipart_complete(req, file_path, segs[4]))
            if len(segs) == 6 and method == "PUT":
                return Route("multipart", lambda req: st.multipart_part(req, file_path, segs[4], segs[5]))
        elif len(segs) == 3 and method == "GET":
            return Route("file", st.get_file)
    return _not_found()


def resolve(emu: Any, method: str, path: str) -> Route:
    if len(path) > 1 and path.endswith("/"):  # fal's SDK polls ".../status/" with a slash
        path = path[:-1]
    segs = path.split("/")[1:]
    top = segs[0] if segs else ""
    if top == "run":
        return _inference_route(emu, method, segs[1:], run=True)
    if top == "v1":
        return _platform_route(emu, method, segs[1:])
    if top == ".well-known":
        if segs[1:] == ["jwks.json"] and method == "GET":
            return Route("jwks", lambda req: json_response(200, emu.jwks(), {"Cache-Control": "max-age=3600"}))
        return _not_found()
    if top == "storage":
        return _storage_route(emu, method, segs[1:])
    if top == "cdn":
        return _cdn_route(emu, method, segs[1:])
    if top == "_emulator":
        return Route(None, lambda req: control.handle(emu, req, segs[1:]))
    return _inference_route(emu, method, segs, run=False)
