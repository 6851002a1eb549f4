"""``Emulator``: wires the parts together and owns their lifecycle (start/stop)."""

from __future__ import annotations

import collections
import shutil
import tempfile
import threading
from typing import Any

from .account_api import AccountAPI
from .auth import Keys
from .faults import Faults
from .history import History, HistoryAPI
from .jobs import COMPLETED, IN_QUEUE, Job, JobStore, clock
from .models import Catalogue
from .platform_api import PlatformAPI
from .queue_api import QueueAPI
from .server import Server
from .storage import Storage
from .tls import server_context, write_self_signed
from .webhooks import KeyRing, WebhookDispatcher, webhook_body
from .workflows_api import WorkflowsAPI

DEFAULT_USER_ID = "emulator-user"
# What env() exports as FAL_KEY when the emulator accepts any key: the connector refuses to send
# a request without one, so the printed setup lines must carry a key that works.
ANY_KEY = "emulator-key-id:any-key-works"
DEFAULT_BALANCE = 100.0  # USD of credit a fresh emulator's account starts with


def env_for(url: str, api_key: str | None = None) -> dict[str, str]:
    """The FAL_* variables that point the connector at an emulator serving ``url``, with a
    ``FAL_KEY`` it accepts: ``api_key`` when it pins one, else a placeholder."""
    return {"FAL_QUEUE_URL": url, "FAL_RUN_URL": url + "/run", "FAL_API_URL": url + "/v1",
            "FAL_JWKS_URL": url + "/.well-known/jwks.json", "FAL_REST_URL": url, "FAL_CDN_URL": url + "/cdn",
            "FAL_KEY": api_key if api_key is not None else ANY_KEY}


class Emulator:
    """A local, deterministic fal.ai: queue, sync run, platform API, JWKS + signed webhooks,
    storage uploads, fault injection. One base URL serves everything (see ``env()``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 tls: bool = False, *, ping_interval: float = 15.0, webhook_retries: int = 3,
                 webhook_retry_delay: float = 0.2, webhook_timeout: float = 5.0,
                 user_id: str = DEFAULT_USER_ID, log_size: int = 10000, admin_key: str | None = None,
                 balance: float = DEFAULT_BALANCE) -> None:
        api_key = api_key or None  # an empty key counts as none, as in the connector
        self.host, self.port, self.api_key, self.tls = host, port, api_key, tls
        self.admin_key = admin_key or None
        keys = Keys(api_key, self.admin_key)
        self.user_id = user_id
        self.faults = Faults()
        self.requests_log: collections.deque[tuple[str, str, dict[str, str]]] = collections.deque(maxlen=log_size)
        # When each connection was accepted (the jobs' clock): a client that reuses its pooled
        # connections opens few, and none after the moment it is waiting for.
        self.connections_log: collections.deque[float] = collections.deque(maxlen=log_size)
        self.cert_file: str | None = None
        self._url: str | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._catalogue = Catalogue()
        self._keyring = KeyRing()
        self._store = JobStore(run_model=lambda job: self._queue.model_outcome(job))
        self._webhooks = WebhookDispatcher(self._keyring, user_id, self._webhook_due, self._webhook_body,
                                           webhook_retries, webhook_retry_delay, webhook_timeout)
        self._queue = QueueAPI(store=self._store, catalogue=self._catalogue, webhooks=self._webhooks,
                               base_url=lambda: self.url, keys=keys, ping_interval=ping_interval,
                               stopping=self._stopping)
        self._platform = PlatformAPI(self._catalogue, lambda: self.url, keys)
        self._storage = Storage(lambda: self.url, keys)
        self.history = History(self._store)
        self._history_api = HistoryAPI(self.history, self._catalogue, keys)
        self._account = AccountAPI(self.history, self._catalogue, keys, user_id, balance)
        self._workflows = WorkflowsAPI(self._catalogue, keys)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        with self._lifecycle:
            if self._server is not None:
                return self
            if self._stopping.is_set():
                raise RuntimeError("an Emulator cannot be restarted after stop(); create a new one")
            ctx = None
            if self.tls:
                self._tmpdir = tempfile.mkdtemp(prefix="fal-emulator-tls-")
                self.cert_file, key_file = write_self_signed(self._tmpdir, self.host)
                ctx = server_context(self.cert_file, key_file)
            self._server = Server((self.host, self.port), self, ctx)
            self.port = self._server.server_address[1]
            host = self.host
            if host in ("0.0.0.0", ""):
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            if ":" in host:
                host = f"[{host}]"
            self._url = f"{'https' if self.tls else 'http'}://{host}:{self.port}"
            self._thread = threading.Thread(target=self._server.serve, name="fal-emulator", daemon=True)
            self._thread.start()
            self._webhooks.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, join threads, delete the TLS files. Idempotent."""
        with self._lifecycle:
            if self._stopping.is_set():
                return
            self._stopping.set()
            server, self._server = self._server, None
            self._store.notify()  # wake status streams so they end
            if server is not None:
                server.stop_serving()
                if self._thread is not None:
                    self._thread.join(5)
                server.server_close()
                server.close_connections()
            self._webhooks.stop()
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("Emulator not started: call start() first")
        return self._url

    def env(self) -> dict[str, str]:
        """The environment that points the connector at this emulator, with a ``FAL_KEY`` it
        accepts: the pinned key, or a placeholder when any key is accepted."""
        return env_for(self.url, self.api_key)

    # --- webhooks and keys -----------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        return self._keyring.jwks()

    def rotate_key(self, keep_old: bool = True) -> str:
        """New signing key; the old public key stays in the JWKS when ``keep_old``. Returns the kid."""
        return self._keyring.rotate(keep_old)

    def sign_webhook(self, body: bytes, request_id: str, user_id: str | None = None,
                     timestamp: int | None = None) -> dict[str, str]:
        """The four X-Fal-Webhook-* headers for ``body``, signed with the current key
        (``user_id`` defaults to this emulator's, ``timestamp`` to now)."""
        return self._keyring.sign(body, request_id, user_id or self.user_id, timestamp)

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt: url, request_id, attempt, status_code (or None), error (or None)."""
        return self._webhooks.deliveries

    def _webhook_due(self, job: Job) -> float | None:
        tl = self._store.timeline(job, clock())
        if tl.status == COMPLETED:
            return None
        return job.leave_at if tl.status == IN_QUEUE else tl.end_at

    def _webhook_body(self, job: Job) -> bytes:
        tl = self._store.timeline(job, clock())
        return webhook_body(job, self._store.outcome(job, tl))

    # --- state for tests -------------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        return self._store.all()

    def job(self, request_id: str) -> Job | None:
        return self._store.get(request_id)

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Sync /run calls received (endpoint_id, input)."""
        return self._queue.runs

    @property
    def files(self) -> dict[str, bytes]:
        return self._storage.files

    @property
    def balance(self) -> float:
        """The account's credit now (USD): the starting balance minus what finished jobs cost."""
        return self._account.balance()

    def set_balance(self, usd: float) -> None:
        """Set the account's credit as of now; billable jobs finishing later are taken off it."""
        self._account.set_balance(usd)

    def set_model(self, app_id: str, queue_seconds: float | None = None,
                  run_seconds: float | None = None) -> list[str]:
        """Change a catalogue model's timings (an endpoint id, or owner/app for all its
        endpoints); jobs submitted afterwards use them. Returns the endpoints changed."""
        return self._catalogue.set_timings(app_id, queue_seconds, run_seconds)
