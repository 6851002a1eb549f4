"""The plugin manager: third-party plugins from entry points, then the built-in ones.

Every hook is called through ``pm.hook``, so pluggy gives each implementation only the
arguments it names. ``action_event`` observers are guarded one by one as they are registered:
a failing observer is logged and the others, and the action, carry on.
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from collections.abc import Callable, Iterable
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
    "connector.default_plugins.declarative",
    "connector.default_plugins.guardrails",
    "connector.default_plugins.balance_guard",
)
OBSERVER_HOOKS = ("action_event",)  # hooks whose failures are logged, never raised

log = logging.getLogger("connector")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, with each observer implementation guarded when it is registered."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        for hook in OBSERVER_HOOKS:
            for impl in getattr(self.hook, hook).get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    impl.function = _guarded(hook, impl.plugin_name, impl.function)
        return registered

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        # A module's classes, constants, imported names and unmarked functions are never hook
        # implementations, yet pluggy looks each one up with inspect.getattr_static to find that
        # out: ~300 look-ups for the built-in plugins at every start. Only a function-like value
        # that may carry the hookimpl mark goes on to pluggy.
        if isinstance(plugin, types.ModuleType):
            value = vars(plugin).get(name, _ABSENT)
            if value is not _ABSENT and not isinstance(value, _HOOKABLE):
                return None
            if isinstance(value, types.FunctionType) and f"{self.project_name}_impl" not in vars(value):
                return None  # @hookimpl sets this attribute on the function itself
        return super().parse_hookimpl_opts(plugin, name)


_ABSENT = object()
# What pluggy accepts as an implementation (pluggy._manager._static_hook_attr); anything else
# in a module's namespace it would skip too.
_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)


def _guarded(hook: str, plugin_name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(function, "_connector_guarded", False):
        return function

    @functools.wraps(function)
    def guarded(*args: Any) -> None:  # pluggy passes the arguments the implementation names
        try:
            function(*args)
        except Exception:
            log.warning("%s observer %s failed", hook, plugin_name, exc_info=True)

    guarded._connector_guarded = True  # type: ignore[attr-defined]
    return guarded


def get_plugin_manager(plugins: Iterable[Any] = (), *, load_entry_points: bool = True) -> PluginManager:
    """A fresh manager: hookspecs, entry-point plugins, ``plugins`` given here, then the defaults.
    Raises ``pluggy.PluginValidationError`` for a hook implementation that matches no hook."""
    pm = PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if load_entry_points and has_entry_points(ENTRY_POINT_GROUP):  # nearly always none: known without a scan
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in plugins:
        pm.register(plugin)
    for name in DEFAULT_PLUGINS:
        if not pm.has_plugin(name):
            # __import__, not importlib.import_module: only the former is timed by
            # `python -X importtime`, which bench/run.py reads to show where a start goes.
            __import__(name)
            pm.register(sys.modules[name], name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        hooks = ", ".join(sorted(name for name in vars(hookspecs) if hasattr(getattr(hookspecs, name), "fal_connector_spec")))
        raise pluggy.PluginValidationError(exc.plugin, f"{exc}; the hooks are: {hooks}") from exc
    return pm
