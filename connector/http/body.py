"""Reading an answer's body against the size cap, into memory or into a file.

A declared ``Content-Length`` over the cap is refused before a byte of the body is read;
otherwise the bytes are counted as they arrive and the read stops at the first byte over.
The transport keeps a success (or error) body in memory on the response itself
(``BufferedResponse.body``); ``download_file`` writes its body chunk by chunk to disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests
import urllib3

from connector.errors import ActionError
from connector.http.retry import BODY_CUT_OFF, TOO_BIG, classify_exception

CHUNK = 256 * 1024


class BodyTooBig(Exception):
    """The body is (or says it is) larger than the cap; nothing more of it is read."""


class BufferedResponse(requests.Response):
    """A ``requests.Response`` whose body the transport read itself, against the size cap and
    the deadline: ``content`` is ``body``. Until ``body`` is set (a streamed answer, read by
    its handler) ``content`` reads the body as requests does."""

    body: bytes | None = None

    @property
    def content(self) -> bytes:
        if self.body is not None:
            return self.body
        return super().content


def capped(chunks: Iterable[bytes], cap: int, response: requests.Response) -> Iterator[bytes]:
    """``chunks`` of ``response``'s body, raising ``BodyTooBig`` when the declared length or
    the bytes so far exceed ``cap``. (The generator reads nothing until it is iterated.)"""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise BodyTooBig
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise BodyTooBig
        yield chunk


def write_body(response: requests.Response, write: Callable[[bytes], Any], cap: int, deadline_at: float, limit_name: str) -> int:
    """Stream a 2xx answer's (decoded) body into ``write``, chunk by chunk; the byte count.

    For answers kept on disk rather than in memory (``download_file``): more than ``cap`` bytes
    is ``invalid_response`` (not retryable: the same file stays too big), and the read stops at
    ``deadline_at`` even if the server keeps sending, since every read returns what has arrived
    (``read1``) instead of waiting for a full chunk. The response is closed in every case.
    """
    where = f"{response.request.method} {str(response.url).split('?')[0]}"
    size = 0

    def cut_off() -> ActionError:
        return ActionError(BODY_CUT_OFF.type, f"{where}: the body did not finish in time ({size} bytes received)",
                           retryable=BODY_CUT_OFF.retryable, status_code=response.status_code)

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = response.raw.read1(CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline_at:  # the deadline watchdog cut the socket
                    raise cut_off() from None
                verdict = classify_exception(exc, "read", body_phase=True)  # a download is a plain GET
                raise ActionError(verdict.type, f"{where}: the body broke off after {size} bytes ({type(exc).__name__})",
                                  retryable=verdict.retryable, status_code=response.status_code) from None
            if not chunk:
                return
            yield chunk

    try:
        for chunk in capped(chunks(), cap, response):
            size += len(chunk)
            write(chunk)  # a local write error (disk full) is the caller's to report
            if time.monotonic() > deadline_at:
                raise cut_off()
    except BodyTooBig:
        raise ActionError(TOO_BIG.type, f"{where}: the file is larger than the {cap} byte limit ({limit_name}); not kept",
                          retryable=TOO_BIG.retryable, status_code=response.status_code) from None
    finally:
        response.close()
    return size
