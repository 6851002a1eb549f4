"""``upload_file``: put a local file (or base64 bytes) on fal's CDN and return its URL.

As fal_client does it: a CDN token from the REST host, then one POST for
files up to the multipart threshold, or multipart (fixed-size parts sent 4 at a time, each
ETag checked, then complete) above it; if the CDN path fails, the storage fallback (initiate
+ PUT to a signed URL). The CDN gets the short-lived token, never the API key; the signed upload URL
gets nothing.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connector.errors import ActionError, InvalidInputError
from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions, manifest_operation
from connector.models import Action
from connector.plugin_state import PerConnector

TOKEN_MARGIN = 60  # refresh a CDN token this long before it expires
PARALLEL_PARTS = 4  # multipart parts on the wire at once (fal_client uses 10; this bounds memory)


class _Source:
    """The bytes to upload: a local file read part by part, or decoded base64 in memory."""

    def __init__(self, inputs: dict[str, Any]) -> None:
        self.path = inputs.get("path")
        if self.path is not None:
            if not os.path.isfile(self.path):
                raise InvalidInputError("path", f"{self.path!r} is not a readable file")
            try:
                self.size = os.path.getsize(self.path)
                with open(self.path, "rb"):
                    pass
            except OSError as exc:
                raise InvalidInputError("path", f"cannot read {self.path!r}: {exc.strerror}") from None
            self.data = None
            self.name = inputs.get("file_name") or os.path.basename(self.path)
        else:
            try:
                self.data = base64.b64decode(inputs["data_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInputError("data_base64", "is not valid base64") from None
            self.size = len(self.data)
            self.name = inputs["file_name"]
        guessed = mimetypes.guess_type(self.name)[0]
        self.content_type = inputs.get("content_type") or guessed or "application/octet-stream"

    def read_all(self) -> bytes:
        if self.data is not None:
            return self.data
        with open(str(self.path), "rb") as fh:
            return fh.read()

    def parts(self, part_size: int) -> Any:
        """Yield (part number, bytes), reading a file one part at a time."""
        if self.data is not None:
            for number, start in enumerate(range(0, max(self.size, 1), part_size), 1):
                yield number, self.data[start : start + part_size]
            return
        with open(str(self.path), "rb") as fh:
            number = 1
            while chunk := fh.read(part_size):
                yield number, chunk
                number += 1


class _TokenCache:
    """The CDN token, reused by a Connector's threads until shortly before it expires."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: dict[str, Any] | None = None
        self.expires = 0.0


_TOKENS = PerConnector(_TokenCache)  # this plugin's CDN token, one per Connector


