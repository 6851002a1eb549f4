"""Typed views of the manifest: what an action is, once loaded and validated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector._model import BaseModel, ConfigDict
from connector.schema_check import SchemaValidator
from connector.schema_refs import bundle


class Operation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    method: str
    host: str  # queue | run | api | jwks | rest | cdn | local
    path: str


class Annotations(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True


class ActionSpec(BaseModel):
    """One declared action: a manifest entry with its schemas loaded and made self-contained."""

    model_config = ConfigDict(frozen=True, extra="forbid")
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


@dataclass
class Action:
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

    def __post_init__(self) -> None:
        # A plugin's inline schemas may use the shared common.json definitions too.
        self.spec = self.spec.model_copy(
            update={"input_schema": bundle(self.spec.input_schema), "output_schema": bundle(self.spec.output_schema)}
        )
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
