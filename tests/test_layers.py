"""Imports go one way: spec -> validation -> http -> runtime -> plugins -> agents -> apps.

The package is read with ``ast`` (nothing is imported), and every import of a ``connector``
module counts: at the top of a module, inside a function (a lazy import is still a
dependency), and under ``if TYPE_CHECKING:``. A type-only import never runs, but a type named
in a signature is still a dependency, so it follows the same rules; that keeps what mypy sees
and what runs the same shape. ``import connector.a.b`` also runs ``connector/a/__init__.py``,
so a module depends on its parent packages too (not on the root ``connector``, see below).

A module may import its own layer or a lower one, and no import cycle may exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "connector"

# Lowest first. A module belongs to the layer of the longest name or prefix that matches it;
# a new module must be placed here, or test_every_module_has_a_layer fails.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # What everything is written in terms of: errors, JSON, the action and settings models.
    ("spec", ("connector.errors", "connector.strict_json", "connector.redaction", "connector.record", "connector.kept_files",
              "connector.models", "connector.config", "connector.schema_check", "connector.schema_refs",
              "connector.schema_walk")),
    # Checking and compiling: input checks, fal's shapes (app ids, statuses, webhook signatures),
    # the manifest loader and the declared operations it compiles.
    ("validation", ("connector.validation", "connector.fal", "connector.manifest",
                    "connector.manifest_cache", "connector.operation", "connector.operation_transforms")),
    # Sending requests: session, retries, deadlines, SSE, following a job.
    ("http", ("connector.http", "connector.fal.follow")),
    # Running one action: hooks, the plugin manager, the context handlers get, the Connector.
    ("runtime", ("connector.hookspecs", "connector.plugins", "connector.entry_point_index", "connector.plugin_state", "connector.context",
                 "connector.runner", "connector.status_stream", "connector.inflight", "connector.interrupt",
                 "connector.progress")),
    # The built-in actions and policies, registered like any third-party plugin.
    ("plugins", ("connector.default_plugins",)),
    # Agent platforms: tool definitions, tool calls, the MCP server.
    ("agents", ("connector.agents",)),
    # Programs on top: the command line, the demo, the emulator, the pytest fixtures, the
    # engine integrations and the webhook helper for web frameworks (it runs get_jwks).
    ("apps", ("connector.__main__", "connector.cli", "connector.cli_", "connector.demo", "connector.emulator",
              "connector.testing", "connector.result_files", "connector.integrations", "connector.webhooks")),
]
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}

# The root package is the public facade, on top with the apps. Its body imports no connector
# module (asserted below), so importing it costs nothing and cannot close a cycle: the layers
# below may read its __version__, and nothing else of it.
ROOT = "connector"
FROM_ROOT = {"__version__"}

# Connector keeps tool_specs() and call_tool() for its callers, as thin delegations that import
# the agents layer when first called, never when the runtime loads. These two imports, inside a
# function, are the only ones allowed upwards.
DELEGATIONS = {("connector.runner", "connector.agents.export"), ("connector.runner", "connector.agents.tools")}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def layer_of(module: str) -> str:
    if module == ROOT:
        return "apps"
    best = max(((len(prefix), name) for name, prefixes in LAYERS for prefix in prefixes
                if module == prefix or module.startswith(prefix if prefix.endswith("_") else prefix + ".")),
               default=None)
    if best is None:
        raise KeyError(module)
    return best[1]


class Import:
    def __init__(self, source: str, target: str, names: set[str], where: str, line: int) -> None:
        self.source, self.target, self.names, self.where, self.line = source, target, names, where, line

    def __repr__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target} ({self.where})"


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:`` (its ``else`` branch does run)."""
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = "function" if where == "top" else where
            elif _type_checking_block(child):
                assert isinstance(child, ast.If)
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), "TYPE_CHECKING")
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), where)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, set(), where, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                for alias in child.names:
                    if f"{base}.{alias.name}" in MODULES:  # from package import submodule
                        add(f"{base}.{alias.name}", set(), where, child.lineno)
                    else:
                        add(base, {alias.name}, where, child.lineno)
            visit(child, inner)

    def add(name: str, names: set[str], where: str, line: int) -> None:
        if name != ROOT and not name.startswith(ROOT + "."):
            return
        target = _known(name)
        if target is not None and target != module:
            found.append(Import(module, target, names, where, line))

    visit(ast.parse(path.read_text(encoding="utf-8")), "top")
    # Importing connector.a.b runs connector/a/__init__.py first.
    parent = module.rpartition(".")[0]
    while parent and parent != ROOT:
        found.append(Import(module, parent, set(), "parent package", 0))
        parent = parent.rpartition(".")[0]
    return found