def upload_file(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    source = _Source(inputs)
    ctx.require_key()
    try:
        url = _upload_cdn(ctx, source, inputs)
    except ActionError as exc:
        if exc.type in ("auth_error", "missing_credentials", "invalid_input"):
            raise
        ctx.emit("upload_fallback", reason=exc.message)
        url = _upload_storage(ctx, source, inputs)
    return {"url": url, "size": source.size, "content_type": source.content_type}


def _cdn_token(ctx: Any) -> dict[str, Any]:
    cache = _TOKENS.get(ctx)
    with cache.lock:
        if cache.token is None or time.time() > cache.expires - TOKEN_MARGIN:
            response = manifest_operation("upload_file", "cdn_token").send(ctx, {}, json={})
            token = ctx.require_fields(ctx.json(response, "CDN token"), "CDN token", "token")
            cache.token, cache.expires = token, _expiry(token.get("expires_at"))
        return dict(cache.token)


def _expiry(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 300  # unknown expiry: keep it briefly


# ``inputs`` go to the declared operations, which send the declared headers (object_lifecycle).
def _upload_cdn(ctx: Any, source: _Source, inputs: dict[str, Any]) -> str:
    token = _cdn_token(ctx)
    base = str(token.get("base_url") or ctx.config.cdn_url).rstrip("/")
    headers = {
        "Authorization": f"{token.get('token_type', 'Bearer')} {token['token']}",
        "Content-Type": source.content_type,
        "X-Fal-File-Name": header_file_name(source.name),
    }
    if source.size <= ctx.config.upload_multipart_threshold:
        response = manifest_operation("upload_file").send(ctx, inputs, base_url=base, data=source.read_all(), headers=headers)
        return _access_url(ctx, response, "CDN upload")
    return _upload_multipart(ctx, source, inputs, base, headers)


def header_file_name(name: str) -> str:
    """``name`` as an HTTP header value: as is when it is printable ASCII, else percent-encoded
    UTF-8 (``фото.png`` -> ``%D1%84%D0%BE%D1%82%D0%BE.png``), as browsers and fal's JS client
    send names. A header holds Latin-1 at most, and no control characters at all."""
    if name.isascii() and name.isprintable():
        return name
    return quote(name, safe=" !#$&'()+,;=@[]^`{}~")


def _upload_multipart(ctx: Any, source: _Source, inputs: dict[str, Any], base: str, headers: dict[str, str]) -> str:
    response = manifest_operation("upload_file", "multipart").send(ctx, inputs, base_url=base, headers=headers, json=None, data=b"")
    started = ctx.require_fields(ctx.json(response, "multipart upload"), "multipart upload", "access_url", "uploadId")
    access_url, upload_id = str(started["access_url"]), str(started["uploadId"])
    auth = {"Authorization": headers["Authorization"], "Accept-Encoding": "identity"}
    parts = _put_parts(ctx, source, f"{access_url}/multipart/{upload_id}", auth)
    response = ctx.request("POST", f"{access_url}/multipart/{upload_id}/complete", json={"parts": parts}, headers=auth, auth=False)
    body = ctx.json(response, "multipart complete") if response.content else {}
    return str(body.get("access_url") or access_url) if isinstance(body, dict) else access_url


def _put_parts(ctx: Any, source: _Source, url: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    """PUT every part, PARALLEL_PARTS at a time; the parts' numbers and ETags in order.

    Parts are read one by one as slots free up, so at most PARALLEL_PARTS + 1 parts are in
    memory however large the file. The first failed part stops the upload: no new part is
    started and the error is raised once the parts already on the wire have ended.
    """

    def put(number: int, chunk: bytes) -> dict[str, Any]:
        response = ctx.request("PUT", f"{url}/{number}", data=chunk, headers=auth, auth=False)
        etag = response.headers.get("ETag")
        if not etag:
            raise ActionError("invalid_response", f"multipart upload: part {number} was stored without an ETag", status_code=response.status_code)
        return {"partNumber": number, "etag": etag}

    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait  # here: only an upload needs it (start-up time)

    parts: list[dict[str, Any]] = []
    running: set[Future[dict[str, Any]]] = set()
    with ThreadPoolExecutor(PARALLEL_PARTS, thread_name_prefix="fal-connector-upload") as pool:
        try:
            for number, chunk in source.parts(ctx.config.upload_part_size):
                if len(running) == PARALLEL_PARTS:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    parts += [future.result() for future in done]
                running.add(pool.submit(put, number, chunk))
            done, running = wait(running)
            parts += [future.result() for future in done]
        except BaseException:
            for future in running:
                future.cancel()
            raise
    return sorted(parts, key=lambda part: int(part["partNumber"]))


def _upload_storage(ctx: Any, source: _Source, inputs: dict[str, Any]) -> str:
    response = manifest_operation("upload_file", "storage").send(
        ctx, inputs, json={"file_name": source.name, "content_type": source.content_type})
    target = ctx.require_fields(ctx.json(response, "storage upload"), "storage upload", "upload_url", "file_url")
    ctx.request("PUT", str(target["upload_url"]), data=source.read_all(), headers={"Content-Type": source.content_type}, auth=False)
    return str(target["file_url"])


def _access_url(ctx: Any, response: Any, what: str) -> str:
    body = ctx.require_fields(ctx.json(response, what), what, "access_url")
    return str(body["access_url"])


HANDLERS = {"upload_file": upload_file}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
