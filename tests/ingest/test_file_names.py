"""File names whose bytes are not UTF-8 (copied from an old Windows disk, a zip archive or a network share): the
video is processed, under its name as people read it, and the file is still read by its own name."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
from hypothesis import given
from hypothesis import strategies as st

from ai_assets.assets import audio, source_video
from ai_assets.definitions import build_resources
from ai_assets.ingest.intake import ingest_local, lookup, readable
from tests.conftest import upload_sensor_tick as tick

LATIN1 = os.fsdecode(b"caf\xe9 r\xe9sum\xe9 \xa9 2009.mp4")  # as Python sees a Windows-1252 name on Linux


def test_names_in_windows_1252_are_read_as_such():
    assert LATIN1 != "café résumé © 2009.mp4"
    assert readable(LATIN1) == "café résumé © 2009.mp4"
    assert readable("naïve 🎤 talk.mp4") == "naïve 🎤 talk.mp4"  # UTF-8 names are left as they are
    assert readable(os.fsdecode(b"\x81\x8d.mp4")) == "\x81\x8d.mp4"  # bytes Windows-1252 leaves undefined: Latin-1


@given(st.binary(max_size=40))
def test_any_bytes_give_a_name_every_table_and_terminal_takes(raw):
    shown = readable(os.fsdecode(raw))
    shown.encode("utf-8")  # no lone surrogates left
    if raw.decode("utf-8", errors="ignore").encode() == raw:
        assert shown == raw.decode("utf-8")


def test_a_video_named_in_windows_1252_is_processed(layout, instance, media):
    folder = layout.home / "from-windows"
    folder.mkdir(parents=True)
    path = folder / LATIN1
    shutil.copyfile(media["short"], path)
    upload = ingest_local(layout.intake, path)
    assert upload.name == "café résumé © 2009.mp4" and upload.key.startswith("cafe-resume-")
    assert upload.source == str(path.resolve())  # the file is opened by its own name
    instance.add_dynamic_partitions("videos", [upload.key])
    result = dg.materialize([source_video, audio], partition_key=upload.key, instance=instance,
                            resources=build_resources(layout))
    [row] = result.output_for_node("source_video").to_pylist()
    assert row["name"] == "café résumé © 2009.mp4"
    assert row["source"] == str(folder.resolve() / "café résumé © 2009.mp4")
    assert result.output_for_node("audio").to_pylist()[0]["speech_seconds"] > 0


def test_the_uploads_folder_takes_such_a_name(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / LATIN1)
    first = tick(instance, layout)
    second = tick(instance, layout, first.cursor)
    [request] = second.run_requests
    upload = lookup(layout.intake, request.partition_key)
    assert upload.name == "café résumé © 2009.mp4"
    assert Path(upload.source).is_file()
