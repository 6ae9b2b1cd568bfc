"""Asset outputs as one parquet file per asset partition: lake/<asset>/<partition>.parquet."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from ai_assets.ingest.partition_keys import checked_key
from ai_assets.storage.files import atomic_path


def lake_file(root: Path, asset: str, partition: str) -> Path:
    return root / asset / f"{checked_key(partition)}.parquet"


class LakeIOManager(dg.ConfigurableIOManager):
    """Writes each partition to a temp file and renames it, so DuckDB views never see half a file."""

    root: str

    def _path(self, asset_key: dg.AssetKey, partition: str) -> Path:
        return lake_file(Path(self.root), "/".join(asset_key.path), partition)

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        path = self._path(context.asset_key, context.asset_partition_key)
        with atomic_path(path) as tmp:
            pq.write_table(obj, tmp)
        context.add_output_metadata({"rows": dg.MetadataValue.int(obj.num_rows),
            "path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> pa.Table:
        path = self._path(context.asset_key, context.asset_partition_key)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: materialize {context.asset_key.to_user_string()} for this "
                "video first")
        return pq.read_table(path)
