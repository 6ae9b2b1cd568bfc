import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_assets.ingest.intake import ingest_local, lookup
from ai_assets.ingest.partition_keys import HASH_CHARS, checked_key, is_video_key, slugify, video_key
from resources.lake import lake_file

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


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=0, max_size=300), content=st.binary(max_size=64))
def test_every_key_video_key_makes_is_valid(name, content):
    key = video_key(name, hashlib.sha256(content).hexdigest())
    assert is_video_key(key)
    assert checked_key(key) == key


@settings(max_examples=300, deadline=None)
@given(key=st.text(min_size=0, max_size=120))
def test_a_valid_key_never_leaves_its_folder(key):
    if is_video_key(key):
        assert "/" not in key and "\\" not in key and ".." not in key and "\0" not in key and "\n" not in key
    else:
        with pytest.raises(ValueError, match="is not a video key"):
            checked_key(key)


@pytest.mark.parametrize("key", ["../x", "../../etc/passwd-0123456789", "talk-0123456789/../../x", "/tmp/x",
    "talk-0123456789\n", "talk-012345678", "Talk-0123456789", "", "talk-0123456789.json"])
def test_hand_made_keys_are_refused_before_any_path_is_built(tmp_path, key):
    with pytest.raises(ValueError, match="is not a video key"):
        lookup(tmp_path, key)
    with pytest.raises(ValueError, match="is not a video key"):
        lake_file(tmp_path, "transcript", key)
    assert list(tmp_path.iterdir()) == []
