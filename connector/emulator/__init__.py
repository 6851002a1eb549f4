"""A local fal.ai emulator: queue, sync run, platform API, webhooks, storage, faults.

    from connector.emulator import Emulator
    with Emulator() as emu:
        os.environ.update(emu.env())
        ...

See ``emulator.Emulator`` for the API and ``cli.main`` for ``fal-connector emulator``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Emulator", "FaultRule"]

if TYPE_CHECKING:
    from .emulator import Emulator
    from .faults import FaultRule


def __getattr__(name: str) -> Any:
    # Imported on first use, so `fal-connector --help` (which reads the emulator's options from
    # .cli) does not load the whole server.
    modules = {"Emulator": ".emulator", "FaultRule": ".faults"}
    if name not in modules:
        raise AttributeError(f"module 'connector.emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(modules[name], __name__), name)
    globals()[name] = value
    return value
