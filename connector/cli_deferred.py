"""Two of requests' optional helpers, imported by the ``fal-connector`` process when first used.

Importing requests imports charset_normalizer (which guesses the encoding of a text body that
declares none, for ``Response.text``) and idna (which encodes a non-ASCII host name), and at that
moment reads nothing of them but charset_normalizer's ``__version__``. The connector's own calls
need neither: it decodes JSON bodies itself, and fal's host names are ASCII. Yet charset_normalizer
alone is about 6 % of a status call's start-up (35 M of its ~540 M instructions, counted with
valgrind): nearly as much as importing all of the connector's own modules on that path (~46 M).

So the console script (``cli.command``), which owns its process, registers both as deferred
modules before anything imports requests. Each is the real module object, made from the package's
own import spec, with its code not yet run; the first read of an attribute it does not have runs
it, in place. requests behaves as before: it gets the version it checks, and ``Response.text`` on
a body without a charset, an IDN host, or a plugin that imports either package loads it where it
is first used. A package already imported, missing, or not plain Python files is left alone.

A library caller's process is not the connector's to change: ``Connector`` never does this.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

# Package -> the attributes requests reads from it at import, each from the (small) submodule
# that defines it, so that reading them runs none of the package's own code.
PACKAGES: dict[str, dict[str, str]] = {
    "charset_normalizer": {"__version__": "version"},
    "idna": {},
}
_LOCK = threading.RLock()  # one thread runs a deferred package's code; the others wait for it
_running: set[str] = set()


class DeferredModule(types.ModuleType):
    """A module whose code runs when something first reads an attribute it does not have (or
    lists its attributes)."""

    def __getattr__(self, name: str) -> Any:
        _run(self)
        if type(self) is DeferredModule:  # read by the package's own code while it runs
            raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {name!r}")
        return getattr(self, name)

    def __dir__(self) -> list[str]:
        _run(self)
        return types.ModuleType.__dir__(self)  # type: ignore[return-value]  # a module's is a list


def _run(module: DeferredModule) -> None:
    """Run the package's code in ``module`` (once; other threads wait for it to finish)."""
    with _LOCK:
        if type(module) is not DeferredModule or module.__name__ in _running:
            return
        _running.add(module.__name__)
        try:
            module.__spec__.loader.exec_module(module)  # type: ignore[union-attr]  # checked in defer()
        except BaseException:
            sys.modules.pop(module.__name__, None)  # as a failed import leaves it: the next import tries again
            raise
        finally:
            _running.discard(module.__name__)
        module.__class__ = types.ModuleType  # type: ignore[assignment]  # a plain module from now on


def install() -> None:
    """Defer every package of ``PACKAGES`` that is not imported yet."""
    for name, attributes in PACKAGES.items():
        defer(name, attributes)


def defer(name: str, attributes: dict[str, str]) -> bool:
    """Register ``name`` as a deferred module, with ``attributes`` (name -> submodule) set from
    their submodules; False (and nothing registered) where it cannot be."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or not isinstance(spec.loader, (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)):
        return False
    module = importlib.util.module_from_spec(spec)
    module.__class__ = DeferredModule
    sys.modules[name] = module
    try:
        for attribute, submodule in attributes.items():
            setattr(module, attribute, getattr(importlib.import_module(f"{name}.{submodule}"), attribute))
    except (ImportError, AttributeError):  # not laid out as expected: imported as usual instead
        for loaded in [key for key in sys.modules if key == name or key.startswith(f"{name}.")]:
            del sys.modules[loaded]
        return False
    return True
