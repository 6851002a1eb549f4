"""The command and Python's cyclic garbage collector: paused while a plain ``run`` starts, and
not walking the heap when the process exits.

Before it sends anything, ``fal-connector run`` imports ~300 modules and builds its Connector:
some 28,000 long-lived objects (modules, classes, the loaded manifest, the plugins) and next to
no garbage. The collector still runs dozens of times meanwhile, each pass walking the objects
made so far; and when Python exits it walks all of them once more and takes them apart one by
one, although the operating system reclaims the whole process a moment later. Together that
is a noticeable part of a status call's run time, and a workflow engine starts the command
once per step. So:

- a plain ``run`` pauses the collector until its Connector is built, then freezes the objects
  that exist (``gc.freeze``: never walked again) and resumes it, so the garbage the action
  itself makes is collected as usual; when ``main()`` returns, the collector is as it was found;
- at exit, an exit handler (registered once per process) freezes the collector's objects, so
  the interpreter's teardown neither walks nor frees them. The rest of a normal exit is
  unchanged: every other exit handler runs (logging's flush), buffered output is written,
  objects that reference counting frees are freed as before. (The console script usually skips
  the teardown altogether, ``cli_exit``; this is for the exits where it cannot.)

A program or a test that calls ``main()`` keeps its collector as it was, until its own exit.
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


class _Pause:
    def __init__(self) -> None:
        self.enabled = gc.isenabled()
        self.freeze = gc.get_freeze_count() == 0  # objects someone else froze are theirs to unfreeze
        self.frozen = False
        self.paused = True
        gc.disable()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            if self.freeze:
                gc.freeze()
                self.frozen = True
            if self.enabled:
                gc.enable()

    def end(self) -> None:
        self.resume()
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


_pause: _Pause | None = None


def pause_start_up() -> None:
    """The collector paused: a plain ``run`` is starting."""
    global _pause
    if _pause is None:
        _pause = _Pause()


def resume() -> None:
    """The Connector is built: freeze what exists and collect again (nothing if not paused)."""
    if _pause is not None:
        _pause.resume()


def end() -> None:
    """The command is done: the collector as ``pause_start_up`` found it."""
    global _pause
    if _pause is not None:
        _pause.end()
        _pause = None
