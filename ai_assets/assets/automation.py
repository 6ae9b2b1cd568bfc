"""Automation conditions and retry policies shared by the assets."""

import dagster as dg

# Set on every run of the whole-video job (ai_assets.jobs.process_video), which makes every stage of its video.
WHOLE_VIDEO_TAG = "ai_assets/whole_video"

AC = dg.AutomationCondition

# Rerun a video's stage when one of its inputs has a new *data version*: an upstream table whose content changed,
# or a policy view whose fields for this stage changed. A parent rematerialized with equal output, or a policy
# edit this stage does not read, requests nothing. A deployment that changes the stage's own code version reruns
# the videos it has made. New partitions arrive through the upload sensor's whole-chain run; like eager(), this
# waits while anything upstream is missing or running.
# A parent changed by a run that made this stage as well (a whole-video run, or any run selecting both) is not a
# reason to run again: the stage has the new input already, or is about to. Without this, a tick landing between a
# run's parent and child steps (Dagster reads "in progress" after "newly updated") saw a changed parent, a child no
# longer in progress and no new child, and launched a second run for the child (about one per 6-12 videos).
SAME_RUN = (AC.executed_with_root_target() | AC.executed_with_tags(tag_values={WHOLE_VIDEO_TAG: "true"})
            ).with_label("changed in a run that made this stage too")
INPUT_CHANGED = AC.any_deps_match(AC.data_version_changed() & ~SAME_RUN).with_label("an input's data version changed")
CODE_CHANGED = (AC.code_version_changed() & ~AC.missing()).with_label("its code version changed")
# A failed step is not automation's to retry: a run whose worker died is relaunched by the run-retry daemon, and
# automation requesting the same step beside it made the work twice; bad input must not be retried at all.
ON_CHANGE = (AC.eager().replace("any_deps_updated", INPUT_CHANGED | CODE_CHANGED)
             & ~AC.execution_failed()).with_label("on_change")

# Steps that read S3, call an endpoint or run ffmpeg under load can fail once and pass a minute later: two more
# tries, 15 s then 30 s apart. Bad input raises dg.Failure(allow_retries=False) and is never tried again.
TRANSIENT = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL)
