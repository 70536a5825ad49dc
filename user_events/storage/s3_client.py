"""A boto3 S3 client for the S3-compatible object store (AWS S3, SeaweedFS, MinIO, ...), without Dagster.

Used by the `S3Storage` resource and, directly, by the `user-events sink s3` process (which must start
without importing Dagster). Unset values fall back to the variables of docs/reference.md (USER_EVENTS_S3_ENDPOINT,
USER_EVENTS_S3_BUCKET, AWS_REGION); the access keys are left to boto3's own credential chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles) unless given. With a custom
endpoint the client uses path-style addressing, which every S3-compatible store understands.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from user_events.config import settings


def default_bucket() -> str:
    return settings().s3_bucket


def s3_client(
    endpoint_url: str | None = None,
    region_name: str | None = None,
    profile_name: str | None = None,
    max_attempts: int = 5,
    use_ssl: bool = True,
    verify: bool | str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    use_unsigned_session: bool = False,
) -> Any:
    import boto3
    from botocore.config import Config

    configured = settings()
    endpoint = endpoint_url or configured.s3_endpoint
    session = boto3.session.Session(profile_name=profile_name)
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint else {},
    )
    client = session.client(
        "s3",
        region_name=region_name or configured.aws_region,
        endpoint_url=endpoint,
        use_ssl=use_ssl,
        verify=verify,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        config=config,
    )
    if use_unsigned_session:
        from botocore import UNSIGNED

        client.meta.events.register("choose-signer.s3.*", lambda **_: UNSIGNED)
    return client


def download_objects(client: Any, bucket: str, keys: list[str], dest: Path, threads: int = 16) -> list[Path]:
    """Each object fetched to `dest/<its key>` by parallel GETs; returns the local paths in `keys`' order.

    The key's layout is kept under `dest`, so whatever parses a lake key (the hour, the partition) parses the
    local path the same way.
    """

    def fetch(key: str) -> Path:
        path = dest / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # one GET per object (download_file's managed transfer adds a HEAD and a thread pool per object)
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        with path.open("wb") as out:
            shutil.copyfileobj(body, out, 1 << 20)
        return path

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fetch, keys))
