"""Small value classes of the connector's own internals, without ``@dataclass``.

``dataclass()`` writes the source of ``__init__``, ``__repr__``, ``__eq__`` (and for a frozen
class ``__hash__``, ``__setattr__``, ``__delattr__``) and compiles each one when the class is
created: 0.5-1 ms per class, paid at every start of the ``fal-connector`` command, which creates
a dozen of them before its first request. A ``Record`` subclass names its fields in
``_fields`` (in the order of its ``__init__``'s positional parameters; usually ``__slots__`` too)
and sets them in its own ``__init__``; the rest is shared, written once here. The manifest
models (``ActionSpec``...) and ``Config`` stay dataclasses: they are public, and callers use
``dataclasses.fields``/``replace``.
They are declared ``eq=False, repr=False`` and inherit ``DataclassMethods``, the same three
methods written once, so ``dataclass()`` compiles only ``__init__``; the immutable ones inherit
``FrozenDataclass`` instead of passing ``frozen=True``, whose two guards ``dataclass()`` would
compile for each class (half of its cost for ``Config``).
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any


class Record:
    """Fields named in ``_fields``; equal to a record of the same class with equal fields; shown
    as ``Name(field=value, ...)``; copied and pickled by its fields. Mutable, so unhashable.
    A subclass that also sets ``__slots__ = _fields`` takes no other attribute."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # as a mutable dataclass: compared by value, so not hashable

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, self._values())  # __init__ takes the fields in _fields order


class Frozen(Record):
    """A ``Record`` whose fields are set once, in ``__init__`` through ``_set``; hashable."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}: it is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}: it is frozen")

    def __hash__(self) -> int:  # type: ignore[override]  # a Record is unhashable, a frozen one is not
        return hash(self._values())


class DataclassMethods:
    """``__eq__``, ``__hash__`` and ``__repr__`` for a dataclass declared with ``eq=False,
    repr=False``, answering as the ones ``dataclass()`` would generate: equal to an instance of
    the same class whose compared fields are equal, hashed by those fields (a mutable dataclass
    sets ``__hash__ = None`` in its body, as ``dataclass()`` would), shown as
    ``Name(field=value, ...)`` with the fields that have ``repr=True``."""

    __slots__ = ()

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)  # type: ignore[arg-type]  # only dataclasses inherit this

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                          if (f.compare if f.hash is None else f.hash)))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({fields})"


class FrozenDataclass(DataclassMethods):
    """``DataclassMethods`` for a dataclass that is immutable as ``@dataclass(frozen=True)`` makes
    one: its ``__init__`` sets each field once, then assigning or deleting any attribute raises
    ``dataclasses.FrozenInstanceError``. (``__post_init__`` normalises a field with
    ``object.__setattr__``, as for a frozen dataclass.)"""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        fields = self.__dataclass_fields__  # type: ignore[attr-defined]  # only dataclasses inherit this
        if name in self.__dict__ or name not in fields:  # only __init__ sets a field that is not set yet
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
