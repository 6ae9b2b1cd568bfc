"""Partition keys: a safe slug of the file name plus a content hash, so the same bytes always map to one video."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

HASH_CHARS = 10
MAX_SLUG = 48
_UNSAFE = re.compile(r"[^a-z0-9]+")
# Exactly what video_key makes: slug words joined by single hyphens, then the content hash prefix.
_KEY = re.compile(rf"(?=.{{1,{MAX_SLUG}}}-)[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{{{HASH_CHARS}}}")


def slugify(filename: str) -> str:
    """A lowercase ASCII slug of a file name without its extension, e.g. 'Q&A, día 2.mp4' -> 'q-a-dia-2'."""
    stem = PurePath(filename).stem or filename
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("-", ascii_stem.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "video"


def video_key(filename: str, sha256: str) -> str:
    """The partition key: same bytes give the same suffix, same name with other bytes another key."""
    return f"{slugify(filename)}-{sha256[:HASH_CHARS]}"


def is_video_key(key: object) -> bool:
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def key_problem(key: object) -> str:
    """One line saying why `key` is not a video key (keys added by hand in the UI can be any string, "../x"
    included)."""
    shown = repr(key if not isinstance(key, str) or len(key) <= 80 else f"{key[:77]}...")
    return (f"{shown} is not a video key (a file-name slug, a hyphen and {HASH_CHARS} hex digits of its content "
        "hash); add videos through the uploads folder or `ai-assets process`")


def checked_key(key: str) -> str:
    """The key itself when video_key could have made it; otherwise ValueError, before any path is built from it."""
    if not is_video_key(key):
        raise ValueError(key_problem(key))
    return key
