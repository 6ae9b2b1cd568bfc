import hashlib

import pytest

from ai_assets.ingest.intake import ingest_local, lookup
from ai_assets.ingest.partition_keys import HASH_CHARS, slugify, video_key

FORBIDDEN = set(",/|[]")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Keynote 2026.mp4", "keynote-2026"),
        ("Día 2, Q&A [final] | ß.mp4", "dia-2-q-a-final"),
        ("../../etc/passwd", "passwd"),
        ("日本語.mov", "video"),
        ("a" * 200 + ".mp4", "a" * 48),
        (".mp4", "mp4"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_key_has_hash_suffix_and_no_forbidden_characters():
    sha = hashlib.sha256(b"x").hexdigest()
    key = video_key("Día 2, Q&A [final] | ß / cut.mp4", sha)
    assert key.endswith("-" + sha[:HASH_CHARS])
    assert not FORBIDDEN & set(key)


def test_same_bytes_same_key_and_same_name_other_bytes_other_key(tmp_path):
    intake = tmp_path / "intake"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "talk.mp4"
    first.write_bytes(b"one")
    copy = tmp_path / "b" / "renamed.mp4"
    copy.write_bytes(b"one")
    other = tmp_path / "b" / "talk.mp4"
    other.write_bytes(b"two")

    up_first = ingest_local(intake, first)
    up_copy = ingest_local(intake, copy)
    up_other = ingest_local(intake, other)

    assert up_copy == up_first  # re-upload of the same bytes: the first record is kept
    assert up_other.key != up_first.key
    assert up_first.key.startswith("talk-") and up_other.key.startswith("talk-")
    assert sorted(p.stem for p in intake.glob("*.json")) == sorted([up_first.key, up_other.key])
    assert lookup(intake, up_first.key).source == str(first.resolve())
