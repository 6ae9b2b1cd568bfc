"""Read access to the current policy documents, for assets, sensors and checks."""

import dagster as dg

from ai_assets.policy.documents import Policy, PolicyStore


class PolicyResource(dg.ConfigurableResource):
    db_path: str

    def store(self) -> PolicyStore:
        return PolicyStore(self.db_path)

    def current(self, domain: str) -> Policy:
        return self.store().current(domain)
