"""Lake domain: the S3 sink's hourly objects → hourly typed events → user_events / KPIs per hour.

`hourly_load_job` loads one hour (or a range) on demand; `hourly_load_sensor` (on by default) requests each
hour once the S3 sink's watermark shows it complete, and again when late events change it;
`lake_freshness_sensor` (on by default) evaluates the hourly assets' freshness checks (docs/operations.md).
"""

import dagster as dg

from user_events.lake.assets import LAKE_ASSETS, hourly_typed_events, hourly_warehouse_load
from user_events.lake.checks import LAKE_CHECKS, LAKE_FRESHNESS_CHECKS
from user_events.lake.io_manager import LAKE_IO_MANAGER, LakeIOManager
from user_events.lake.resources import LakeSettings
from user_events.lake.sensors import build_hourly_load_sensor
from user_events.storage.s3 import S3Storage

lake = LakeSettings()
hourly_load_job = dg.define_asset_job(
    "hourly_load_job",
    selection=dg.AssetSelection.assets(hourly_typed_events, hourly_warehouse_load),
    executor_def=dg.in_process_executor,  # one SparkSession for the run's steps
    tags={"user_events/pipeline": "hourly_load"},
    description="One hour (or a range) of the S3 lake → PostgreSQL (the lake's rows of those hours replaced, "
    "KPIs recomputed). "
    'CLI: dagster job execute -m user_events.definitions -j hourly_load_job --tags \'{"dagster/partition": "2019-11-01-00:00"}\'',
)

defs = dg.Definitions(
    assets=LAKE_ASSETS,
    asset_checks=LAKE_CHECKS,
    jobs=[hourly_load_job],
    sensors=[
        build_hourly_load_sensor(hourly_load_job),
        dg.build_sensor_for_freshness_checks(
            freshness_checks=LAKE_FRESHNESS_CHECKS,
            name="lake_freshness_sensor",
            minimum_interval_seconds=60,
            default_status=dg.DefaultSensorStatus.RUNNING,
        ),
    ],
    resources={"s3": S3Storage(), "lake": lake, LAKE_IO_MANAGER: LakeIOManager(lake=lake)},
)
