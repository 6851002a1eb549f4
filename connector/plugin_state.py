"""State a plugin keeps for each ``Connector`` (a cache of JWKS, a CDN token, cost estimates).

The plugin owns it: a module-level ``PerConnector`` in the plugin's module holds one value per
Connector, made on first use and dropped with the Connector. It is keyed by the Connector's
plugin manager, which both the ``Connector`` and each call's ``ActionContext`` carry, so a
handler reaches its own cache without a handle on the Connector::

    _tokens = PerConnector(TokenCache)

    def handler(inputs, context):
        cache = _tokens.get(context)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class HasPlugins(Protocol):
    plugin_manager: Any  # a pluggy.PluginManager: one per Connector


class PerConnector(Generic[T]):
    """One ``factory()`` value per Connector; thread-safe, made once, freed with the Connector."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, owner: HasPlugins) -> T:
        """The value of ``owner``'s Connector (``owner`` is the Connector or an ``ActionContext``)."""
        key = owner.plugin_manager
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = self._factory()
            return value
