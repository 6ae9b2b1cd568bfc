"""Automation conditions and retry policies shared by the assets."""

import dagster as dg

# Rerun when an upstream asset or a policy's data version changes, once nothing upstream is
# missing or running. New partitions arrive through the upload sensor's whole-chain run instead.
EAGER = dg.AutomationCondition.eager()

# Steps that read S3, call an endpoint or run ffmpeg under load can fail once and pass a minute later: two more
# tries, 15 s then 30 s apart. Bad input raises dg.Failure(allow_retries=False) and is never tried again.
TRANSIENT = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL)
