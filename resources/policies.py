"""Read access to the current policy documents, for assets, sensors and checks."""

import dagster as dg

from ai_assets.policy.documents import Policy, PolicyStore
from resources.lake import lake_location
from resources.storage import StorageRoot


class PolicyResource(dg.ConfigurableResource):
    db_path: str
    storage: StorageRoot  # where audio_profile's tables are, for the per-class asr view

    def store(self) -> PolicyStore:
        return PolicyStore(self.db_path)

    def current(self, domain: str) -> Policy:
        return self.store().current(domain)

    def classes(self, partitions: list[str]) -> dict[str, str]:
        """{partition: complexity class} for the videos audio_profile has classed; the others are left out."""
        objects = self.storage.store()
        found = {}
        for key in partitions:
            location = lake_location(objects, "audio_profile", key)
            try:
                if not objects.exists(location):
                    continue
                column = objects.read_table(location, ["complexity_class"]).column("complexity_class").to_pylist()
            except (OSError, KeyError, ValueError):  # unreadable: that video is left out, the others go on
                continue
            if column and column[0]:
                found[key] = column[0]
        return found
