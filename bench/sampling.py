"""Peak threads and resident memory of this process, sampled while a block runs (the scale
bench's contenders measure themselves with it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


def process_status() -> dict[str, int]:
    """This process's thread count and resident memory (kB), from ``/proc/self/status``."""
    now = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                now["threads" if key == "Threads" else "rss_kb"] = int(value.split()[0])
    return now


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
