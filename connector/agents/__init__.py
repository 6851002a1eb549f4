"""The connector for agent platforms: tool definitions, tool calls, agent-safe results, MCP.

    conn.tool_specs("openai")           # also "anthropic", "mcp", "jsonschema"
    out = conn.call_tool("subscribe", {"app_id": "fal-ai/flux/dev", "data": {...}, "timeout": None})

``export``       tool definitions generated from the registered actions (manifest + plugins)
``tools``        running one tool call: name lookup, OpenAI-strict ``null`` and JSON-string arguments
``results``      agent-safe outputs: no inline base64 media, at most ``max_tool_result_bytes`` of JSON
``mcp_server``   ``fal-connector mcp``: an MCP server over stdio (needs the ``mcp`` extra)

Cost guardrails (``allowed_models``, ``max_cost_usd``) are the default plugin
``connector.default_plugins.guardrails``, so they hold for ``run()`` too, not only for agents.
"""

from connector.agents.export import FORMATS, tool_name, tool_specs
from connector.agents.results import agent_output

__all__ = ["FORMATS", "agent_output", "tool_name", "tool_specs"]
