"""The webhook receiver: fal's signed delivery completes (or fails) the waiting ``fal.fal_job``.

``complete_from_webhook(client, headers, body, query)`` is the whole logic as one coroutine for
any web framework; ``webhook_app(client)`` wraps it as a plain ASGI app, and
``WebhookServer`` serves that app with uvicorn on a given host and port. The app handles at most
``max_concurrent`` deliveries at a time (a framework calling the coroutine should bound it too:
a burst of deliveries at once is a burst of threads in the Temporal SDK, and no faster).

A delivery is accepted only when (1) its Ed25519 signature verifies against fal's JWKS
(``verify_webhook``, with its cached key set), and (2) its ``request_id`` is the one the named
activity recorded in its heartbeat: a genuine delivery replayed to another activity's URL is
refused. Answers: 200 done (also for a repeated delivery of a finished activity, so fal stops
retrying), 400 no target in the URL, 401 bad signature, 404 no such workflow, 409 the delivery
belongs to another job, 503 the activity has not recorded its request id yet (fal retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from connector.webhooks import WebhookVerificationError, verify_webhook

from .job import job_failed
from .workflow import FAL_JOB

Reply = tuple[int, dict[str, Any]]
MAX_BODY_BYTES = 64 * 1024 * 1024
# How long a delivery waits for its activity's heartbeat (the request id) before answering 503.
RECORD_WAIT_STEP, RECORD_WAIT_STEPS = 0.1, 50
# Deliveries handled at once; the rest wait their turn on an open connection (a socket, no thread).
# Each Temporal call a delivery makes returns through a thread of the SDK that waits for the GIL,
# so a thousand deliveries at once would be hundreds of threads, and no faster.
MAX_DELIVERIES = 16


async def complete_from_webhook(
    client: Client,
    headers: Mapping[str, str],
    body: bytes,
    query: str | Mapping[str, str],
    *,
    jwks: Mapping[str, Any] | None = None,
    jwks_url: str | None = None,
    tolerance_seconds: float = 300,
) -> Reply:
    """Verify one delivery and complete the activity its URL names. Returns (HTTP status, JSON body)."""
    target = dict(parse_qsl(query)) if isinstance(query, str) else dict(query)
    workflow_id, activity_id = target.get("workflow_id"), target.get("activity_id")
    if not workflow_id or not activity_id:
        return 400, {"error": "the webhook URL must carry workflow_id and activity_id (as fal_job builds it)"}
    try:
        delivery = await asyncio.to_thread(verify_webhook, headers, body, jwks=jwks, jwks_url=jwks_url,
                                           tolerance_seconds=tolerance_seconds)
    except WebhookVerificationError as exc:
        return 401, {"error": f"signature invalid: {exc.reason}"}
    run_id = target.get("run_id") or None
    try:
        recorded = await _recorded_request_id(client, workflow_id, run_id, activity_id)
        for _ in range(RECORD_WAIT_STEPS):  # a fast job's webhook can overtake the heartbeat
            if recorded != "":
                break
            await asyncio.sleep(RECORD_WAIT_STEP)
            recorded = await _recorded_request_id(client, workflow_id, run_id, activity_id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 404, {"error": f"no workflow {workflow_id!r}"}
        raise
    request_id = delivery["request_id"]
    if recorded is None:
        return 200, {"status": "already_done"}
    if recorded == "":
        return 503, {"error": "the activity has not recorded its request id yet; deliver again"}
    if recorded != request_id:
        return 409, {"error": f"delivery for {request_id}, but activity {activity_id} waits for {recorded}"}
    handle = client.get_async_activity_handle(workflow_id=workflow_id, run_id=run_id, activity_id=activity_id)
    message = delivery["payload"] if isinstance(delivery["payload"], dict) else {}
    try:
        if message.get("status") == "OK":
            await handle.complete({"request_id": request_id, "status": "COMPLETED", "data": message.get("payload")})
        else:
            await handle.fail(job_failed(request_id, message.get("error"), message.get("error_type"), message.get("payload")))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return 200, {"status": "already_done"}  # finished meanwhile (by polling or a repeated delivery)
    return 200, {"status": "completed" if message.get("status") == "OK" else "failed"}


async def _recorded_request_id(client: Client, workflow_id: str, run_id: str | None, activity_id: str) -> str | None:
    """The request id the pending fal_job activity heartbeated: None when it is not pending any
    more, "" when it has not recorded one yet."""
    description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_id != activity_id or pending.activity_type.name != FAL_JOB:
            continue
        details = await client.data_converter.decode(pending.heartbeat_details.payloads)
        last = details[-1] if details else None
        return str(last["request_id"]) if isinstance(last, dict) and last.get("request_id") else ""
    return None


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def webhook_app(client: Client, *, path: str = "/fal/webhook", max_body_bytes: int = MAX_BODY_BYTES,
                max_concurrent: int = MAX_DELIVERIES, **verify: Any) -> ASGIApp:
    """A minimal ASGI app: ``POST {path}?workflow_id=…&run_id=…&activity_id=…`` → complete_from_webhook,
    at most ``max_concurrent`` deliveries at a time (first come, first served)."""
    if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
        raise ValueError(f"max_concurrent: expected an integer >= 1, got {max_concurrent!r}")
    turns = asyncio.Semaphore(max_concurrent)

    async def app(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                  send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":  # nothing to set up; answer a server that asks
            while True:
                event = (await receive())["type"]
                await send({"type": event + ".complete"})
                if event == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        if scope["path"] != path:
            return await _reply(send, 404, {"error": f"not found; deliveries go to {path}"})
        if scope["method"] != "POST":
            return await _reply(send, 405, {"error": "webhooks are POSTed"})
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body_bytes:
                return await _reply(send, 413, {"error": f"body over {max_body_bytes} bytes"})
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        async with turns:
            status, answer = await complete_from_webhook(client, headers, b"".join(chunks),
                                                         scope["query_string"].decode("latin-1"), **verify)
        await _reply(send, status, answer)

    return app


async def _reply(send: Callable[[Any], Awaitable[None]], status: int, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class WebhookServer:
    """``webhook_app`` served by uvicorn in the running event loop (port 0: a free port).

        async with WebhookServer(client, host="127.0.0.1", port=0) as hooks:
            FalActivities(conn, webhook_url=hooks.url)      # or your public URL in front of it
    """

    def __init__(self, client: Client, *, host: str = "127.0.0.1", port: int = 0, path: str = "/fal/webhook",
                 max_concurrent: int = MAX_DELIVERIES, **verify: Any) -> None:
        app = webhook_app(client, path=path, max_concurrent=max_concurrent, **verify)  # checks the settings first
        ipv6 = ":" in host
        self._socket = socket.create_server((host, port), family=socket.AF_INET6 if ipv6 else socket.AF_INET)
        self.host, self.port = host, self._socket.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ipv6 else host}:{self.port}{path}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
        self._server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> WebhookServer:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()

    async def __aenter__(self) -> WebhookServer:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the process hosting the receiver (a worker, a test)
    owns SIGINT/SIGTERM and stops the receiver itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
