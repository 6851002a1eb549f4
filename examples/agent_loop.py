"""An agent loop over the OpenAI tool export, with a scripted stand-in for the model.

    python examples/agent_loop.py "a red fox in snow"

The loop is the one you write for OpenAI's Chat Completions API: send the messages and
``conn.tool_specs("openai")``, run every tool call the model makes with ``conn.call_tool(name,
arguments)``, append the output as a ``tool`` message, and stop when the model answers in text.
``ScriptedModel`` answers in the same shape as ``OpenAI().chat.completions.create(...)`` so the
example runs offline (on the emulator: see ``fal-connector emulator``); to use a real model,
replace ``model.create(messages=..., tools=...)`` with
``client.chat.completions.create(model="gpt-4.1", messages=..., tools=...).choices[0].message``.

The connector is built with a guardrail (``allowed_models``). The scripted model first asks for
a model outside it, gets ``failure.type: policy_denied`` back (nothing was sent to fal), reads it
and retries with an allowed model, as a real model does with a tool error.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

from connector import Connector

ALLOWED_MODELS = ["fal-ai/flux/*", "fal-ai/fast-sdxl"]


class ScriptedModel:
    """Plays a model that picks the wrong endpoint first. Returns OpenAI-shaped messages."""

    def __init__(self) -> None:
        self.calls = 0

    def create(self, messages: list[Any], tools: list[dict[str, Any]]) -> Any:
        prompt = messages[0]["content"]
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "tool":
            return self._call_tool(tools, "subscribe", app_id="fal-ai/veo3", data={"prompt": prompt})
        result = json.loads(last["content"])
        if not result["success"] and result["failure"]["type"] == "policy_denied":
            return self._call_tool(tools, "subscribe", app_id="fal-ai/flux/dev", data={"prompt": prompt})
        if not result["success"]:
            return SimpleNamespace(role="assistant", content=f"I could not make it: {result['error']}", tool_calls=None)
        url = result["data"]["images"][0]["url"]
        return SimpleNamespace(role="assistant", content=f"Here is your picture: {url}", tool_calls=None)

    def _call_tool(self, tools: list[dict[str, Any]], name: str, **given: Any) -> Any:
        # Strict mode: every parameter is present, null when not given, and an object the schema
        # cannot describe (the model input ``data``) travels as a JSON string.
        spec = next(t["function"] for t in tools if t["function"]["name"] == name)
        arguments: dict[str, Any] = {key: None for key in spec["parameters"]["properties"]}
        arguments.update({k: json.dumps(v) if isinstance(v, dict) else v for k, v in given.items()})
        self.calls += 1
        call = SimpleNamespace(id=f"call_{self.calls}", type="function",
                               function=SimpleNamespace(name=name, arguments=json.dumps(arguments)))
        return SimpleNamespace(role="assistant", content=None, tool_calls=[call])


def as_message(reply: Any) -> dict[str, Any]:
    """The assistant turn as a plain message to send back (what the OpenAI SDK also accepts)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.function.name, "arguments": c.function.arguments}}
                                 for c in reply.tool_calls]
    return message


def main(argv: list[str] | None = None) -> int:
    prompt = " ".join(sys.argv[1:] if argv is None else argv) or "a red fox in snow"
    model = ScriptedModel()
    with Connector(allowed_models=ALLOWED_MODELS) as conn:
        tools = conn.tool_specs("openai")
        messages: list[Any] = [{"role": "user", "content": prompt}]
        for _turn in range(8):  # a bound, so a confused model cannot loop forever
            reply = model.create(messages=messages, tools=tools)
            messages.append(as_message(reply))
            if not reply.tool_calls:
                print(f"assistant: {reply.content}", flush=True)
                return 0
            for call in reply.tool_calls:
                print(f"tool call: {call.function.name} {call.function.arguments}", flush=True)
                out = conn.call_tool(call.function.name, call.function.arguments)
                failure = out["failure"]["type"] if out["failure"] else None
                print(f"tool result: success={out['success']} failure={failure}", flush=True)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(out)})
    print("assistant: gave up after 8 turns", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
