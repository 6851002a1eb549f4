"""fal endpoint ids: parsing, validation and the URL paths they map to.

``owner/app[/path…]``; ``workflows/owner/app[/…]`` and ``comfy/owner/app[/…]`` keep their
namespace; a bare alias ``fast-sdxl`` means ``fal-ai/fast-sdxl``. Submit and run use the
whole id; status, stream, result and cancel use only ``[namespace/]owner/app`` (fal's
gateway strips sub-paths there, and both official clients build those URLs that way).
Validation is strict because ids become URL paths: nothing a caller types may change the
path or host of a request.
"""

from __future__ import annotations

import re

from connector.errors import InvalidInputError
from connector.record import Frozen

NAMESPACES = ("workflows", "comfy")
DEFAULT_OWNER = "fal-ai"
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
MAX_APP_ID = 512


class AppId(Frozen):
    __slots__ = _fields = ("owner", "app", "path", "namespace")
    owner: str
    app: str
    path: tuple[str, ...]
    namespace: str | None

    def __init__(self, owner: str, app: str, path: tuple[str, ...] = (), namespace: str | None = None) -> None:
        self._set(owner=owner, app=app, path=path, namespace=namespace)

    @property
    def app_path(self) -> str:
        """``[namespace/]owner/app``: the base of request-scoped queue URLs."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{prefix}{self.owner}/{self.app}"

    @property
    def endpoint(self) -> str:
        """The whole endpoint id, as submit and run use it."""
        return "/".join((self.app_path, *self.path))

    def request_path(self, request_id: str, suffix: str = "") -> str:
        return f"/{self.app_path}/requests/{request_id}{suffix}"


def parse_app_id(value: object, field: str = "app_id") -> AppId:
    if not isinstance(value, str):
        raise InvalidInputError(field, f"expected a string like 'fal-ai/flux/dev', got {type(value).__name__}")
    if not value or len(value) > MAX_APP_ID:
        raise InvalidInputError(field, f"expected 1 to {MAX_APP_ID} characters")
    segments = value.split("/")
    for seg in segments:
        if not _SEGMENT.match(seg):
            shown = seg if seg else "(empty)"
            raise InvalidInputError(
                field,
                f"segment {shown!r} of {value!r} is not allowed: each '/'-separated part must start "
                "with a letter or digit and contain only letters, digits, '.', '_' or '-'",
            )
    namespace = None
    if segments[0] in NAMESPACES:
        namespace, segments = segments[0], segments[1:]
        if len(segments) < 2:
            raise InvalidInputError(field, f"'{namespace}/' must be followed by owner/app, got {value!r}")
    if len(segments) == 1:
        segments = [DEFAULT_OWNER, segments[0]]
    return AppId(owner=segments[0], app=segments[1], path=tuple(segments[2:]), namespace=namespace)


def check_request_id(value: object, field: str = "request_id") -> str:
    if not isinstance(value, str) or not _REQUEST_ID.match(value):
        raise InvalidInputError(
            field,
            "expected 1 to 128 letters, digits, '.', '_' or '-' starting with a letter or digit "
            f"(like the UUID submit returned), got {value!r}",
        )
    return value
