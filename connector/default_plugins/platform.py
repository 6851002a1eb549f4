"""The Platform API actions: models, pricing, pricing estimate. All three are declared
operations (manifest.yaml says the query, body and output of each); none needs Python."""

from __future__ import annotations

from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions
from connector.models import Action

HANDLERS = dict.fromkeys(("get_models", "get_pricing", "estimate_pricing"))  # None: the generic handler


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
