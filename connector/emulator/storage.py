"""File upload endpoints, as fal_client 1.0.3 drives them.

* ``POST /storage/auth/token?storage_type=fal-cdn-v3`` (Key auth) -> a CDN token;
* ``POST /cdn/files/upload`` (Bearer token, never the key) -> ``{"access_url"}``;
* multipart: ``POST /cdn/files/upload/multipart`` -> ``{"access_url","uploadId"}``,
  ``PUT {access_url}/multipart/{uploadId}/{n}`` -> ETag, ``POST .../complete`` with the etags;
* fallback: ``POST /storage/upload/initiate?storage_type=gcs`` (Key auth) ->
  ``{"upload_url","file_url"}``, then ``PUT upload_url`` (a signed URL: no auth header).

Stored files are served back by ``GET {access_url}``; ``files`` maps URL -> bytes. Uploads may carry
``X-Fal-Object-Lifecycle-Preference`` (a JSON object, kept in ``lifecycles``); ``POST
/v1/storage/files/sign?url=`` signs a served file's URL for ``expiration_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .auth import Keys, platform_error
from .jobs import iso
from .outputs import MAX_IMAGE_SIDE, solid_png
from .wire import LIFECYCLE_HEADER, Request, Response, detail, json_object, json_response

TOKEN_TTL = 3600.0
MAX_SIGN_SECONDS = 604800  # fal: a signed URL lives at most 7 days
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_IMAGE = re.compile(r"^/cdn/images/(\d{1,5})x(\d{1,5})/([0-9a-f]{6})\.png$")


def safe_name(name: str | None, content_type: str | None = None) -> str:
    if not name:
        ext = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ".bin"
        return "upload" + ext
    name = _SAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1])[:128]
    return name if name and not name.startswith(".") else "_" + name


@dataclass
class _Multipart:
    access_url: str
    content_type: str
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # n -> (etag, data)


class Storage:
    def __init__(self, base_url: Callable[[], str], keys: Keys) -> None:
        self._base_url = base_url
        self._keys = keys
        self._lock = threading.Lock()
        self.files: dict[str, bytes] = {}  # access URL -> bytes (public: emu.files)
        self._types: dict[str, str] = {}  # access URL -> content type
        self._tokens: dict[str, float] = {}  # token -> expiry (epoch)
        self._multipart: dict[str, _Multipart] = {}
        self._signed: dict[str, tuple[str, str, str]] = {}  # upload id -> (signature, file url, type)
        self.lifecycles: dict[str, Any] = {}  # access URL -> X-Fal-Object-Lifecycle-Preference sent
        self.signed_urls: list[dict[str, Any]] = []  # what /v1/storage/files/sign issued

    # --- tokens and auth -------------------------------------------------------------------

    def token(self, req: Request) -> Response:
        denied = self._keys.require(req)
        if denied:
            return denied
        if req.arg("storage_type") != "fal-cdn-v3":
            return detail(400, "Unsupported storage_type; expected fal-cdn-v3")
        token, expires = secrets.token_urlsafe(24), time.time() + TOKEN_TTL
        with self._lock:
            self._tokens[token] = expires
        return json_response(200, {"token": token, "token_type": "Bearer",
                                   "base_url": self._base_url() + "/cdn", "expires_at": iso(expires)})

    def _cdn_auth(self, req: Request) -> Response | None:
        """The CDN takes only a storage token. An API key here means a client leaked it to the
        upload host, which is exactly what tests want to catch."""
        scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "key":
            return detail(401, "The CDN does not accept API keys; use a token from /storage/auth/token")
        if scheme.lower() != "bearer" or self._tokens.get(value.strip(), 0) < time.time():
            return detail(401, "Missing, unknown or expired CDN token")
        return None

    def _new_file(self, req: Request) -> tuple[str, str]:
        """A fresh access URL for the upload's file name, and its content type."""
        ctype = req.headers.get("Content-Type") or "application/octet-stream"
        name = safe_name(req.headers.get("X-Fal-File-Name"), ctype)
        return f"{self._base_url()}/cdn/files/{uuid.uuid4().hex}/{name}", ctype

    def _keep_lifecycle(self, req: Request, url: str) -> Response | None:
        """Record the upload's lifecycle preference (a JSON object), or refuse a malformed one."""
        raw = req.headers.get(LIFECYCLE_HEADER)
        if raw is None:
            return None
        value = json_object(raw)
        if value is None:
            return detail(400, f"{LIFECYCLE_HEADER} must be a JSON object")
        with self._lock:
            self.lifecycles[url] = value
        return None

    def _store(self, url: str, ctype: str, data: bytes) -> None:
        with self._lock:
            self.files[url] = data
            self._types[url] = ctype

    # --- single and multipart CDN upload ---------------------------------------------------

    def _begin_file(self, req: Request) -> tuple[str, str] | Response:
        """A new file's URL and content type, its lifecycle kept; or the refusal (token, lifecycle)."""
        denied = self._cdn_auth(req)
        if denied:
            return denied
        url, ctype = self._new_file(req)
        return self._keep_lifecycle(req, url) or (url, ctype)

    def upload(self, req: Request) -> Response:
        begun = self._begin_file(req)
        if isinstance(begun, Response):
            return begun
        url, ctype = begun
        self._store(url, ctype, req.body)
        return json_response(200, {"access_url": url, "content_type": ctype, "size": len(req.body)})

    def multipart_create(self, req: Request) -> Response:
        begun = self._begin_file(req)
        if isinstance(begun, Response):
            return begun
        url, ctype = begun
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._multipart[upload_id] = _Multipart(url, ctype)
        return json_response(200, {"access_url": url, "uploadId": upload_id})

    def _upload_of(self, req: Request, file_path: str, upload_id: str) -> _Multipart | Response:
        """The multipart upload ``upload_id`` of the file, or the refusal (bad token, unknown)."""
        denied = self._cdn_auth(req)
        if denied:
            return denied
        mp = self._multipart.get(upload_id)
        if mp is None or mp.access_url != self._base_url() + file_path:
            return detail(404, "Unknown multipart upload")
        return mp

    def multipart_part(self, req: Request, file_path: str, upload_id: str, part: str) -> Response:
        mp = self._upload_of(req, file_path, upload_id)
        if isinstance(mp, Response):
            return mp
        if not part.isdigit() or not 1 <= int(part) <= 10000:
            return detail(400, "partNumber must be an integer 1..10000")
        etag = '"' + hashlib.md5(req.body).hexdigest() + '"'  # S3-style quoted MD5
        with self._lock:
            mp.parts[int(part)] = (etag, req.body)
        return Response(200, b"", {"ETag": etag})

    def multipart_complete(self, req: Request, file_path: str, upload_id: str) -> Response:
        mp = self._upload_of(req, file_path, upload_id)
        if isinstance(mp, Response):
            return mp
        try:
            parts = req.json()["parts"]
            listed = sorted((int(p["partNumber"]), str(p["etag"])) for p in parts)
        except (ValueError, TypeError, KeyError):
            return detail(400, 'Body must be {"parts": [{"partNumber": n, "etag": "..."}]}')
        if not listed or len({n for n, _ in listed}) != len(listed):
            return detail(400, "parts must be a non-empty list of distinct part numbers")
        for n, etag in listed:
            have = mp.parts.get(n)
            if have is None:
                return detail(400, f"part {n} was never uploaded")
            if have[0].strip('"') != etag.strip('"'):
                return detail(400, f"etag mismatch for part {n}")
        data = b"".join(mp.parts[n][1] for n, _ in listed)
        self._store(mp.access_url, mp.content_type, data)
        with self._lock:
            self._multipart.pop(upload_id, None)
        return json_response(200, {"access_url": mp.access_url})

    # --- fallback: signed-URL upload -------------------------------------------------------

    def initiate(self, req: Request) -> Response:
        denied = self._keys.require(req)
        if denied:
            return denied
        if req.arg("storage_type") not in ("gcs", "fal-cdn-v3"):
            return detail(400, "Unsupported storage_type; expected gcs or fal-cdn-v3")
        try:
            body = req.json() or {}
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return detail(400, 'Body must be {"file_name": ..., "content_type": ...}')
        ctype = body.get("content_type") or "application/octet-stream"
        upload_id, signature = uuid.uuid4().hex, secrets.token_urlsafe(16)
        base = self._base_url()
        file_url = f"{base}/cdn/files/{upload_id}/{safe_name(body.get('file_name'), ctype)}"
        refused = self._keep_lifecycle(req, file_url)
        if refused:
            return refused
        with self._lock:
            self._signed[upload_id] = (signature, file_url, ctype)
        return json_response(200, {"upload_url": f"{base}/storage/upload/put/{upload_id}?signature={signature}",
                                   "file_url": file_url})

    def signed_put(self, req: Request, upload_id: str) -> Response:
        entry = self._signed.get(upload_id)
        if entry is None or not hmac.compare_digest((req.arg("signature") or "").encode(), entry[0].encode()):
            return detail(403, "Invalid or expired upload URL")
        signature, file_url, ctype = entry
        self._store(file_url, req.headers.get("Content-Type") or ctype, req.body)
        return Response(200, b"")

    # --- signed URLs (platform API) --------------------------------------------------------

    def sign(self, req: Request) -> Response:
        """``POST /v1/storage/files/sign?url=…`` with ``{"expiration_seconds": 1..604800}`` ->
        ``{"signed_url"}``. The URL must be a file (or model image) this emulator serves."""
        denied = self._keys.platform(req)
        if denied:
            return denied
        url = req.arg("url") or ""
        if not url:
            return platform_error(400, "validation_error", "url is required")
        if "?" in url:
            return platform_error(400, "validation_error", "url must not contain query parameters")
        try:
            body = req.json()
        except ValueError:
            body = None
        seconds = body.get("expiration_seconds") if isinstance(body, dict) else None
        if type(seconds) is not int or not 1 <= seconds <= MAX_SIGN_SECONDS:
            return platform_error(400, "validation_error",
                                  f"expiration_seconds must be an integer 1..{MAX_SIGN_SECONDS}")
        base = self._base_url() + "/cdn/"
        served = url in self.files or (url.startswith(base + "images/") and _IMAGE.match(url[len(base) - 5:]))
        if not served:
            return platform_error(404, "not_found", "File not found")
        expires = int(time.time()) + seconds
        signed = f"{url}?identity={secrets.token_urlsafe(12)}&expires={expires}"
        with self._lock:
            self.signed_urls.append({"url": url, "expiration_seconds": seconds, "signed_url": signed})
        return json_response(200, {"signed_url": signed})

    # --- serving ---------------------------------------------------------------------------

    def get_file(self, req: Request) -> Response:
        url = self._base_url() + req.path
        data = self.files.get(url)
        if data is None:
            return detail(404, "File not found")
        return Response(200, data, {"Content-Type": self._types.get(url, "application/octet-stream")})

    @staticmethod
    def get_image(req: Request) -> Response:
        """The tiny PNGs image models point at: /cdn/images/{w}x{h}/{rrggbb}.png."""
        m = _IMAGE.match(req.path)
        if not m or not all(16 <= int(v) <= MAX_IMAGE_SIDE for v in m.group(1, 2)):
            return detail(404, "File not found")
        data = solid_png(int(m.group(1)), int(m.group(2)), m.group(3))
        return Response(200, data, {"Content-Type": "image/png", "Cache-Control": "max-age=3600"})
