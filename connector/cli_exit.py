"""How the ``fal-connector`` process ends: once everything of a normal exit that anyone could
see has happened, without taking the interpreter apart.

After a command, a normal exit still frees every module and object one at a time (some 30,000
for a status call): work the operating system does at once when the process ends. Measured on
the benchmark machine it is about 6 ms of a status call's ~150 ms, and a workflow engine starts
the command once per step. So the console script (``cli.command``) ends the process with
``os._exit`` from an exit handler, when nothing observable is left to do:

- the interpreter joins the non-daemon threads before it runs any exit handler;
- exit handlers run last-registered first, and this one is registered when the command starts,
  only if no other is registered yet (a ``sitecustomize`` or a coverage start-up hook may have
  one, and it must still run): so every other handler, logging's flush included, has run;
- it flushes stdout and stderr; if that fails it does nothing, and the normal exit reports the
  failure as it always did;
- the status is the command's own: ``arm`` is given ``main()``'s return value, the status
  ``sys.exit`` is about to end the process with. An exception out of ``main()`` leaves the
  handler unarmed, and the exit is a normal one.

A program or a test that calls ``cli.main()`` exits as it always did.
"""

from __future__ import annotations

import atexit
import os
import sys

_status: int | None = None  # the command's exit status, once it has one


def install() -> None:
    """At the command's start: register the handler, if no exit handler is registered yet."""
    count = getattr(atexit, "_ncallbacks", None)  # CPython's count of registered exit handlers
    if count is not None and count() == 0:
        atexit.register(_end)


def arm(status: int) -> None:
    """The command returned ``status``: the process may end with it."""
    global _status
    _status = status


def _end() -> None:
    if _status is None:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or file: the normal exit reports it
        return
    os._exit(_status)
