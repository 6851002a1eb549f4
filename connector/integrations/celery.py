"""fal jobs as Celery tasks, with Redis as the broker and the deduplication store.

    from celery import Celery
    from connector.integrations.celery import FalTasks

    app = Celery("jobs", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")
    fal = FalTasks(app)                                   # registers the tasks on the app
    fal.action("get_models").delay({"q": "flux"})         # one task per manifest action
    result = fal.fal_job("fal-ai/flux/dev", {"prompt": "a fox"}, key="order-17").delay()
    result.get()        # {"success": True, "request_id": ..., "data": {...}, "key": "order-17", ...}

``fal.fal_job(...)`` is a chain of three tasks, ``submit -> wait -> fetch``:

* **submit** claims the job's key in Redis before it sends anything, then records fal's
  ``request_id``. A second delivery of the same message (``acks_late`` is on, so a worker lost
  mid-task gets its message back) finds the record and never submits again.
* **wait** asks fal for the status and, until the job completes, re-queues itself with a
  countdown: between two looks no worker slot is held. With ``webhook_url`` set, submit asks fal
  for a webhook instead and the rest of the chain is parked in Redis; the webhook receiver
  (``handle_webhook`` or the WSGI app ``wsgi_app``) sends it on when fal calls, so a job costs
  two HTTP requests (submit, result) and nothing runs while fal works. A job whose webhook has
  not come after ``webhook_fallback`` seconds is polled as above.
* **fetch** returns ``get_request_response``'s output plus ``request_id`` and ``key``; failures
  are outputs too (``success: false``, ``failure``), as from ``Connector.run``.

What cannot be made exact: fal has no idempotency key, so a worker that dies after fal accepted
a submit and before the Redis write of its ``request_id`` leaves a job that was maybe submitted.
It is never re-submitted: the record stays claimed, and once the claim's lease is over the job
ends ``outcome_unknown`` (polling) or waits for fal's webhook, which carries the key and so
gives the ``request_id`` back (webhooks).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from celery import Celery, Task, signature

from connector import Connector
from connector.errors import ActionError
from connector.integrations.celery_store import JobStore

__all__ = ["FalTasks"]

# Submit options the job passes through to add_request_to_queue.
_SUBMIT_OPTIONS = ("priority", "hint", "start_timeout", "max_queue_length")
# The query parameter of the webhook URL that names the job's key.
KEY_PARAM = "fal_job"


def _failure(kind: str, error: str, **extra: Any) -> dict[str, Any]:
    """An output in the connector's failure shape, for outcomes this module decides."""
    failure = ActionError(kind, error, fal_request_id=extra.get("request_id")).failure()
    return {"success": False, "error": error, "failure": failure, **extra}


