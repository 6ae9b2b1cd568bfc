"""The house rules of the layout, checked on the source: domain packages without Dagster, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

ROOTS = ("ai_assets", "resources", "sensors", "schedules")
# The logic packages: plain functions that Dagster's graph, the resources and the CLI call into.
DOMAINS = ("ingest", "speech", "speakers", "language", "vision", "ranking", "render", "policy", "storage",
           "review")
# The only modules that may import both Dagster and `resources`: they wire the graph.
WIRING = ("ai_assets.assets", "ai_assets.jobs", "ai_assets.definitions")
MAX_TOP_LEVEL_MODULES = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for root in ROOTS for p in sorted((REPO / root).rglob("*.py"))}


MODULES = source_modules()


def imports(path: Path, module_level_only: bool) -> set[str]:
    """Every module named by an import in the file (resolved to a module where `from X import Y` names one)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    if module_level_only:  # module level includes `if`/`try` blocks, but not function or class bodies
        stack, nodes = list(tree.body), []
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, ast.If | ast.Try | ast.With):
                stack.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base
                    else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def internal(name: str) -> set[str]:
    """The project modules an import executes: the module and every package above it."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(MODULES)


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "ai_assets" and parts[1] in DOMAINS else None


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; returns the components with more than one node, or a node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_strongly_connected_finds_a_cycle_and_accepts_a_chain():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert strongly_connected({"a": {"a"}}) == [["a"]]


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "with-function-level"])
def test_no_import_cycle_between_modules(module_level_only):
    """Module-level cycles break imports; function-level ones (cli.py <-> policy_cli.py once) tangle the code."""
    graph = {
        name: {dep for imported in imports(path, module_level_only) for dep in internal(imported)} - {name}
        # A package's own __init__ runs before its modules; an edge back to it is not a cycle of ours.
        - {p for p in internal(name) if name.startswith(p + ".")}
        for name, path in MODULES.items()
    }
    assert strongly_connected(graph) == []


def test_domain_packages_form_no_cycle_even_through_function_level_imports():
    graph: dict[str, set[str]] = {d: set() for d in DOMAINS}
    for name, path in MODULES.items():
        source = domain_of(name)
        if source is None:
            continue
        for imported in imports(path, module_level_only=False):
            target = domain_of(imported)
            if target and target != source:
                graph[source].add(target)
    assert strongly_connected(graph) == [], graph


@pytest.mark.parametrize("domain", DOMAINS)
def test_logic_packages_import_neither_dagster_nor_resources(domain):
    offenders = {
        name: sorted(i for i in imports(path, module_level_only=False) if i.split(".")[0] in ("dagster", "resources")
                     or i.startswith("dagster_"))
        for name, path in MODULES.items()
        if domain_of(name) == domain
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_wiring_imports_both_dagster_and_resources():
    both = []
    for name, path in MODULES.items():
        roots = {i.split(".")[0] for i in imports(path, module_level_only=False)}
        if {"dagster", "resources"} <= roots and not name.startswith(WIRING) and name.split(".")[0] == "ai_assets":
            both.append(name)
    assert both == []


def test_few_modules_sit_directly_in_ai_assets():
    top = sorted(p.name for p in (REPO / "ai_assets").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert {p.name for p in (REPO / "ai_assets").iterdir() if p.is_dir()
            and (p / "__init__.py").exists()} >= set(DOMAINS)
