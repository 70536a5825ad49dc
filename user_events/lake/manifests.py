"""What hourly_typed_events read for each hour: one small JSON file per hour, the downstream load's evidence
that the hour was read (a missing hour is not an empty hour)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from user_events.lake.partitions import HOUR_DIR_FORMAT
from user_events.storage.s3_layout import hour_partition_key


def manifest_path(root: Path, hour: datetime) -> Path:
    """What hourly_typed_events read and wrote for an hour; absent = the hour was never read from the lake."""
    return root / "manifest" / f"hour={hour:{HOUR_DIR_FORMAT}}.json"


def write_manifest(root: Path, hour: datetime, objects: list[dict]) -> None:
    path = manifest_path(root, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "hour": hour_partition_key(hour),
        "objects": len(objects),
        "bytes": sum(int(o.get("Size", 0)) for o in objects),
        "read_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest))
    tmp.replace(path)


def hours_read(root: Path, hours: list[datetime]) -> tuple[list[datetime], list[datetime]]:
    """The hours with a manifest, and those without."""
    return [h for h in hours if manifest_path(root, h).exists()], [
        h for h in hours if not manifest_path(root, h).exists()
    ]
