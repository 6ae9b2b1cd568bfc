"""Automation conditions and retry policies shared by the assets."""

import dagster as dg

AC = dg.AutomationCondition

# Rerun a video's stage when one of its inputs has a new *data version*: an upstream table whose content changed,
# or a policy view whose fields for this stage changed. A parent rematerialized with equal output, or a policy
# edit this stage does not read, requests nothing. A deployment that changes the stage's own code version reruns
# the videos it has made. New partitions arrive through the upload sensor's whole-chain run; like eager(), this
# waits while anything upstream is missing or running.
INPUT_CHANGED = AC.any_deps_match(AC.data_version_changed()).with_label("an input's data version changed")
CODE_CHANGED = (AC.code_version_changed() & ~AC.missing()).with_label("its code version changed")
# A failed step is not automation's to retry: a run whose worker died is relaunched by the run-retry daemon, and
# automation requesting the same step beside it made the work twice; bad input must not be retried at all.
ON_CHANGE = (AC.eager().replace("any_deps_updated", INPUT_CHANGED | CODE_CHANGED)
             & ~AC.execution_failed()).with_label("on_change")

# Steps that read S3, call an endpoint or run ffmpeg under load can fail once and pass a minute later: two more
# tries, 15 s then 30 s apart. Bad input raises dg.Failure(allow_retries=False) and is never tried again.
TRANSIENT = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL)
