"""fal-connector: fal.ai's generative models as declared, JSON-Schema-typed actions.

    from connector import Connector
    out = Connector().run("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": "…"})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Action", "ActionError", "ActionSpec", "Connector", "InvalidInputError", "hookimpl", "__version__"]

# The public names are imported on first use, so importing a submodule (``connector.emulator``,
# ``connector.webhooks``, the ``fal-connector`` command's ``--help``) loads only what it needs.
_LAZY = {
    "Action": "connector.models",
    "ActionError": "connector.errors",
    "ActionSpec": "connector.models",
    "Connector": "connector.runner",
    "InvalidInputError": "connector.errors",
    "hookimpl": "connector.hookspecs",
}

if TYPE_CHECKING:
    from connector.errors import ActionError, InvalidInputError
    from connector.hookspecs import hookimpl
    from connector.models import Action, ActionSpec
    from connector.runner import Connector


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'connector' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
