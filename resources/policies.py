"""Read access to the current policy documents, for assets, sensors and checks."""

from pathlib import Path

import dagster as dg

from ai_assets.policy.documents import Policy, PolicyStore


class PolicyResource(dg.ConfigurableResource):
    db_path: str
    lake_root: str = ""  # where audio_profile's tables are, for the per-class asr view

    def store(self) -> PolicyStore:
        return PolicyStore(self.db_path)

    def current(self, domain: str) -> Policy:
        return self.store().current(domain)

    def classes(self, partitions: list[str]) -> dict[str, str]:
        """{partition: complexity class} for the videos audio_profile has classed; the others are left out."""
        import pyarrow.parquet as pq

        from resources.lake import lake_file

        found = {}
        for key in partitions:
            path = lake_file(Path(self.lake_root), "audio_profile", key) if self.lake_root else None
            if path is None or not path.exists():
                continue
            try:
                column = pq.read_table(path, columns=["complexity_class"]).column("complexity_class").to_pylist()
            except (OSError, KeyError, ValueError):  # unreadable: that video is left out, the others go on
                continue
            if column and column[0]:
                found[key] = column[0]
        return found
