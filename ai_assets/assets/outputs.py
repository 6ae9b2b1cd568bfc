"""Every stage's output: its lake table, with the table's content hash as its data version."""

import warnings

import dagster as dg
import pyarrow as pa

from ai_assets.instance import placement
from ai_assets.storage.metrics import MetricRow
from ai_assets.storage.tables import content_version

# Data versions on outputs are how Dagster tells "rematerialized" from "changed"; beta in 1.13, and documented.
warnings.filterwarnings("ignore", message="Parameter `data_version` of initializer `Output", category=dg.BetaWarning)


def table_output(table: pa.Table, metadata: dict | None = None, used: str = "", row: MetricRow | None = None
                 ) -> dg.Output[pa.Table]:
    """`used` is the version of the policy view the stage read, so a new rule gives a new version even where the
    rows come out equal (the rule is part of what made them). Metadata also says where the step ran (the host;
    on Ray, the job and the node), so placement can be checked from the UI or the event log.

    `row`, the stage's metrics row, adds its figures as numbers: the UI plots numeric metadata per partition, so
    seconds, realtime factor and confidence can be followed across videos on the asset's page."""
    metadata = {**(metadata or {}), "placement": dg.MetadataValue.json(placement())}
    if row is not None:
        metadata["seconds"] = dg.MetadataValue.float(float(row.seconds))
        for name in ("realtime_factor", "confidence", "audio_seconds"):
            value = getattr(row, name)
            if value is not None:
                metadata[name] = dg.MetadataValue.float(float(value))
    return dg.Output(table, metadata=metadata, data_version=dg.DataVersion(content_version(table, used)))


def markdown_table(rows: list[dict], columns: dict[str, str], markdown: tuple[str, ...] = ()) -> dg.MetadataValue:
    """Rows as a markdown table for the UI; `columns` maps each row key to its header. Cells are made safe for a
    table: no line breaks or pipes, `<` escaped so the UI's markdown never takes text for an HTML tag, and brackets
    escaped so spoken text never becomes a link or an image; only the `markdown` columns (ours) keep theirs."""
    def cell(key: str, value) -> str:
        text = f"{value:.2f}" if isinstance(value, float) else "" if value is None else str(value)
        text = " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
        return text if key in markdown else text.replace("[", "\\[").replace("]", "\\]")

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(key, row.get(key)) for key in columns) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def excerpt(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
