"""Workflows (platform API): the catalogue's ``workflows/{owner}/{name}`` entries.

* ``GET /v1/workflows`` (``search``, ``used_endpoint_ids``, ``limit``/``cursor``) ->
  ``{"workflows": [...], "next_cursor", "has_more", "total"}``;
* ``GET /v1/workflows/{username}/{workflow_name}`` -> ``{"workflow": {..., "contents"}}``, where
  ``contents.schema.input`` describes the workflow's input fields (fal's field descriptors,
  not JSON Schema). A workflow runs through the queue at ``workflows/{owner}/{name}``.
"""

from __future__ import annotations

import re
from typing import Any

from . import params
from .auth import Keys, platform_error
from .models import FIXED_DATE, Catalogue, ModelSpec
from .wire import Request, Response, json_response

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
LIST_DEFAULT, LIST_MAX = 50, 100
# The model each emulated workflow's single node runs (its "used endpoint").
NODE_APP = {"echo": "fal-ai/echo", "image": "fal-ai/flux/dev"}


def _summary(spec: ModelSpec) -> dict[str, Any]:
    _, owner, name = spec.endpoint_id.split("/", 2)
    return {"name": name, "title": spec.display_name, "user_nickname": owner, "created_at": FIXED_DATE,
            "thumbnail_url": None, "description": spec.description, "tags": list(spec.tags),
            "endpoint_ids": [NODE_APP.get(spec.kind, "fal-ai/echo")]}


def contents(spec: ModelSpec) -> dict[str, Any]:
    """A one-node workflow definition in fal's format: input -> the node's app -> output."""
    app = NODE_APP.get(spec.kind, "fal-ai/echo")
    return {
        "name": spec.endpoint_id.rsplit("/", 1)[1], "version": "1.0.0",
        "nodes": {
            "node-main": {"id": "node-main", "type": "run", "app": app, "depends": ["input"],
                          "input": {"prompt": "$input.prompt"}},
            "output": {"id": "output", "type": "display", "depends": ["node-main"], "input": {},
                       "fields": {"result": "$node-main"}},
        },
        "output": {"result": "$node-main"},
        "schema": {
            "input": {"prompt": {"name": "prompt", "label": "Prompt", "type": "string", "required": True,
                                 "modelId": "node-main"}},
            "output": {"result": {"name": "result", "label": "Result", "type": "object", "modelId": "node-main"}},
        },
    }


class WorkflowsAPI:
    def __init__(self, catalogue: Catalogue, keys: Keys) -> None:
        self._catalogue, self._keys = catalogue, keys

    def list(self, req: Request) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        search = (req.arg("search") or "").strip().lower()
        used = set(params.multi(req, "used_endpoint_ids"))
        items = [_summary(s) for s in self._catalogue.workflows()]
        if search:
            items = [w for w in items if search in w["name"].lower() or search in w["title"].lower()]
        if used:
            items = [w for w in items if used & set(w["endpoint_ids"])]
        chunk, next_cursor, has_more = params.paginate(items, req, LIST_DEFAULT, LIST_MAX)
        return json_response(200, {"workflows": chunk, "next_cursor": next_cursor, "has_more": has_more,
                                   "total": len(items)})

    def get(self, req: Request, username: str, name: str) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        if not (NAME.match(username) and NAME.match(name)):
            return platform_error(400, "validation_error",
                                  "username and workflow_name must match ^[a-zA-Z0-9_-]+$ (1-128 characters)")
        spec = self._catalogue.get(f"workflows/{username}/{name}")
        if spec is None:
            return platform_error(404, "not_found", f"Workflow not found: {username}/{name}")
        return json_response(200, {"workflow": {**_summary(spec), "is_public": True, "contents": contents(spec)}})
