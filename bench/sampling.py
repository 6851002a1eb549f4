"""What the benchmarks read of this process and of the machine: thread count and resident
memory (now, and the peak since the process started), peaks sampled while a block runs (the
scale bench's contenders measure themselves with it), and the machine's load."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = {"Threads": "threads", "VmRSS": "rss_kb", "VmHWM": "hwm_kb"}


def process_status() -> dict[str, int]:
    """This process's ``threads``, resident memory ``rss_kb`` and its peak since the process
    started ``hwm_kb`` (VmHWM; ``ru_maxrss`` would also count a parent's memory, copied into the
    process when it was forked), from ``/proc/self/status``."""
    now = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in _STATUS:
                now[_STATUS[key]] = int(value.split()[0])
    return now


def machine_load() -> dict[str, Any]:
    """How busy the machine is: load averages, and the processes on a CPU besides this run's."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return {}
    running = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running"):
                running = int(line.split()[1])
    except OSError:
        pass
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2), "running": running}


@contextmanager
def peaks() -> Iterator[dict[str, int]]:
    """Peak threads and RSS (kB) of this process while the block runs (every thread, the SDK's
    native ones too, not only Python's); ``threads_before``: the count when the block began."""
    peak = process_status()
    peak["threads_before"] = peak["threads"]
    done = threading.Event()

    def sample() -> None:
        while True:
            for name, value in process_status().items():
                peak[name] = max(peak[name], value)
            if done.wait(0.05):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
