"""The plugin manager's quick skip of a module's non-function attributes finds exactly the hook
implementations pluggy's own scan finds."""

from __future__ import annotations

import functools
import importlib
import types

import pluggy

from connector import hookspecs
from connector.hookspecs import hookimpl
from connector.plugins import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginManager


def _impls(pm: pluggy.PluginManager, plugin: object) -> set[tuple[str, str]]:
    return {(name, impl.function.__name__) for name in dir(pm.hook) if not name.startswith("_")
            for impl in getattr(pm.hook, name).get_hookimpls() if impl.plugin is plugin}


def _scan(cls: type[pluggy.PluginManager], plugin: object) -> set[tuple[str, str]]:
    pm = cls(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    return _impls(pm, plugin)


def _sample_module() -> types.ModuleType:
    module = types.ModuleType("sample_plugin_module")

    @hookimpl
    def action_event(event):  # type: ignore[no-untyped-def]
        pass

    class Holder:
        @staticmethod
        @hookimpl
        def before_execute(action):  # type: ignore[no-untyped-def]
            pass

    marked_partial = functools.partial(lambda action: None)
    marked_partial.fal_connector_impl = {}  # type: ignore[attr-defined]  # callable but not a function: not an implementation
    module.__dict__.update(
        action_event=action_event,
        prepare_request=Holder.__dict__["before_execute"],  # a staticmethod object in the namespace
        execute_action=marked_partial,
        register_actions=3,  # a hook's name, but a constant
        Holder=Holder,
        os=importlib.import_module("os"),
    )
    module.__annotations__ = {"x": int}
    return module


def test_the_quick_scan_finds_what_pluggy_finds() -> None:
    for plugin in (_sample_module(), *(importlib.import_module(name) for name in DEFAULT_PLUGINS)):
        assert _scan(PluginManager, plugin) == _scan(pluggy.PluginManager, plugin)
    found = _scan(PluginManager, _sample_module())
    assert found == {("action_event", "action_event"), ("prepare_request", "before_execute")}


def test_non_functions_are_skipped_without_pluggys_lookup(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    looked_up: list[str] = []
    original = pluggy.PluginManager.parse_hookimpl_opts

    def spy(self, plugin, name):  # type: ignore[no-untyped-def]
        looked_up.append(name)
        return original(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", spy)
    _scan(PluginManager, _sample_module())
    # The constant, the class, the module and the partial (callable, not a function) are skipped
    # as pluggy itself would skip them; the functions go on to pluggy.
    assert not {"register_actions", "Holder", "os", "execute_action"} & set(looked_up)
    assert {"action_event", "prepare_request"} <= set(looked_up)
