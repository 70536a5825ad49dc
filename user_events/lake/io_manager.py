"""The lake's IO manager: hourly_typed_events hands it the window's validated rows, it stores them as Parquet
per hour with a manifest of each hour read (the partition window gives the paths); hourly_warehouse_load
gets back which hours of its window were read, and where their Parquet is."""

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from user_events.lake.hour_dirs import hour_stats, write_hour_dirs
from user_events.lake.manifests import hours_read, write_manifest
from user_events.lake.partitions import hours_in_window
from user_events.lake.resources import LakeSettings
from user_events.progress import progress
from user_events.storage.s3_layout import hour_of_lake_source

LAKE_IO_MANAGER = "lake_io_manager"


@dataclass(frozen=True)
class ValidatedHours:
    """The output of hourly_typed_events: the accepted (de-duplicated) and rejected rows of the hours read,
    the S3 objects of each hour read, and when the asset started (the progress line's duration)."""

    typed: DataFrame
    rejected: DataFrame
    objects: dict[datetime, list[dict]]
    started: float


@dataclass(frozen=True)
class TypedHours:
    """The input of hourly_warehouse_load: the lake's Parquet root, the hours of the window hourly_typed_events
    read (they have a manifest) and those it never read."""

    root: Path
    read: list[datetime]
    unread: list[datetime]


class LakeIOManager(dg.ConfigurableIOManager):
    lake: dg.ResourceDependency[LakeSettings]

    def handle_output(self, context: dg.OutputContext, obj: ValidatedHours) -> None:
        root, hours = self.lake.root(), list(obj.objects)
        write_hour_dirs(root, obj.typed, "typed", hours, hour_of=F.col("event_hour"))
        write_hour_dirs(root, obj.rejected, "rejected", hours, hour_of=hour_of_lake_source(F.col("source")))
        for hour in hours:
            write_manifest(root, hour, obj.objects[hour])
        stats = hour_stats(root, obj.typed.sparkSession, hours)
        progress(
            context,
            f"typed {stats['rows_out']:,} / rejected {stats['rejected']:,} in {time.monotonic() - obj.started:.1f}s",
        )
        context.add_output_metadata(
            {
                "rows_out": stats["rows_out"],
                "rejected": stats["rejected"],
                "rejected_by_reason": dg.MetadataValue.json(stats["rejected_by_reason"]),
                "path": dg.MetadataValue.path(str(root)),
            }
        )

    def load_input(self, context: dg.InputContext) -> TypedHours:
        root = self.lake.root()
        read, unread = hours_read(root, hours_in_window(*context.asset_partitions_time_window))
        return TypedHours(root, read, unread)
