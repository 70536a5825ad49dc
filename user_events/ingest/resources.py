"""The `spark` resource and where the batch path keeps its Parquet data."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import dagster as dg
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager

from user_events.config import DATA_DIR, env

DEFAULT_SAMPLE_ROWS = 200_000


class SparkResource(dg.ConfigurableResource):
    """The process's SparkSession (user_events.spark.get_spark: one per process, UTC, s3a settings)."""

    master: str = "local[*]"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The JVM takes seconds to start: start it now, beside the run's first steps (e.g. vetting the input).
        threading.Thread(target=self._start_session, name="spark-start", daemon=True).start()

    def _start_session(self) -> None:
        try:
            self.session()
        except Exception:  # the step that needs the session calls session() again and gets the error itself
            pass

    def session(self):
        """The session, with s3a support when anything may need it: the raw input is on S3, an S3 endpoint is
        configured (the lake loads), or services-up resolved the jars already (then it costs nothing). Without
        any of these (`make run` on a fresh machine) no jar is fetched at JVM start."""
        from user_events.spark import get_spark, resolved_s3a_classpath

        spec, _ = raw_csv_spec()
        with_s3 = (
            spec.strip().startswith("s3a://")
            or bool(env("USER_EVENTS_S3_ENDPOINT"))
            or resolved_s3a_classpath() is not None
        )
        return get_spark(master=self.master, with_s3=with_s3)


class _DataHandlePickles(PickledObjectFilesystemIOManager):
    def get_metadata(self, context: dg.OutputContext, obj) -> dict:
        data_path = getattr(obj, "path", None)
        return {"path": dg.MetadataValue.path(str(data_path))} if data_path else {}


class DataHandleIOManager(dg.ConfigurableIOManagerFactory):
    """Keeps the small handles the batch assets pass on (paths and counts, pickled under the instance's
    storage, like Dagster's default IO manager), but shows the data's own location as the output's `path`
    (the Parquet under USER_EVENTS_BATCH_DIR), never the pickle's."""

    base_dir: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> _DataHandlePickles:
        base = self.base_dir or (
            context.instance.storage_directory() if context.instance else str(DATA_DIR / "storage")
        )
        return _DataHandlePickles(base_dir=base)


def spark_resource() -> SparkResource:
    return SparkResource(
        master=dg.EnvVar("USER_EVENTS_SPARK_MASTER") if os.environ.get("USER_EVENTS_SPARK_MASTER") else "local[*]"
    )


def batch_dir() -> Path:
    """Root of the batch path's Parquet data (USER_EVENTS_BATCH_DIR, default .data/batch)."""
    return Path(env("USER_EVENTS_BATCH_DIR") or (DATA_DIR / "batch"))


def validated_path() -> Path:
    return batch_dir() / "validated"


def typed_events_path() -> Path:
    return batch_dir() / "typed_events"


def rejected_events_path() -> Path:
    return batch_dir() / "rejected_events"


def brand_details_path() -> Path:
    return batch_dir() / "brand_details"


def default_sample_path() -> Path:
    """The project's own generated one-day dataset, used when USER_EVENTS_RAW_CSV is unset."""
    return DATA_DIR / "sample" / "user_events_2019-11-01.csv"


def raw_csv_spec() -> tuple[str, bool]:
    """(USER_EVENTS_RAW_CSV or the generated sample's path, whether it is the default sample)."""
    value = env("USER_EVENTS_RAW_CSV")
    if value:
        return value, False
    return str(default_sample_path()), True
