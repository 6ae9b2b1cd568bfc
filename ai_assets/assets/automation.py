"""Automation conditions shared by the downstream assets."""

import dagster as dg

# Rerun when an upstream asset or a policy's data version changes, once nothing upstream is
# missing or running. New partitions arrive through the upload sensor's whole-chain run instead.
EAGER = dg.AutomationCondition.eager()
