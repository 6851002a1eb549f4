"""The plugin manager: third-party plugins from entry points, then the built-in ones."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import pluggy

from connector import hookspecs
from connector.entry_point_index import has_entry_points

ENTRY_POINT_GROUP = "fal_connector"
DEFAULT_PLUGINS = (
    "connector.default_plugins.core",
    "connector.default_plugins.queue",
    "connector.default_plugins.platform",
    "connector.default_plugins.webhooks",
    "connector.default_plugins.jobs",
    "connector.default_plugins.upload",
    "connector.default_plugins.download",
    "connector.default_plugins.guardrails",
)


def get_plugin_manager(plugins: Iterable[Any] = (), *, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager: hookspecs, entry-point plugins, ``plugins`` given here, then the defaults."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if load_entry_points and has_entry_points(ENTRY_POINT_GROUP):  # nearly always none: known without a scan
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in plugins:
        pm.register(plugin)
    for name in DEFAULT_PLUGINS:
        if not pm.has_plugin(name):
            pm.register(importlib.import_module(name), name)
    return pm
