"""What the Dagster UI shows per materialization: markdown tables that survive any text, numbers it can plot."""

import re

import dagster as dg
import pyarrow as pa
from hypothesis import example, given
from hypothesis import strategies as st

from ai_assets.assets.outputs import excerpt, markdown_table, table_output
from ai_assets.storage.metrics import MetricRow


def test_spoken_brackets_never_become_an_image_but_our_own_markdown_does():
    row = {"said": "![x](http://tracker.example/p.png)", "thumb": "![rank 1](data:image/jpeg;base64,AA)"}
    md = markdown_table([row], {"said": "said", "thumb": "thumbnail"}, markdown=("thumb",)).value
    assert md.splitlines()[2] == "| !\\[x\\](http://tracker.example/p.png) | ![rank 1](data:image/jpeg;base64,AA) |"


def test_a_markdown_table_keeps_one_line_per_row_whatever_the_text():
    md = markdown_table([{"a": "x | y", "b": "line\none"}, {"a": "<video>", "b": 0.123456}], {"a": "A", "b": "B"})
    lines = md.value.splitlines()
    assert lines == ["| A | B |", "|---|---|", "| x \\| y | line one |", "| &lt;video> | 0.12 |"]


@given(st.lists(st.text(alphabet=st.sampled_from("ab |\\<>[]!\n"), max_size=40) | st.text(max_size=40), min_size=1,
                max_size=5))
@example(["ends in a backslash \\", "a \\| b"])
def test_every_cell_stays_in_its_column(texts):
    md = markdown_table([{"t": t} for t in texts], {"t": "text"}).value
    lines = md.splitlines()
    assert len(lines) == len(texts) + 2
    # A row has exactly the table's two unescaped pipes (a backslash escapes the character after it), and no raw
    # `<` the UI could read as a tag.
    for line in lines[2:]:
        bare = re.sub(r"\\.", "", line)
        assert bare.count("|") == 2 and "<" not in line


def test_excerpt_cuts_on_a_word():
    assert excerpt("short") == "short"
    assert excerpt("one two three four", 10) == "one two…"


def test_the_metrics_row_becomes_numeric_metadata():
    row = MetricRow(asset="transcript", video="v", run_id="r", started_at=0.0, seconds=2.5, realtime_factor=0.04,
                    confidence=0.9)
    output = table_output(pa.table({"x": [1, 2, 3]}), {"model": "tiny.en"}, row=row)
    meta = output.metadata
    assert meta["seconds"] == dg.MetadataValue.float(2.5)
    assert meta["realtime_factor"] == dg.MetadataValue.float(0.04)
    assert meta["confidence"] == dg.MetadataValue.float(0.9)
    assert "audio_seconds" not in meta  # unknown stays absent, not 0
    assert meta["model"].value == "tiny.en"
