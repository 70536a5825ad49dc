"""Building the SparkSession: one place for master URL, UTC time zone and S3 (s3a://) settings."""

from __future__ import annotations

import os
import threading

from .config import DATA_DIR, env

HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:3.5.0"  # matches hadoop-client-api-3.5.0 inside PySpark 4.3

_lock = threading.Lock()


def s3a_settings() -> dict[str, str]:
    """Spark settings for s3a:// against USER_EVENTS_S3_ENDPOINT (or AWS when unset).

    Credentials are not copied into the Spark conf: the s3a credential chain reads the standard AWS_*
    variables itself, so no secret ends up in the Spark UI or event logs.
    """
    conf = {
        "spark.jars.packages": HADOOP_AWS_PACKAGE,
        "spark.jars.ivy": str(DATA_DIR / "ivy"),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider,"
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        ),
    }
    endpoint = env("USER_EVENTS_S3_ENDPOINT")
    if endpoint:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
                "spark.hadoop.fs.s3a.endpoint.region": env("AWS_REGION", "us-east-1"),
            }
        )
    return conf


def base_settings(master: str) -> dict[str, str]:
    return {
        "spark.master": master,
        "spark.app.name": "user_events",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": os.environ.get("USER_EVENTS_SPARK_SHUFFLE_PARTITIONS", "8"),
        "spark.ui.enabled": os.environ.get("USER_EVENTS_SPARK_UI", "false"),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "false",
        "spark.driver.memory": os.environ.get("USER_EVENTS_SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
    }


def get_spark(master: str | None = None, with_s3: bool = True, extra: dict[str, str] | None = None):
    """The process's SparkSession (created once; later calls return the same session)."""
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        settings = base_settings(master or env("USER_EVENTS_SPARK_MASTER"))
        if with_s3:
            settings.update(s3a_settings())
        settings.update(extra or {})
        builder = SparkSession.builder
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel(os.environ.get("USER_EVENTS_SPARK_LOG_LEVEL", "WARN"))
        return spark
