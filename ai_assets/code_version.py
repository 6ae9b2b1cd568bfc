"""Each stage's code version: a hash of the source of the logic it runs, derived, never written by hand.

The version covers the stage's asset module and every project module it imports, directly or through
another project module (a name taken from a package's `__init__` counts as the module that defines
it). Modules are hashed as their syntax tree without docstrings, so comments, formatting and
docstrings never make a stage stale, and any change to what the code does does. Plumbing that cannot
change an output (the other asset modules' wiring, metrics, the model worker's transport, settings,
locks) is left out, so editing it reruns nothing.

Only the standard library is used: Dagster loads this to read the definitions, so it must stay cheap
(about a millisecond per module, once per process).
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("ai_assets", "resources")

# Modules whose code cannot change what a stage makes.
NEUTRAL = frozenset({
    "ai_assets.assets.automation",  # automation conditions and retry policies
    "ai_assets.assets.failures",  # how a failure is reported
    "ai_assets.assets.policies",  # the policy sources: their data versions carry the policy itself
    "ai_assets.partitions",
    "ai_assets.storage.metrics", "ai_assets.storage.catalog", "ai_assets.storage.locking",
    "ai_assets.storage.settings", "ai_assets.storage.files", "ai_assets.storage.objects",  # where bytes go, not what
    "resources.storage", "resources.media_store", "resources.clip_store",
    "resources.metrics", "resources.model_worker", "resources.lake", "resources.policies",
    "ai_assets.code_version", "ai_assets.instance",
    # Schemas, defaults and the store: what they mean for an output is mostly the policy content, which the
    # policy views version field by field (a changed default changes a view's version). The few helpers there
    # that shape a decode (VadRule.params, HealRule.params, rule_for) are tiny; an edit to them is a case for
    # `ai-assets refresh` after bumping a view, and is the price of not rerunning everything on a store fix.
    "ai_assets.policy.documents", "ai_assets.policy.history", "ai_assets.policy.views",
})


def _file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


@cache
def _parsed(module: str) -> ast.Module | None:
    path = _file(module)
    return ast.parse(path.read_text(), filename=str(path)) if path else None


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def module_hash(module: str) -> str:
    """The hash of a module's syntax tree without docstrings (comments and layout are not in the tree)."""
    tree = _parsed(module)
    if tree is None:
        return ""
    # In place, on the one parse of the module: `imports` reads only import statements, which stay. (Unparsing and
    # parsing again, as before, gave the same dump in twice the time: a third of a second in every run's start.)
    return hashlib.sha256(ast.dump(_without_docstrings(tree)).encode()).hexdigest()


def _absolute(package: str, module: str | None, level: int) -> str:
    """`from <level dots><module> import ...` written inside `package`, as an absolute module name."""
    if not level:
        return module or ""
    parts = package.split(".")
    return ".".join(parts[: len(parts) - level + 1] + ([module] if module else []))


def _resolve(package: str, name: str) -> str:
    """The module that defines `name` when it is imported from `package` (following re-exports in __init__)."""
    candidate = f"{package}.{name}"
    if _file(candidate):
        return candidate
    tree = _parsed(package)
    if tree is not None and _file(package).name == "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and any((alias.asname or alias.name) == name for alias in node.names):
                return _absolute(package, node.module, node.level)
    return package


@cache
def imports(module: str) -> tuple[str, ...]:
    """The project modules `module` imports anywhere in its body, function-level imports included."""
    tree = _parsed(module)
    found: set[str] = set()
    if tree is None:
        return ()
    package = module if _file(module) and _file(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if _is_project(alias.name))
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(package, node.module, node.level)
            if _is_project(source):
                found.update(_resolve(source, alias.name) for alias in node.names)
    return tuple(sorted(found - {module}))


def covered(asset_module: str) -> tuple[str, ...]:
    """The modules a stage's code version covers: its own and what it reaches through project imports."""
    seen, todo = set(), [asset_module]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for child in imports(module):
            if child in NEUTRAL or (child.startswith("ai_assets.assets.") and child != asset_module):
                continue
            todo.append(child)
    return tuple(sorted(m for m in seen if _file(m)))


def code_version(asset_module: str) -> str:
    """The code version of the stage defined in `asset_module` (pass `__name__`)."""
    digest = hashlib.sha256()
    for module in covered(asset_module):
        digest.update(f"{module}:{module_hash(module)}\n".encode())
    return digest.hexdigest()[:12]
