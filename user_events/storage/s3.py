"""Dagster resource for the S3-compatible object store (AWS S3, SeaweedFS, MinIO, ...).

A thin subclass of dagster_aws's S3Resource: unset fields fall back, at use time, to the contract
variables (USER_EVENTS_S3_ENDPOINT, USER_EVENTS_S3_BUCKET, AWS_REGION); the access keys are left to
boto3's own credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles), so no
secret is ever part of the resource's config. With a custom endpoint the client uses path-style
addressing, which every S3-compatible store understands.
"""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource
from pydantic import Field

from user_events.config import env


class S3Storage(S3Resource):
    bucket: str | None = Field(default=None, description="Bucket; unset -> USER_EVENTS_S3_BUCKET.")

    def bucket_name(self) -> str:
        return self.bucket or env("USER_EVENTS_S3_BUCKET")

    def endpoint(self) -> str | None:
        return self.endpoint_url or env("USER_EVENTS_S3_ENDPOINT")

    def get_client(self) -> Any:
        import boto3
        from botocore.config import Config

        endpoint = self.endpoint()
        session = boto3.session.Session(profile_name=self.profile_name)
        config = Config(
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint else {},
        )
        client = session.client(
            "s3",
            region_name=self.region_name or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=endpoint,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=config,
        )
        if self.use_unsigned_session:
            from botocore import UNSIGNED

            client.meta.events.register("choose-signer.s3.*", lambda **_: UNSIGNED)
        return client
