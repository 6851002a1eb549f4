"""A pydantic-compatible ``BaseModel`` for the connector's own few models, without importing
pydantic on the way to a call.

Importing pydantic costs more than everything else a fresh ``fal-connector run`` does (on the
benchmark machine ~60 ms of a ~250 ms start: see bench/README.md), and the connector uses it for
four small frozen models (``Config``, ``ActionSpec``, ``Operation``, ``Annotations``). This module
keeps their declarations as they were (annotations, ``Field(default, gt=..., le=...)``,
``field_validator``, ``model_config``) and the part of pydantic's API the package uses
(``model_validate``, ``model_construct``, ``model_copy``, ``model_dump``, ``model_dump_json``,
``model_fields``, frozen instances, equality, hashing, ``SecretStr``).

Validation has two paths:

* a fast path for plain input (``str`` for ``str``; ``int``/``float`` or a plain decimal string
  for numbers; ``list``/``tuple`` of ``str``; ``dict``; nested models; ``None`` for optional
  fields), with the declared constraints and validators: it gives what pydantic gives;
* everything else (any other type, any constraint or validator failure, unknown fields, an
  annotation the fast path does not know) is handed to an equivalent pydantic model built on
  first need from the same declarations, so its coercions and its error messages are exactly
  pydantic's. ``tests/test_model.py`` compares both paths on generated input.

A validation error is a ``connector._model.ValidationError`` (a ``ValueError``, like
pydantic's) that carries pydantic's error (``errors()``, ``str()``).
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

_MISSING: Any = object()
_PLAIN_INT = re.compile(r"[0-9]{1,15}\Z")
_PLAIN_FLOAT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")


class ValidationError(ValueError):
    """Input a model refuses; ``errors()`` and ``str()`` are pydantic's."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.pydantic_error = error

    def errors(self, **kwargs: Any) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.pydantic_error.errors(**kwargs)
        return errors

    def error_count(self) -> int:
        return int(self.pydantic_error.error_count())

    @property
    def title(self) -> str:
        return str(self.pydantic_error.title)


class _Fallback(Exception):
    """The fast path cannot decide: ask pydantic."""


def ConfigDict(**settings: Any) -> dict[str, Any]:  # noqa: N802 - pydantic's name
    return dict(settings)


class FieldInfo:
    def __init__(self, default: Any = _MISSING, **constraints: Any) -> None:
        self.default = default
        self.constraints = constraints


def Field(default: Any = _MISSING, **constraints: Any) -> Any:  # noqa: N802 - pydantic's name
    return FieldInfo(default, **constraints)


_F = TypeVar("_F")


def field_validator(*fields: str, mode: str = "after") -> Callable[[_F], _F]:
    def mark(method: _F) -> _F:
        func: Any = method.__func__ if isinstance(method, classmethod) else method
        func.__model_validator__ = (fields, mode)
        return method

    return mark


