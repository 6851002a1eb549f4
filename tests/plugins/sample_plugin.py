"""A sample third-party plugin, as a user would write one (see README "Plugins").

It adds ``count_models`` (an inline-schema action that calls fal through the context, so it
gets retries, auth and attempt counting) and records every ``action_event`` in ``EVENTS``.
The tests load a fresh copy of this module per test, so ``EVENTS`` starts empty.
"""

from __future__ import annotations

from connector import Action, ActionError, ActionSpec, hookimpl

EVENTS: list[dict] = []


def count_models(inputs, context):
    if inputs["q"] == "refuse":
        raise ActionError("policy_denied", "the sample plugin refuses this query")
    response = context.request("GET", context.url("api", "/models"), params={"q": inputs["q"]})
    body = context.require_fields(context.json(response, "models"), "models", "models")
    return {"count": len(body["models"]), "query": inputs["q"]}


SPEC = ActionSpec(
    id="count_models",
    title="Count models",
    aliases=("CountModels",),
    description="How many fal models match a free-text query.",
    input_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["q"],
        "properties": {"q": {"type": "string", "minLength": 1}, "limit": {"type": "integer", "minimum": 1}},
    },
    output_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["success", "error", "failure", "count", "query"],
        "properties": {
            "success": {"type": "boolean"},
            "error": {"type": ["string", "null"], "default": None},
            "failure": {"default": None, "anyOf": [{"$ref": "common.json#/$defs/failure"}, {"type": "null"}]},
            "count": {"type": ["integer", "null"], "default": None},
            "query": {"type": ["string", "null"], "default": None},
        },
    },
    annotations={"read_only": True, "destructive": False, "idempotent": True},
)


@hookimpl
def register_actions():
    return [Action(SPEC, count_models)]


@hookimpl
def action_event(event, context):
    EVENTS.append(dict(event))