ALL_IMPORTS = [edge for module in MODULES for edge in imports_of(module)]


def test_the_scan_sees_every_kind_of_import():
    """Guards the test itself: top-level, lazy and TYPE_CHECKING imports are all found."""
    kinds = {(edge.source, edge.target): edge.where for edge in ALL_IMPORTS}
    assert kinds[("connector.runner", "connector.context")] == "top"
    assert kinds[("connector.runner", "connector.agents.tools")] == "function"
    assert kinds[("connector.context", "connector.models")] == "TYPE_CHECKING"
    assert kinds[("connector.default_plugins.queue", "connector.default_plugins")] == "parent package"


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if m != ROOT and not any(m == p or m.startswith(p) for _, ps in LAYERS for p in ps)]
    assert not unplaced, f"place these modules in a layer of LAYERS: {unplaced}"


def test_the_root_package_imports_nothing_when_loaded():
    loaded = [edge for edge in imports_of(ROOT) if edge.where == "top"]
    assert not loaded, f"connector/__init__.py must stay a lazy facade: {loaded}"


def upward(edge: Import) -> str | None:
    """Why ``edge`` breaks the layering, or None."""
    if edge.source == ROOT:
        return None
    if edge.target == ROOT and layer_of(edge.source) != "apps":
        extra = sorted(edge.names - FROM_ROOT)
        return f"imports {extra} from the facade: import from the module that defines it" if extra else None
    if (edge.source, edge.target) in DELEGATIONS and edge.where == "function":
        return None
    source, target = layer_of(edge.source), layer_of(edge.target)
    return f"the {source} layer imports the {target} layer" if RANK[target] > RANK[source] else None


def test_no_module_imports_a_higher_layer():
    broken = [f"{edge}: {why}" for edge in ALL_IMPORTS if (why := upward(edge))]
    assert not broken, "\n".join(broken)


def test_the_core_never_imports_agents_when_loaded():
    upward = [e for e in ALL_IMPORTS if e.target.startswith("connector.agents") and RANK[layer_of(e.source)] < RANK["agents"]]
    assert all((e.source, e.target) in DELEGATIONS and e.where == "function" for e in upward), upward


def test_no_import_cycle():
    """Over every import but two kinds: a package's __init__ importing its own submodules is how
    packages work (the submodule finds its parent already in sys.modules), and the delegations
    above point up on purpose, from the one class every higher layer is written against."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in ALL_IMPORTS:
        if edge.where != "parent package" and (edge.source, edge.target) not in DELEGATIONS:
            graph[edge.source].add(edge.target)
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_handlers_get_a_context_not_the_connector(make_conn):
    """ActionContext carries config, HTTP, events and the deadline; no handler reaches the Connector."""
    from connector import Action, hookimpl
    from connector.manifest import manifest_spec

    seen = {}

    class Probe:
        @hookimpl
        def register_actions(self):
            def handler(inputs, context):
                seen.update(vars(context))
                return {"keys": []}
            return [Action(manifest_spec("get_jwks"), handler)]

    conn = make_conn(plugins=[Probe()])
    assert conn.run("get_jwks", {})["success"] is True
    assert {"config", "http", "deadline_at", "action"} <= set(seen)
    assert conn not in seen.values()
    assert not any(type(value).__name__ == "Connector" for value in seen.values())
    for path in (PACKAGE / "default_plugins").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reached = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "connector"]
        assert not reached, f"{path.name} reaches the Connector through its context at lines {reached}"


def test_plugin_caches_are_per_connector_and_owned_by_the_plugin(make_conn):
    from connector.default_plugins import guardrails, upload, webhooks

    one, two = make_conn(), make_conn()
    assert not hasattr(one, "state") and not hasattr(one, "_state")
    for cache in (guardrails._ESTIMATES, upload._TOKENS, webhooks._JWKS):
        assert cache.get(one) is cache.get(one)
        assert cache.get(one) is not cache.get(two)