class SecretStr:
    """pydantic's ``SecretStr``: the value never shows in ``repr``, ``str`` or JSON."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and self._secret_value == other._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)

    def __len__(self) -> int:
        return len(self._secret_value)

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr({str(self)!r})"


# -- field kinds the fast path knows (parsed from the annotation text) -------------------------


def _kind(annotation: Any, namespace: dict[str, Any]) -> tuple[str, bool, Any] | None:
    """(kind, optional, model class) for an annotation string, or None (pydantic decides)."""
    if not isinstance(annotation, str):
        return None
    parts = [p.strip() for p in annotation.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) != 1:
        return None
    name = parts[0]
    if name in ("str", "float", "int", "bool"):
        return name, optional, None
    if name == "SecretStr":
        return "secret", optional, None
    if name.replace(" ", "") == "tuple[str,...]":
        return "tuple_str", optional, None
    if name.replace(" ", "") in ("dict[str,Any]", "dict"):
        return "dict", optional, None
    target = namespace.get(name)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return "model", optional, target
    return None


def _number(value: Any, kind: str) -> Any:
    if kind == "float":
        if type(value) is float:
            return value
        if type(value) is int:
            return float(value)
        if type(value) is str and _PLAIN_FLOAT.match(value):
            return float(value)
    elif kind == "int":
        if type(value) is int:
            return value
        if type(value) is str and _PLAIN_INT.match(value):
            return int(value)
    raise _Fallback


def _check_constraints(value: Any, constraints: dict[str, Any]) -> None:
    for name, limit in constraints.items():
        if name == "gt":
            ok = value > limit
        elif name == "ge":
            ok = value >= limit
        elif name == "lt":
            ok = value < limit
        elif name == "le":
            ok = value <= limit
        elif name == "allow_inf_nan":
            ok = limit or math.isfinite(value)
        else:
            ok = False  # a constraint the fast path does not know
        if not ok:
            raise _Fallback


class _Field:
    __slots__ = ("name", "annotation", "default", "constraints", "kind", "optional", "model", "before", "after")

    def __init__(self, name: str, annotation: Any, declared: Any) -> None:
        self.name = name
        self.annotation = annotation
        info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
        self.default = info.default
        self.constraints = info.constraints
        self.kind: str | None = None
        self.optional = False
        self.model: Any = None
        self.before: list[Any] = []
        self.after: list[Any] = []


class BaseModel:
    """See the module docstring. Subclasses declare fields with annotations, as in pydantic."""

    model_config: ClassVar[dict[str, Any]] = {}
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _declared: ClassVar[dict[str, _Field]] = {}
    _twin_model: ClassVar[Any] = None
    _resolved: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, _Field] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if name.startswith("_") or "ClassVar" in str(annotation):
                    continue
                declared = vars(klass).get(name, _MISSING)
                fields[name] = _Field(name, annotation, declared)
        for name in fields:
            if name in vars(cls):
                delattr(cls, name)  # defaults live in model_fields, as in pydantic
        cls._declared = fields
        cls.model_fields = {name: FieldInfo(f.default, **f.constraints) for name, f in fields.items()}
        cls._twin_model = None
        cls._resolved = False

    @classmethod
    def _resolve(cls) -> None:
        """Annotations name classes defined later in their module: resolve them on first use."""
        if cls._resolved:
            return
        namespace = vars(sys.modules[cls.__module__])
        validators: dict[str, tuple[list[Any], list[Any]]] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                func = attr.__func__ if isinstance(attr, classmethod) else attr
                marker = getattr(func, "__model_validator__", None)
                if marker is None:
                    continue
                names, mode = marker
                for name in names:
                    before, after = validators.setdefault(name, ([], []))
                    (before if mode == "before" else after).append(func)
        for field in cls._declared.values():
            found = _kind(field.annotation, namespace)
            if found is not None:
                field.kind, field.optional, field.model = found
            field.before, field.after = validators.get(field.name, ([], []))
        cls._resolved = True

    # -- validation ----------------------------------------------------------------------------

    def __init__(self, **data: Any) -> None:
        values = type(self)._validated(data)
        object.__setattr__(self, "__dict__", values)

    @classmethod
    def model_validate(cls, obj: Any) -> Any:
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, dict):
            return cls._from_twin(obj)
        return cls(**obj)

    @classmethod
    def _validated(cls, data: dict[str, Any]) -> dict[str, Any]:
        cls._resolve()
        try:
            return cls._fast(data)
        except _Fallback:
            twin: dict[str, Any] = cls._from_twin(data).__dict__
            return twin

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> dict[str, Any]:
        fields = cls._declared
        if cls.model_config.get("extra") == "forbid" and any(name not in fields for name in data):
            raise _Fallback
        values: dict[str, Any] = {}
        for name, field in fields.items():
            if name in data:
                values[name] = cls._fast_value(field, data[name])
            elif field.default is _MISSING:
                raise _Fallback
            else:
                values[name] = _default(field.default)
        return values

    @classmethod
    def _fast_value(cls, field: _Field, value: Any) -> Any:
        if field.kind is None:
            raise _Fallback
        try:
            for validator in field.before:
                value = validator(cls, value)
        except Exception:
            raise _Fallback from None
        if value is None:
            if not field.optional:
                raise _Fallback
        else:
            kind = field.kind
            if kind in ("float", "int"):
                value = _number(value, kind)
                _check_constraints(value, field.constraints)
            elif field.constraints:
                raise _Fallback
            elif kind == "str":
                if type(value) is not str:
                    raise _Fallback
            elif kind == "bool":
                if type(value) is not bool:
                    raise _Fallback
            elif kind == "secret":
                if type(value) is not str:
                    raise _Fallback
                value = SecretStr(value)
            elif kind == "tuple_str":
                if type(value) not in (tuple, list) or any(type(v) is not str for v in value):
                    raise _Fallback
                value = tuple(value)
            elif kind == "dict":
                if type(value) is not dict or any(type(k) is not str for k in value):
                    raise _Fallback
                value = dict(value)
            elif kind == "model":
                model = field.model
                if type(value) is dict:
                    model._resolve()
                    value = model.model_construct(**model._fast(value))
                elif type(value) is not model:
                    raise _Fallback
        try:
            for validator in field.after:
                value = validator(cls, value)
        except Exception:
            raise _Fallback from None
        return value

    # -- the pydantic twin: the reference for everything the fast path leaves ----------------------

    @classmethod
    def _twin(cls) -> Any:
        if cls._twin_model is not None:
            return cls._twin_model
        import pydantic

        cls._resolve()
        namespace = dict(vars(sys.modules[cls.__module__]))
        namespace["SecretStr"] = pydantic.SecretStr
        for field in cls._declared.values():
            if field.model is not None:
                namespace[field.model.__name__] = field.model._twin()
        definitions: dict[str, Any] = {}
        for name, field in cls._declared.items():
            annotation = field.annotation
            if isinstance(annotation, str):
                annotation = eval(annotation, namespace)  # noqa: S307 - the model's own annotation text
            default = ... if field.default is _MISSING else field.default
            definitions[name] = (annotation, pydantic.Field(default, **field.constraints))
        validators: dict[str, Any] = {}
        for name, field in cls._declared.items():
            for mode, funcs in (("before", field.before), ("after", field.after)):
                for i, func in enumerate(funcs):
                    decorate: Any = pydantic.field_validator(name, mode=mode)  # type: ignore[call-overload]  # mode is one of the two literals
                    validators[f"_{name}_{mode}_{i}"] = decorate(classmethod(func))
        config: Any = pydantic.ConfigDict(**cls.model_config)  # type: ignore[typeddict-item]  # the model's own config keys
        cls._twin_model = pydantic.create_model(
            cls.__name__, __config__=config, __validators__=validators, __module__=cls.__module__, **definitions
        )
        return cls._twin_model

    @classmethod
    def _from_twin(cls, data: Any) -> Any:
        import pydantic

        try:
            validated = cls._twin().model_validate(data)
        except pydantic.ValidationError as exc:
            raise ValidationError(exc) from None
        return cls._from_pydantic(validated)

    @classmethod
    def _from_pydantic(cls, validated: Any) -> Any:
        values: dict[str, Any] = {}
        for name, field in cls._declared.items():
            value = getattr(validated, name)
            values[name] = _unpydantic(value, field.model)
        return cls.model_construct(**values)

    # -- the rest of pydantic's API that the package uses -----------------------------------------

    @classmethod
    def model_construct(cls, **values: Any) -> Any:
        """An instance from trusted values, without validation (defaults filled in)."""
        instance = cls.__new__(cls)
        full = {name: values[name] if name in values else _default(field.default) for name, field in cls._declared.items()
                if name in values or field.default is not _MISSING}
        object.__setattr__(instance, "__dict__", full)
        return instance

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        values = copy.deepcopy(self.__dict__) if deep else dict(self.__dict__)
        values.update(update or {})
        clone = type(self).__new__(type(self))
        object.__setattr__(clone, "__dict__", values)
        return clone

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        out = {}
        for name, value in self.__dict__.items():
            if exclude_none and value is None:
                continue
            out[name] = _dump(value, mode)
        return out

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        data = self.model_dump(mode="json", exclude_none=exclude_none)
        return json.dumps(data, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))

    def __setattr__(self, name: str, value: Any) -> None:
        if self.model_config.get("frozen"):
            twin = self._twin().model_construct(**{k: _repydantic(v) for k, v in self.__dict__.items()})
            import pydantic

            try:
                setattr(twin, name, value)  # pydantic's own refusal (frozen instance / unknown field)
            except pydantic.ValidationError as exc:
                raise ValidationError(exc) from None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self.model_config.get("frozen"):
            raise AttributeError(f"{type(self).__name__!r} is frozen")
        object.__delattr__(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        if not self.model_config.get("frozen"):
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash(tuple(self.__dict__.values()))

    def __iter__(self) -> Any:
        yield from self.__dict__.items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def __copy__(self) -> Any:
        return self.model_copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = type(self).__new__(type(self))
        object.__setattr__(clone, "__dict__", copy.deepcopy(self.__dict__, memo))
        return clone

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(state))


def _default(value: Any) -> Any:
    """A field's default for one instance: immutable ones shared, others copied (as pydantic does)."""
    if value is None or type(value) in (str, int, float, bool, tuple, frozenset):
        return value
    return copy.deepcopy(value)


def _dump(value: Any, mode: str) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode=mode)
    if isinstance(value, SecretStr):
        return str(value) if mode == "json" else value
    if isinstance(value, dict):
        return {k: _dump(v, mode) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_dump(v, mode) for v in value]
        return items if mode == "json" or isinstance(value, list) else tuple(items)
    return value


def _unpydantic(value: Any, model: Any) -> Any:
    """A value of a validated pydantic twin, as this module's types."""
    kind = type(value).__name__
    if kind == "SecretStr" and hasattr(value, "get_secret_value"):
        return SecretStr(value.get_secret_value())
    if model is not None and value is not None and not isinstance(value, BaseModel):
        return model._from_pydantic(value)
    return value


def _repydantic(value: Any) -> Any:
    if isinstance(value, SecretStr):
        import pydantic

        return pydantic.SecretStr(value.get_secret_value())
    return value
