"""Building the SparkSession: one place for master URL, UTC time zone and S3 (s3a://) settings."""

from __future__ import annotations

import os
import threading

from .config import DATA_DIR, settings

HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:3.5.0"  # matches hadoop-client-api-3.5.0 inside PySpark 4.3

_lock = threading.Lock()

# Written by `make services-up` (user_events/devservices/sparkjars.py): the package coordinate, then the class
# path of hadoop-aws and the AWS SDK bundle inside the Maven cache.
S3A_CLASSPATH_FILE = DATA_DIR / "jars" / "hadoop-aws.classpath"


def resolved_s3a_classpath() -> str | None:
    """The class path resolved by services-up for HADOOP_AWS_PACKAGE, if present and complete."""
    try:
        coordinate, classpath = S3A_CLASSPATH_FILE.read_text().splitlines()[:2]
    except (OSError, ValueError):
        return None
    if coordinate != HADOOP_AWS_PACKAGE or not all(os.path.isfile(p) for p in classpath.split(":")):
        return None
    return classpath


def s3a_jar_settings() -> dict[str, str]:
    """hadoop-aws on the class path: the Maven-resolved jars when services-up has fetched them (no network,
    nothing copied or shipped to executors), else resolved by Spark itself through Ivy."""
    classpath = resolved_s3a_classpath()
    if classpath:
        return {"spark.driver.extraClassPath": classpath, "spark.executor.extraClassPath": classpath}
    return {"spark.jars.packages": HADOOP_AWS_PACKAGE, "spark.jars.ivy": str(DATA_DIR / "ivy")}


def s3a_settings() -> dict[str, str]:
    """Spark settings for s3a:// against USER_EVENTS_S3_ENDPOINT (or AWS when unset).

    Credentials are not copied into the Spark conf: the s3a credential chain reads the standard AWS_*
    variables itself, so no secret ends up in the Spark UI or event logs.
    """
    conf = {
        **s3a_jar_settings(),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider,"
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        ),
    }
    config = settings()
    endpoint = config.s3_endpoint
    if endpoint:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
                "spark.hadoop.fs.s3a.endpoint.region": config.aws_region or "us-east-1",
            }
        )
    return conf


def base_settings(master: str) -> dict[str, str]:
    config = settings()
    return {
        "spark.master": master,
        "spark.app.name": "user_events",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": str(config.spark_shuffle_partitions),
        "spark.ui.enabled": str(config.spark_ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "false",
        # Parquet timestamps as UTC-adjusted INT64 micros (not legacy INT96): pyarrow and others read them as UTC
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.driver.memory": config.spark_driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
        # An hourly load names each of its lake objects (500 for a 500k-event hour): Spark checks them in a
        # listing job of one task per path by default; 16 tasks did it in 3.4-3.9 s instead of 7-15 s.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "16",
    }


def get_spark(master: str | None = None, with_s3: bool = True, extra: dict[str, str] | None = None):
    """The process's SparkSession (created once; later calls return the same session)."""
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        conf = base_settings(master or settings().spark_master)
        if with_s3:
            conf.update(s3a_settings())
        conf.update(extra or {})
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel(settings().spark_log_level)
        return spark


def runs_in_process(spark) -> bool:
    """Whether the session's executors are threads of this process (`local[...]`): then they read the driver's
    local files, and fetching many small objects on the driver beats opening each through s3a."""
    return spark.conf.get("spark.master", "").startswith("local")
