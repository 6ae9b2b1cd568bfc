"""Asset outputs as one parquet file per asset partition: <storage root>/lake/<asset>/<partition>.parquet."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.ingest.partition_keys import checked_key
from ai_assets.storage.objects import ObjectStore
from resources.storage import StorageRoot


def lake_file(root: Path, asset: str, partition: str) -> Path:
    """The file under a local lake folder (tests and local tools; the IO manager works on locations)."""
    return root / asset / f"{checked_key(partition)}.parquet"


def lake_location(store: ObjectStore, asset: str, partition: str) -> str:
    """Where one partition of an asset's table lives: <root>/lake/<asset>/<partition>.parquet."""
    return store.location("lake", asset, f"{checked_key(partition)}.parquet")


class LakeIOManager(dg.ConfigurableIOManager):
    """Writes each partition to a temporary file or key and renames it, so readers never see half a table."""

    storage: StorageRoot

    def _location(self, asset_key: dg.AssetKey, partition: str) -> str:
        return lake_location(self.storage.store(), "/".join(asset_key.path), partition)

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        location = self.storage.store().write_table(self._location(context.asset_key, context.asset_partition_key),
            obj)
        # dagster/row_count: the UI shows it on the asset's page and plots it per partition.
        context.add_output_metadata({"dagster/row_count": dg.MetadataValue.int(obj.num_rows),
            "path": dg.MetadataValue.path(location)})

    def load_input(self, context: dg.InputContext) -> pa.Table:
        location = self._location(context.asset_key, context.asset_partition_key)
        store = self.storage.store()
        if not store.exists(location):
            raise FileNotFoundError(f"{location} is missing: materialize {context.asset_key.to_user_string()} for "
                "this video first")
        return store.read_table(location)
