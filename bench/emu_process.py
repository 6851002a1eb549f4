"""``bench/emu_server.py`` in a subprocess, driven by JSON lines over its stdin/stdout: the
emulator every benchmark measures against, in a process of its own so it never shares a GIL
with a client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class EmulatorProcess:
    """Plain HTTP (``http``) and HTTPS (``https``, trusting ``cert_file``) emulators; ``ask``
    sends one command (see ``emu_server.py``) and returns its answer. Safe to share between threads."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = env if env is not None else {**os.environ, "PYTHONPATH": str(HERE.parent)}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "emu_server.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.http: str = info["http"]
        self.https: str = info["https"]
        self.cert_file: str = info["cert_file"]
        self._lock = threading.Lock()

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
            answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
            return answer

    def stop(self) -> None:
        try:
            self.ask("stop")
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
