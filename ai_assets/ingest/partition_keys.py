"""Partition keys: a safe slug of the file name plus a content hash, so the same bytes always map to one video."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

HASH_CHARS = 10
MAX_SLUG = 48
_UNSAFE = re.compile(r"[^a-z0-9]+")


def slugify(filename: str) -> str:
    """A lowercase ASCII slug of a file name without its extension, e.g. 'Q&A, día 2.mp4' -> 'q-a-dia-2'."""
    stem = PurePath(filename).stem or filename
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("-", ascii_stem.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "video"


def video_key(filename: str, sha256: str) -> str:
    """The partition key: same bytes give the same suffix, same name with other bytes another key."""
    return f"{slugify(filename)}-{sha256[:HASH_CHARS]}"
