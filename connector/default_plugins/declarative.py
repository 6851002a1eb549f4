"""The declarative actions: every built-in action whose manifest operation maps fal's answer
to the output (a ``response`` block) is performed by the generic handler, with no Python.

The family plugins (queue, platform, webhooks) list their declarative actions too, so actions
are listed in manifest order; this plugin, registered after them, adds any declarative action
no family lists (a new one written in YAML alone). For one id the first registration wins.
"""

from __future__ import annotations

from connector.hookspecs import hookimpl
from connector.manifest import declarative_ids, manifest_actions
from connector.models import Action


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(dict.fromkeys(declarative_ids()))
