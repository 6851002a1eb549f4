"""Typed views of the manifest: what an action is, once loaded and validated."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ActionError
from connector.record import DataclassMethods, FrozenDataclass
from connector.schema_check import SchemaValidator
from connector.schema_refs import bundle


def _check(owner: object, types: dict[str, type | tuple[type, ...]]) -> None:
    """Refuse a field of the wrong type, naming it (a plugin's spec is checked when made)."""
    for name, kind in types.items():
        value = getattr(owner, name)
        if not isinstance(value, kind):
            expected = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            raise ValueError(f"{type(owner).__name__}: field {name!r}: expected {expected}, got {type(value).__name__} {value!r:.60}")


def _build(kind: Any, value: Any, name: str) -> Any:
    """A nested model from a plain dict (as the manifest and plugins write it)."""
    if isinstance(value, dict):
        try:
            return kind(**value)
        except TypeError as exc:  # an unknown or missing key
            raise ValueError(f"ActionSpec: field {name!r}: {exc}") from None
    return value


class _Dumps(FrozenDataclass):
    def model_dump(self) -> dict[str, Any]:
        """The fields as plain data (nested models as dicts), as pydantic's ``model_dump()`` gave them."""
        dumped: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]  # only dataclasses inherit this
        return dumped


@dataclass(kw_only=True, eq=False, repr=False)  # frozen, eq, hash, repr: FrozenDataclass
class Operation(_Dumps):
    """Where an action's request goes (the rest of a declared operation is ``connector.operation``'s)."""

    method: str
    host: str  # queue | run | api | jwks | rest | cdn | local
    path: str

    def __post_init__(self) -> None:
        _check(self, {"method": str, "host": str, "path": str})


@dataclass(kw_only=True, eq=False, repr=False)  # frozen, eq, hash, repr: FrozenDataclass
class Annotations(_Dumps):
    """What an agent platform is told about an action's effects."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True

    def __post_init__(self) -> None:
        _check(self, dict.fromkeys(("read_only", "destructive", "idempotent", "open_world"), bool))


@dataclass(kw_only=True, eq=False, repr=False)  # frozen, eq, hash, repr: FrozenDataclass
class ActionSpec(_Dumps):
    """One declared action: a manifest entry with its schemas loaded and made self-contained.

    Made from keywords; ``annotations`` and ``operation`` may be given as plain dicts and
    ``aliases`` as a list. A field of the wrong type is refused with its name."""

    id: str
    title: str
    aliases: tuple[str, ...] = ()
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    operation: Operation | None = None
    retry: str = "read"
    streaming: bool = False
    annotations: Annotations
    group: str = "queue"  # which tool group offers it to agents (connector.agents.groups)

    def __post_init__(self) -> None:
        if isinstance(self.aliases, list):
            object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "annotations", _build(Annotations, self.annotations, "annotations"))
        object.__setattr__(self, "operation", _build(Operation, self.operation, "operation"))
        _check(self, {"id": str, "title": str, "description": str, "aliases": tuple, "input_schema": dict, "output_schema": dict,
                      "operation": (Operation, type(None)), "retry": str, "streaming": bool, "annotations": Annotations})
        for alias in self.aliases:
            if not isinstance(alias, str):
                raise ValueError(f"ActionSpec: field 'aliases': expected strings, got {alias!r:.60}")

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "aliases": list(self.aliases), "description": self.description}

    def describe(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "annotations": self.annotations.model_dump(),
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
        }


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(eq=False, repr=False)  # eq and repr: DataclassMethods
class Action(DataclassMethods):
    """A declared action bound to the handler that performs it.

    Plugins return these from ``register_actions``. The validators are compiled once, when
    the action is registered, never per call: a ``SchemaValidator`` answers valid instances
    from a compiled check and builds the jsonschema validator only to explain an invalid one.
    """

    spec: ActionSpec
    handler: Handler
    input_validator: SchemaValidator = field(init=False, repr=False)
    output_validator: SchemaValidator = field(init=False, repr=False)
    output_defaults: dict[str, Any] = field(init=False, repr=False)
    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass with eq

    def __post_init__(self) -> None:
        # A plugin's inline schemas may use the shared common.json definitions too. (The
        # manifest's come bundled already: bundle() returns them as they are, the spec too.)
        inputs, outputs = bundle(self.spec.input_schema), bundle(self.spec.output_schema)
        if inputs is not self.spec.input_schema or outputs is not self.spec.output_schema:
            self.spec = dataclasses.replace(self.spec, input_schema=inputs, output_schema=outputs)
        self.input_validator = SchemaValidator(self.spec.input_schema)
        self.output_validator = SchemaValidator(self.spec.output_schema)
        self.output_defaults = output_defaults(self.spec.output_schema)

    @property
    def id(self) -> str:
        return self.spec.id


def output_defaults(output_schema: dict[str, Any]) -> dict[str, Any]:
    """Every field of an output schema at its default: the base of every output, failures included."""
    props = output_schema.get("properties", {})
    return {name: sub.get("default") for name, sub in props.items() if isinstance(sub, dict)}


MAX_ERROR_CHARS = 2000  # the output's one-line ``error``


def failure_output(defaults: dict[str, Any], error: ActionError, *, attempts: int = 0,
                   scrub: Callable[[Any], Any] = lambda value: value) -> dict[str, Any]:
    """The output for ``error``: the action's fields at their ``defaults``, the error's partial
    fields, then ``success: false``, the one-line ``error`` and the ``failure`` object.
    ``scrub`` redacts the message and the detail before any cut."""
    failure = error.failure()
    failure["attempts"] = attempts
    failure["detail"] = scrub(failure["detail"])
    message = scrub(" ".join(str(error.message).split())) or error.type
    return {**defaults, **error.partial, "success": False, "error": message[:MAX_ERROR_CHARS], "failure": failure}
