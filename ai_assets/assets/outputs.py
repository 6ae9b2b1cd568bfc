"""Every stage's output: its lake table, with the table's content hash as its data version."""

import warnings

import dagster as dg
import pyarrow as pa

from ai_assets.instance import placement
from ai_assets.storage.tables import content_version

# Data versions on outputs are how Dagster tells "rematerialized" from "changed"; beta in 1.13, and documented.
warnings.filterwarnings("ignore", message="Parameter `data_version` of initializer `Output", category=dg.BetaWarning)


def table_output(table: pa.Table, metadata: dict | None = None, used: str = "") -> dg.Output[pa.Table]:
    """`used` is the version of the policy view the stage read, so a new rule gives a new version even where the
    rows come out equal (the rule is part of what made them). Metadata also says where the step ran (the host;
    on Ray, the job and the node), so placement can be checked from the UI or the event log."""
    metadata = {**(metadata or {}), "placement": dg.MetadataValue.json(placement())}
    return dg.Output(table, metadata=metadata, data_version=dg.DataVersion(content_version(table, used)))
