"""Dagster resource for the S3-compatible object store (AWS S3, SeaweedFS, MinIO, ...).

A thin subclass of dagster_aws's S3Resource whose client comes from `storage.s3_client` (the same client
the `user-events sink s3` process builds without Dagster): unset fields fall back, at use time, to the
variables of docs/reference.md; no secret is ever part of the resource's config.
"""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource
from pydantic import Field

from user_events.storage.s3_client import default_bucket, s3_client


class S3Storage(S3Resource):
    bucket: str | None = Field(default=None, description="Bucket; unset -> USER_EVENTS_S3_BUCKET.")

    def bucket_name(self) -> str:
        return self.bucket or default_bucket()

    def get_client(self) -> Any:
        return s3_client(
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            profile_name=self.profile_name,
            max_attempts=self.max_attempts,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            use_unsigned_session=self.use_unsigned_session,
        )
