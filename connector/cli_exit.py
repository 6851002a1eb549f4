"""The command's process ends without the garbage collector walking its heap.

When Python exits it runs the cyclic garbage collector over every object still alive (the
~300 modules, their classes and functions, the loaded manifest, the plugins: some 28,000
objects after a status call) and takes them apart one by one, although the operating system
reclaims the whole process a moment later. For a short command such as ``fal-connector run
get_request_status`` that is a noticeable part of its run time, and a workflow engine starts
the command once per step.

So the command registers, once per process, an exit handler that freezes the collector's
objects (``gc.freeze``): at exit the collector neither walks nor frees them. The rest of a
normal exit is unchanged: every other exit handler runs (logging's flush), buffered output is
written, objects that reference counting frees are freed as before. Nothing happens until the
process exits, so a program or a test that calls ``main()`` keeps its collector as it was.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def freeze_heap_at_exit() -> None:
    """Register (once) the exit handler that freezes the collector's objects."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
