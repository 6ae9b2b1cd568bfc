"""S3 access for the upload sensor, the intake job and source_video: dagster-aws's S3Resource, with the client made
on first use.

dagster-aws builds a boto3 client whenever the resource is set up (to put it on `context.resources`), so every
upload-sensor tick and every video run paid ~0.3 s of CPU loading botocore's service models, with or without a
bucket configured. Our code always calls `get_client()` itself, and only when S3 is in play.
"""

from __future__ import annotations

from dagster_aws.s3 import S3Resource


class LazyS3Resource(S3Resource):
    def get_object_to_set_on_execution_context(self) -> LazyS3Resource:
        return self
