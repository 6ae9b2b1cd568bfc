"""Each stage's code version: a hash of the source of the logic it runs, derived, never written by hand.

The version covers the stage's asset module and every project module it imports, directly or through
another project module (a name taken from a package's `__init__` counts as the module that defines
it). Modules are hashed as their syntax tree without docstrings, so comments, formatting and
docstrings never make a stage stale, and any change to what the code does does. Plumbing that cannot
change an output (the other asset modules' wiring, metrics, the model worker's transport, settings,
locks) is left out, so editing it reruns nothing.

Only the standard library is used: Dagster loads this to read the definitions, in every run's process, so it
must stay cheap. Parsing and walking ~70 modules took 0.6 s of CPU per process; what a module's source yields
(its tree hash and its import statements) depends on its bytes alone, so it is kept in a small cache file keyed
by the bytes' SHA-256 (`$XDG_CACHE_HOME/ai-assets/`, else `~/.cache/ai-assets/`). A warm start hashes the files and
parses none. The cache is optional: unreadable, or not writable, and every module is parsed as before.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tempfile
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


# Bump when what a summary holds, or how the tree hash is made, changes: older cache files are then ignored. The
# Python version is part of it: `ast.dump` differs between versions, and a version must not depend on which
# interpreter filled the cache.
CACHE_FORMAT = f"1/py{sys.version_info[0]}.{sys.version_info[1]}"
SUMMARY_FIELDS = {"hash", "imports", "exports"}
CACHE_ENTRIES = 2000  # a few edits' worth of old versions of every module, about 1 MB at most


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ai-assets" / "code_versions.json"


class _SummaryCache:
    """Module summaries by source SHA-256, loaded once per process, written back when something was added."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] | None = None
        self.used: set[str] = set()
        self.dirty = False

    def _load(self) -> dict[str, dict]:
        if self.entries is None:
            try:
                data = json.loads(cache_path().read_text())
                self.entries = data["entries"] if data.get("format") == CACHE_FORMAT else {}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                self.entries = {}
        return self.entries

    def get(self, key: str) -> dict | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict) or set(entry) != SUMMARY_FIELDS:  # absent, or not ours: parse again
            return None
        self.used.add(key)
        return entry

    def put(self, key: str, entry: dict) -> None:
        self._load()[key] = entry
        self.used.add(key)
        self.dirty = True

    def save(self) -> None:
        """Atomically (temporary file, then rename), keeping this process's entries first; best effort."""
        if not self.dirty or self.entries is None:
            return
        self.dirty = False
        keep = {k: self.entries[k] for k in self.used}
        for key, entry in self.entries.items():
            if len(keep) >= CACHE_ENTRIES:
                break
            keep.setdefault(key, entry)
        path = cache_path()
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".code_versions.", suffix=".tmp",
                                             delete=False) as tmp:
                tmp_name = tmp.name
                json.dump({"format": CACHE_FORMAT, "entries": keep}, tmp)
            os.replace(tmp_name, path)
        except OSError:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)


_CACHE = _SummaryCache()


def summarize(source: bytes, filename: str = "<module>") -> dict:
    """What the code version needs from a module's source: the hash of its syntax tree without docstrings, its
    import statements anywhere in the body (`[None, name, 0]` for `import name`, `[module, name, level]` for
    `from <level dots>module import name`), and the names its top level imports (re-exports, for `__init__`s)."""
    tree = ast.parse(source, filename=filename)
    imported: list[list] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.extend([None, alias.name, 0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.extend([node.module, alias.name, node.level] for alias in node.names)
    exports = [[alias.asname or alias.name, node.module, node.level] for node in tree.body
               if isinstance(node, ast.ImportFrom) for alias in node.names]
    # In place, after the imports were read (stripping docstrings leaves import statements alone).
    tree_hash = hashlib.sha256(ast.dump(_without_docstrings(tree)).encode()).hexdigest()
    return {"hash": tree_hash, "imports": imported, "exports": exports}


@cache
def _summary(module: str) -> dict | None:
    path = _file(module)
    if path is None:
        return None
    source = path.read_bytes()
    key = hashlib.sha256(source).hexdigest()
    entry = _CACHE.get(key)
    if entry is None:
        entry = summarize(source, str(path))
        _CACHE.put(key, entry)
    return entry


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def module_hash(module: str) -> str:
    """The hash of a module's syntax tree without docstrings (comments and layout are not in the tree)."""
    summary = _summary(module)
    return summary["hash"] if summary else ""


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
    summary = _summary(package)
    if summary is not None and _file(package).name == "__init__.py":
        for exported, source, level in summary["exports"]:
            if exported == name:
                return _absolute(package, source, level)
    return package


@cache
def imports(module: str) -> tuple[str, ...]:
    """The project modules `module` imports anywhere in its body, function-level imports included."""
    summary = _summary(module)
    if summary is None:
        return ()
    found: set[str] = set()
    package = module if _file(module).name == "__init__.py" else module.rpartition(".")[0]
    for source, name, level in summary["imports"]:
        if source is None and not level:  # import name
            if _is_project(name):
                found.add(name)
            continue
        source = _absolute(package, source, level)
        if _is_project(source):
            found.add(_resolve(source, name))
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
    _CACHE.save()
    return digest.hexdigest()[:12]
