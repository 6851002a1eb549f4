"""A local fal.ai emulator: queue, sync run, platform API, webhooks, storage, faults.

    from connector.emulator import Emulator
    with Emulator() as emu:
        os.environ.update(emu.env())
        ...

See ``emulator.Emulator`` for the API and ``cli.main`` for ``fal-connector emulator``.
"""

from .emulator import Emulator
from .faults import FaultRule

__all__ = ["Emulator", "FaultRule"]