class FalTasks:
    """Registers the fal tasks on a Celery ``app``.

    ``connector``: a callable returning the ``Connector`` each worker process uses (default
    ``Connector()``, configured from the environment); it is made once, here (the task list is read
    from it).
    ``redis_url``: the deduplication store (default: the app's broker URL, which must then be Redis).
    ``webhook_url``: where fal can reach ``wsgi_app`` (or your route calling ``handle_webhook``);
    None means polling. ``poll_interval``: seconds between status looks. ``lease``: seconds a
    submit may take at most (the connector's retry deadline plus one read timeout is enough); a
    claim older than that is a dead worker's. ``timeout``: a job's default total seconds, after
    which it is cancelled at fal.
    """

    def __init__(
        self,
        app: Celery,
        *,
        connector: Callable[[], Connector] = Connector,
        redis_url: str | None = None,
        webhook_url: str | None = None,
        poll_interval: float = 2.0,
        webhook_fallback: float = 600.0,
        lease: float = 120.0,
        timeout: float = 3600.0,
        prefix: str = "fal",
        key_prefix: str = "fal-connector",
    ) -> None:
        self.app, self.webhook_url = app, webhook_url
        self.poll_interval, self.webhook_fallback, self.lease, self.timeout = poll_interval, webhook_fallback, lease, timeout
        self.connector = connector()
        self.store = JobStore(redis_url or str(app.conf.broker_url), prefix=key_prefix)
        self.actions: dict[str, Task] = {}
        for spec in self.connector.actions():
            self.actions[spec["id"]] = self._action_task(prefix, spec)
        # Only fetch's result is the job's; the steps before it pass theirs down the chain.
        self.submit = self._task(f"{prefix}.job.submit", self._submit, acks_late=True, ignore_result=True)
        self.wait = self._task(f"{prefix}.job.wait", self._wait, acks_late=True, ignore_result=True)
        self.fetch = self._task(f"{prefix}.job.fetch", self._fetch, acks_late=True)
        self.resume = self._task(f"{prefix}.job.resume", self._resume, acks_late=True, ignore_result=True)

    # --- set-up ----------------------------------------------------------------------------

    def _task(self, name: str, fn: Callable[..., Any], *, acks_late: bool, ignore_result: bool = False) -> Task:
        # bind: the functions need the request (delivery id, chain) and self.retry.
        # reject_on_worker_lost: a job task whose worker process died goes back to the queue
        # (the dedup record makes the rerun safe) instead of being recorded as failed.
        def run(task: Task, *args: Any, **kwargs: Any) -> Any:
            return fn(task, *args, **kwargs)

        # A plain function, so Celery binds the task as its first argument (not to our method's self);
        # not shared: these tasks belong to this app only (they close over this FalTasks).
        run.__doc__, run.__module__ = fn.__doc__, __name__
        return self.app.task(name=name, bind=True, shared=False, acks_late=acks_late, reject_on_worker_lost=acks_late,
                             ignore_result=ignore_result, max_retries=None)(run)

    def _action_task(self, prefix: str, spec: Mapping[str, Any]) -> Task:
        action_id = spec["id"]

        def run(task: Task, inputs: Any = None) -> dict[str, Any]:
            return self.connector.run(action_id, inputs)

        run.__doc__ = spec.get("description")
        # A redelivered message runs its task again: right for reads, wrong for a submit that
        # may bill twice. Actions the manifest does not call idempotent are acknowledged on
        # receipt (at most once); fal jobs that must survive a lost worker go through fal_job().
        return self._task(f"{prefix}.{action_id}", run, acks_late=bool(spec["annotations"]["idempotent"]))

    def action(self, action_id: str) -> Task:
        """The task of one action (canonical id): ``.delay(inputs)`` returns its output dict."""
        try:
            return self.actions[action_id]
        except KeyError:
            raise KeyError(f"no action {action_id!r}; actions: {', '.join(self.actions)}") from None

    def fal_job(self, app_id: str, data: Mapping[str, Any], *, key: str | None = None,
            timeout: float | None = None, **options: Any) -> Any:
        """The chain ``submit -> wait -> fetch`` for one fal job (``.delay()`` runs it). ``key``
        deduplicates: the same key never submits twice (default: a new uuid, carried by the
        message, so redeliveries share it). ``options``: priority, hint, start_timeout,
        max_queue_length, as for ``add_request_to_queue``."""
        unknown = set(options) - set(_SUBMIT_OPTIONS)
        if unknown:
            raise TypeError(f"fal_job() got unknown options {sorted(unknown)}; expected some of {list(_SUBMIT_OPTIONS)}")
        job = {"key": key or uuid.uuid4().hex, "app_id": app_id, "data": dict(data), "options": options,
               "timeout": self.timeout if timeout is None else timeout}
        return self.submit.s(job) | self.wait.s() | self.fetch.s()

    # --- the chain -------------------------------------------------------------------------

    def _submit(self, task: Task, job: dict[str, Any]) -> dict[str, Any]:
        key = job["key"]
        state = {"key": key, "app_id": job["app_id"], "request_id": None, "webhook": self.webhook_url is not None,
                 "deadline": time.time() + job["timeout"], "output": None}
        owner = uuid.uuid4().hex
        found = self.store.claim(key, owner, time.time() + self.lease)
        if found is None:
            request_id, kind = self._send(key, owner, job)
            if isinstance(request_id, dict):  # fal certainly has no job: nothing to wait for
                return {**state, "output": request_id}
        else:
            if not found.get("request_id") and found.get("state") == "submitting":
                if self.store.give_up(key, time.time()) == "submitting":
                    # Another delivery of this message is submitting right now: look again later.
                    raise task.retry(countdown=min(self.poll_interval, self.lease))
                found = self.store.get(key)  # given up now, or its owner finished meanwhile
                if not found:  # its owner's submit certainly enqueued nothing: this one may claim
                    raise task.retry(countdown=0)
            request_id = found.get("request_id")
            kind = "submitted" if request_id else found.get("state", "unknown")
        state["request_id"] = request_id
        return self._hand_over(task, state, kind)

    def _send(self, key: str, owner: str, job: dict[str, Any]) -> tuple[Any, str]:
        """POST the submit once. Returns (request_id, 'submitted'), (None, 'unknown') when fal may
        or may not have it, or (the failure output, '') when it certainly has nothing."""
        inputs = {"app_id": job["app_id"], "data": job["data"], **job["options"]}
        if self.webhook_url is not None:
            inputs["webhook_url"] = _with_query(self.webhook_url, {KEY_PARAM: key})
        out = self.connector.run("add_request_to_queue", inputs)
        if out["success"]:
            return out["request_id"], "submitted"
        failure = out["failure"]
        if failure["attempts"] == 0 or failure["retryable"] or 400 <= (failure["status_code"] or 0) < 500:
            # Nothing was sent, or fal refused it (a 4xx; the connector calls a submit retryable
            # only when fal cannot have enqueued it): a later attempt with this key may submit.
            self.store.release(key, owner)
            return {**out, "key": key, "request_id": None}, ""
        # Read timeout, dropped connection, a 5xx from fal's app, a garbled 200: maybe enqueued.
        # The claim stays: this key is never submitted again.
        return None, "unknown"

    def _hand_over(self, task: Task, state: dict[str, Any], kind: str) -> dict[str, Any]:
        """Continue the chain in the worker (polling), or park it for the webhook."""
        if not state["webhook"]:
            self.store.record(state["key"], state["request_id"], kind, None)
            if state["request_id"] is None:
                state["output"] = _failure(
                    "outcome_unknown", f"the submit of job {state['key']!r} may or may not have reached fal (the worker "
                    "was lost or the answer never came); it is not re-sent: check fal's request history before "
                    "submitting again", key=state["key"], request_id=None)
            return state
        rest = list(task.request.chain or [])
        verdict = self.store.record(state["key"], state["request_id"], kind, {"rest": rest, "state": state})
        if verdict != "go":
            task.request.chain = None  # the webhook (or the fallback timer) sends the rest on
            if verdict == "parked":
                fallback = min(self.webhook_fallback, max(0.0, state["deadline"] - time.time()))
                self.resume.apply_async((state["key"],), countdown=fallback)
        return state

    def _wait(self, task: Task, state: dict[str, Any]) -> dict[str, Any]:
        if state["output"] is not None:
            return state
        key, request_id = state["key"], state["request_id"]
        if state["webhook"]:
            record = self.store.get(key)
            request_id = state["request_id"] = record.get("request_id") or request_id
            if record.get("delivered"):
                return state  # fal said it is done: no status call
        if request_id is None:
            state["output"] = _failure("outcome_unknown", f"no webhook brought the request id of job {key!r} in time; "
                                       "check fal's request history before submitting again", key=key, request_id=None)
            return state
        status = self.connector.run("get_request_status", {"app_id": state["app_id"], "request_id": request_id})
        if status["success"] and status["status"] == "COMPLETED":
            return state
        if not status["success"] and not status["failure"]["retryable"]:  # e.g. not_found, auth_error
            state["output"] = {**status, "key": key, "request_id": request_id}
            return state
        if time.time() >= state["deadline"]:
            cancel = self.connector.run("cancel_request", {"app_id": state["app_id"], "request_id": request_id})
            state["output"] = _failure("timeout", f"job {key!r} did not complete before its timeout; cancel sent "
                                       f"({cancel.get('cancel_status')})", key=key, request_id=request_id,
                                       cancelled=bool(cancel["success"]))
            return state
        # Not done, or the look failed in a way that may pass (the connector already retried it):
        # look again later, holding no worker slot meanwhile.
        raise task.retry(countdown=self.poll_interval)

    def _fetch(self, task: Task, state: dict[str, Any]) -> dict[str, Any]:
        if state["output"] is not None:
            return dict(state["output"])
        out = self.connector.run("get_request_response", {"app_id": state["app_id"], "request_id": state["request_id"]})
        return {**out, "request_id": state["request_id"], "key": state["key"]}

    def _resume(self, task: Task, key: str) -> bool:
        """The webhook has not come: send the parked chain on, to poll (if nobody did yet)."""
        return self._dispatch(key, webhook=False)

    def _dispatch(self, key: str, *, webhook: bool) -> bool:
        """Send the parked chain on, once: the webhook and the fallback timer both try."""
        parked = self.store.take(key)
        if parked is None:
            return False
        rest, state = parked["rest"], parked["state"]
        # A job whose submit answer was lost learns its request id from the webhook.
        state.update(webhook=webhook, request_id=self.store.get(key).get("request_id") or state["request_id"])
        if not rest:
            return True  # job's chain was called alone (submit only): nothing follows
        # As Celery itself sends a chain on: the last entry is the next task, the others its chain.
        signature(rest[-1], app=self.app).apply_async((state,), chain=rest[:-1])
        return True

    # --- webhooks --------------------------------------------------------------------------

    def handle_webhook(self, headers: Mapping[str, str], body: bytes, key: str | None) -> tuple[int, str]:
        """Handle one fal webhook delivery for the job ``key`` (the ``fal_job`` query parameter
        of its URL). Returns (HTTP status, reason). Only a delivery whose signature verifies
        counts; one for another request than the job's is refused."""
        if not key:
            return 400, f"the webhook URL lacks its {KEY_PARAM} parameter"
        checked = self.connector.run("verify_webhook", {"headers": dict(headers), "body_base64": base64.b64encode(body).decode()})
        if not checked["success"]:
            return 401, checked["error"]
        payload = checked["payload"] if isinstance(checked["payload"], dict) else {}
        verdict = self.store.deliver(key, checked["request_id"], str(payload.get("status") or "OK"))
        if verdict == "unknown":
            return 404, f"no job {key!r}"
        if verdict == "mismatch":
            return 409, f"job {key!r} belongs to another request"
        self._dispatch(key, webhook=True)
        return 200, "ok"

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """A WSGI application for fal's webhooks (POST, the job key in the query): serve it with
        any WSGI server (gunicorn, waitress, wsgiref for a test) at ``webhook_url``."""
        if environ.get("REQUEST_METHOD") != "POST":
            code, reason = 405, "POST only"
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
            key = (parse_qs(environ.get("QUERY_STRING", "")).get(KEY_PARAM) or [None])[0]
            code, reason = self.handle_webhook(headers, body, key)
        text = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                409: "Conflict"}[code]
        start_response(f"{code} {text}", [("Content-Type", "text/plain; charset=utf-8")])
        return [reason.encode()]

    def close(self) -> None:
        self.store.close()
        self.connector.close()


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))

