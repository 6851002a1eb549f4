"""``download_file``: save the file at a URL (a model's output image, video, audio) to disk.

The body is streamed to a temporary file beside the destination and renamed into place only
once it is complete, so the destination never holds half a file; any failure removes the
temporary file. Only ``https`` URLs are fetched, or plain ``http`` on the origin of one of the
configured base URLs (the local emulator). Redirects are followed by hand, at most
``MAX_REDIRECTS`` hops, each hop checked by the same rule. The API key is never sent, not even
to a fal origin: result files are public URLs.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import time
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests

from connector.config import Config, origin_of
from connector.errors import ActionError, HTTPStatusError, InvalidInputError
from connector.hookspecs import hookimpl
from connector.http.client import write_body
from connector.manifest import manifest_actions
from connector.models import Action

MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_TIMEOUT = 300.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def url_refusal(url: str, config: Config) -> str | None:
    """Why ``url`` may not be fetched, or None: https anywhere, http only on a configured origin."""
    try:
        parts = urlsplit(url)
        origin = origin_of(url)
    except ValueError:  # e.g. a port out of range
        return "is not a valid URL"
    if not parts.hostname:
        return "has no host"
    if origin[0] == "https":
        return None
    # Imported here (as check_agent_url and secrets below): a status call's start needs none of them.
    from connector.default_plugins.public_addresses import configured_origins

    if origin[0] == "http" and origin in configured_origins(config):
        return None
    return "must be an https:// URL (plain http only on the origin of a configured fal base URL, such as the emulator)"


def file_name_of(url: str) -> str:
    """A safe file name from the URL's last path segment ('download' when it gives none)."""
    name = _UNSAFE_NAME.sub("_", unquote(urlsplit(url).path.rsplit("/", 1)[-1])).lstrip(".").strip()
    return name[:200] or "download"


def target_path(inputs: dict[str, Any]) -> str:
    """The absolute path the file of ``inputs`` is saved at (the guardrails check this one too)."""
    dest = str(inputs.get("dest") or ".")
    if dest.endswith(("/", os.sep)) or os.path.isdir(dest):
        return os.path.abspath(os.path.join(dest, file_name_of(str(inputs["url"]))))
    return os.path.abspath(dest)


def download_file(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    url = str(inputs["url"])
    refusal = url_refusal(url, ctx.config)
    if refusal:
        raise InvalidInputError("url", f"{url[:200]!r} {refusal}")
    if ctx.agent:
        from connector.default_plugins.public_addresses import check_agent_url

        check_agent_url("download_file", url, ctx.config)
    path = target_path(inputs)
    overwrite = bool(inputs.get("overwrite", False))
    if os.path.isdir(path):
        raise InvalidInputError("dest", f"{path!r} is a directory")
    if not overwrite and os.path.lexists(path):
        raise InvalidInputError("dest", f"{path!r} already exists; set overwrite to true to replace it")
    deadline = time.monotonic() + float(inputs.get("timeout", DEFAULT_TIMEOUT))
    cap = int(inputs.get("max_bytes", DEFAULT_MAX_BYTES))
    temp, fd = _temp_file(path)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            response, final_url = _open(ctx, url, deadline)

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                fh.write(chunk)

            try:
                size = write_body(response, write, cap, deadline, "max_bytes")
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:  # the disk, not the server
                raise InvalidInputError("dest", f"cannot write {path!r}: {exc.strerror}") from None
        _place(temp, path, overwrite)
    except BaseException:
        _remove(temp)
        raise
    content_type = response.headers.get("Content-Type") or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return {"path": path, "size": size, "sha256": digest.hexdigest(), "content_type": content_type, "url": final_url}


def _temp_file(path: str) -> tuple[str, int]:
    """A new, empty, hidden file beside ``path`` (its directories created): made before anything
    is sent, so an unwritable destination is an input error with no request made."""
    folder, name = os.path.split(path)
    import secrets

    temp = os.path.join(folder, f".{name[:100]}.{secrets.token_hex(4)}.part")
    try:
        os.makedirs(folder, exist_ok=True)
        return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise InvalidInputError("dest", f"cannot write into {folder!r}: {exc.strerror}") from None


def _open(ctx: Any, url: str, deadline: float) -> tuple[requests.Response, str]:
    """The 2xx answer for ``url`` with its body unread, after at most MAX_REDIRECTS redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            # Retries end with the retry deadline, as for every action; the body may use the rest.
            return ctx.request("GET", url, auth=False, stream=True, deadline_at=min(deadline, ctx.deadline_at),
                               body_deadline_at=deadline), url
        except HTTPStatusError as exc:
            location = exc.response.headers.get("Location") if exc.status_code in _REDIRECTS and exc.response is not None else None
            if not location:
                # Any server, not only fal: say which URL answered what, without fal's hints.
                tries = f" (after {exc.attempts} attempts)" if exc.attempts > 1 else ""
                raise exc.derive(message=f"GET {url.split('?')[0][:200]}: the server answered HTTP {exc.status_code}{tries}") from exc
            target = urljoin(url, location)
            refusal = url_refusal(target, ctx.config)
            if refusal:
                raise ActionError("invalid_response", f"{url[:200]} redirected to {target[:200]!r}, which {refusal}",
                                  status_code=exc.status_code) from None
            if ctx.agent:  # every hop, not only the URL the agent gave
                from connector.default_plugins.public_addresses import check_agent_url

                check_agent_url("download_file", target, ctx.config)
            url = target
    raise ActionError("invalid_response", f"more than {MAX_REDIRECTS} redirects, last to {url[:200]!r}; not followed further")


def _place(temp: str, path: str, overwrite: bool) -> None:
    """Move the complete file to ``path``; without ``overwrite`` never replace a file that
    appeared there meanwhile (a hard link fails if the name exists)."""
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError:
        raise InvalidInputError("dest", f"{path!r} already exists; set overwrite to true to replace it") from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise InvalidInputError("dest", f"{path!r} already exists; set overwrite to true to replace it") from None
        os.replace(temp, path)
        return
    os.unlink(temp)


def _remove(temp: str) -> None:
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass


HANDLERS = {"download_file": download_file}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
