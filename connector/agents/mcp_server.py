"""``fal-connector mcp``: the connector's actions as an MCP server over stdio.

Built on the official ``mcp`` SDK (2.x, the optional extra ``fal-connector[mcp]``) with its
low-level ``Server``: handlers are given to the constructor, progress goes through the
request's session. One tool per action (``Connector.tool_specs("mcp")``); a call runs
``Connector.call_tool`` in a worker thread, so the event loop keeps serving pings, other calls
and cancellations meanwhile.

- Results: ``structuredContent`` is the action's output (agent-safe: no inline media, at most
  ``max_tool_result_bytes``), and the text content a short summary (what happened, the ids, up
  to five file URLs, any trim note); ``--text json`` puts the whole output JSON in the text
  instead, for clients that ignore ``structuredContent``.
- Failures (``success: false``: bad input, fal errors, guardrail refusals, an unknown tool)
  are results with ``isError: true`` carrying the same structured output, never protocol errors,
  so the model can read ``failure.type`` and correct itself.
- Progress: when the client sends a progress token, every status event of a following action
  (``stream_request_status``, ``subscribe``), the submit, retries and the deadline cancel become
  ``notifications/progress`` with a readable message.
- Cancellation: when the client cancels an in-flight call, the action stops following the job
  and, if the call submitted a job (``subscribe``: as soon as fal gave its ``request_id``;
  ``add_request_to_queue``: when the submit returns), fal's cancel is sent for it, so an
  abandoned job stops billing.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Collection
from typing import Any

from connector.agents.groups import in_groups, selected_groups
from connector.inflight import InFlight
from connector.progress import progress_message
from connector.strict_json import dumps

CANCEL_BUDGET = 15.0  # seconds the cancel of an abandoned job may take
INSTRUCTIONS = (
    "fal.ai generative models (image, video, audio) as tools. To run a model: subscribe (submit and wait, "
    "with a timeout that cancels) or add_request_to_queue then stream_request_status / get_request_status and "
    "get_request_response. Find models with get_models, prices with get_pricing / estimate_pricing. Every "
    "result has success, a one-line error and a failure object (failure.type, failure.retryable); billable "
    "calls are never retried blindly (outcome_unknown means check before resubmitting). Files come back as URLs."
)


def build_server(connector: Any, *, text: str = "summary", groups: Collection[str] | None = None) -> Any:
    """The MCP low-level ``Server`` for ``connector`` (not yet running); with ``groups``, it
    offers and runs only the actions of those groups."""
    import anyio
    import anyio.from_thread
    import anyio.to_thread
    from mcp import types
    from mcp.server.lowlevel import Server

    from connector import __version__
    from connector.agents.results import summary, trim_note
    from connector.agents.tools import find_action

    tools = [types.Tool.model_validate(spec) for spec in connector.tool_specs("mcp", groups)]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        name = params.name
        arguments = params.arguments if params.arguments is not None else {}
        action = find_action(connector, name)
        if not in_groups(action, groups):  # not offered: as unknown as a tool that does not exist
            action, name = None, f"{name} (not in --groups {','.join(sorted(groups or ()))})"
        flight = InFlight(connector, action, arguments)
        progress = [0.0]

        async def report(message: str) -> None:
            progress[0] += 1
            await ctx.session.report_progress(progress[0], None, message)

        def on_event(event: dict[str, Any]) -> None:  # in the worker thread
            message = progress_message(event)
            if message is None or flight.cancelled.is_set():
                return
            try:
                anyio.from_thread.run(report, message)
            except Exception:  # the client went away, or the loop is closing
                connector.log.debug("progress notification not sent", exc_info=True)

        def work() -> dict[str, Any]:
            output: dict[str, Any] = connector.call_tool(name, arguments, on_event=flight.watch(on_event), cancelled=flight.cancelled)
            flight.finish(output)  # a queue submit that returned after the call was cancelled: cancel that job too
            return output

        try:
            output = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            flight.stop()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(flight.wait_cancel, CANCEL_BUDGET, abandon_on_cancel=True)
            raise
        tool = action.id if action is not None else str(name)
        body = dumps(output) if text == "json" else summary(tool, output)
        meta = {"fal-connector/trimmed": note} if (note := trim_note(output)) else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=body)],
            structured_content=output,
            is_error=not output.get("success", False),
            _meta=meta,  # the wire name; mypy only knows the alias
        )

    return Server(
        "fal-connector",
        version=__version__,
        title="fal.ai (fal-connector)",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(connector: Any, *, text: str = "summary", groups: Collection[str] | None = None) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(connector, text=text, groups=groups)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(args: argparse.Namespace | None = None, load_config: Callable[[], Any] | None = None) -> int:
    """``fal-connector mcp``: serve until stdin closes. Diagnostics go to stderr only."""
    text = getattr(args, "text", "summary") if args is not None else "summary"
    try:
        import anyio
        import mcp  # noqa: F401
    except ImportError:
        sys.stderr.write("fal-connector mcp needs the MCP SDK, the 'mcp' extra: in the fal-connector checkout, "
                         "pip install '.[mcp]' (the package is not on PyPI)\n")
        return 1
    from connector.config import ConfigError
    from connector.runner import Connector

    try:
        connector = Connector(config=load_config() if load_config is not None else None)
    except ConfigError as exc:
        sys.stderr.write(f"fal-connector mcp: {exc}\n")
        return 1
    try:
        groups = selected_groups(connector, getattr(args, "groups", None))
    except ValueError as exc:
        sys.stderr.write(f"fal-connector mcp: {exc}\n")
        connector.close()
        return 2
    try:
        anyio.run(functools.partial(serve_stdio, connector, text=text, groups=groups))
    except KeyboardInterrupt:
        pass
    finally:
        connector.close()
    return 0
