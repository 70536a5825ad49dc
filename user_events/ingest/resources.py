"""The `spark` resource, and the `batch` resource: the batch path's input, where it keeps its Parquet data and
its reject-rate threshold (each unset field falls back, at use time, to its variable in `config.settings()`)."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from user_events.config import Settings, settings


class SparkResource(LazyPySparkResource):
    """dagster-pyspark's lazily created session, with the project's settings (user_events.spark.get_spark: one
    session per process, UTC, s3a when needed): `spark.spark_session` in an asset or check.

    `spark_config`: further Spark properties (Dagster config; they win over the project's). The s3a
    credentials are never config: get_spark reads them from the environment when the session starts."""

    master: str = Settings.model_fields["spark_master"].default
    spark_config: dict[str, Any] = {}

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def retrying(self, context: dg.OpExecutionContext):
        """Around a step's Spark work: a Spark Connect server that went away retries the step with back-off
        (the retry gets a new session once the server is back)."""
        from user_events.retries import retry_transient
        from user_events.spark import connect_address

        remote = settings().spark_remote
        if not remote:
            return retry_transient(context, "Spark", self.master)
        host, port = connect_address(remote)
        return retry_transient(context, "the Spark Connect server", f"{host}:{port}")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The JVM takes seconds to start: start it now, beside the run's first steps (e.g. vetting the input).
        threading.Thread(target=self._start_session, name="spark-start", daemon=True).start()

    def _start_session(self) -> None:
        try:
            self._init_session()
        except Exception:  # the step that needs the session starts it again and gets the error itself
            pass

    def _init_session(self) -> None:
        """The session, with s3a support when anything may need it: the raw input is on S3, an S3 endpoint is
        configured (the lake loads), or services-up resolved the jars already (then it costs nothing). Without
        any of these (`make run` on a fresh machine) no jar is fetched at JVM start."""
        from user_events.spark import get_spark, is_connect, resolved_s3a_classpath

        # a Spark Connect session is looked at again: after a restart of its server, get_spark gives a new one
        if self._spark_session is not None and not is_connect(self._spark_session):
            return
        config = settings()
        with_s3 = (
            (config.raw_csv or "").strip().startswith("s3a://")
            or bool(config.s3_endpoint)
            or resolved_s3a_classpath() is not None
        )
        self._spark_session = get_spark(master=self.master, with_s3=with_s3, extra=self.spark_config)


class _DataHandlePickles(dg.UPathIOManager):
    """Pickles under `base_path`, one file per asset (and partition), as Dagster's filesystem IO manager."""

    extension: str = ""

    def dump_to_path(self, context: dg.OutputContext, obj, path) -> None:
        with path.open("wb") as file:
            pickle.dump(obj, file, pickle.HIGHEST_PROTOCOL)

    def load_from_path(self, context: dg.InputContext, path):
        with path.open("rb") as file:
            return pickle.load(file)

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
            context.instance.storage_directory() if context.instance else str(settings().data_dir / "storage")
        )
        return _DataHandlePickles(base_path=Path(base))


def spark_resource() -> SparkResource:
    """As the code location defines it: EnvVar when USER_EVENTS_SPARK_MASTER is set (the UI names the variable)."""
    config = settings()
    return SparkResource(
        master=dg.EnvVar("USER_EVENTS_SPARK_MASTER") if config.is_set("spark_master") else config.spark_master
    )


def default_sample_path() -> Path:
    """The project's own generated one-day dataset, used when USER_EVENTS_RAW_CSV is unset."""
    return settings().data_dir / "sample" / "user_events_2019-11-01.csv"


class BatchSettings(dg.ConfigurableResource):
    """The batch path's input, Parquet location and reject-rate threshold. A field left unset is read, when
    used, from its variable (so a run picks up the environment it runs in, and no value is copied into config)."""

    raw_csv: str | None = Field(
        default=None,
        description="Path, directory, glob or s3a:// URI of the raw CSV file(s); unset -> USER_EVENTS_RAW_CSV, "
        "else the project's generated sample.",
    )
    batch_dir: str | None = Field(
        default=None, description="Root of the batch path's Parquet; unset -> USER_EVENTS_BATCH_DIR (.data/batch)."
    )
    max_reject_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Threshold of the blocking reject-rate check; unset -> USER_EVENTS_MAX_REJECT_RATE (0.05).",
    )

    def raw_csv_spec(self) -> tuple[str, bool]:
        """(the raw CSV spec or the generated sample's path, whether it is the default sample)."""
        value = self.raw_csv or settings().raw_csv
        if value:
            return value, False
        return str(default_sample_path()), True

    def batch_path(self) -> Path:
        # absolute: a Spark Connect server would resolve a relative path against its own working directory
        return (Path(self.batch_dir) if self.batch_dir else settings().batch_path).absolute()

    def validated_path(self) -> Path:
        return self.batch_path() / "validated"

    def typed_events_path(self) -> Path:
        return self.batch_path() / "typed_events"

    def rejected_events_path(self) -> Path:
        return self.batch_path() / "rejected_events"

    def brand_details_path(self) -> Path:
        return self.batch_path() / "brand_details"
