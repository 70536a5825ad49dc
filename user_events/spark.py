"""Building the SparkSession: one place for master URL, UTC time zone and S3 (s3a://) settings."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from .config import settings
from .ports import port_open
from .retries import ServiceUnavailable

HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:3.5.0"  # matches hadoop-client-api-3.5.0 inside PySpark 4.3

_lock = threading.Lock()


def s3a_classpath_file() -> Path:
    """Written by `make services-up` (user_events/devservices/sparkjars.py): the package coordinate, then the
    class path of hadoop-aws and the AWS SDK bundle inside the Maven cache."""
    return settings().data_dir / "jars" / "hadoop-aws.classpath"


def resolved_s3a_classpath() -> str | None:
    """The class path resolved by services-up for HADOOP_AWS_PACKAGE, if present and complete."""
    try:
        coordinate, classpath = s3a_classpath_file().read_text().splitlines()[:2]
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
    return {"spark.jars.packages": HADOOP_AWS_PACKAGE, "spark.jars.ivy": str(settings().data_dir / "ivy")}


def s3a_settings(endpoint: str | None = None, region: str | None = None) -> dict[str, str]:
    """Spark settings for s3a:// against `endpoint` (default USER_EVENTS_S3_ENDPOINT; unset: AWS).

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
    endpoint = endpoint or config.s3_endpoint
    if endpoint:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
                "spark.hadoop.fs.s3a.endpoint.region": region or config.aws_region,
            }
        )
    return conf


def base_settings(master: str) -> dict[str, str]:
    config = settings()
    return {
        "spark.master": master,
        "spark.app.name": "user_events",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:-DontCompileHugeMethods",
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
        # listing job of one task per path by default; 16 tasks do it faster (measured in docs/lake.md).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "16",
    }


def session_settings(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a Spark Connect client sets on its own session: the project's SQL settings (time zone, shuffle
    partitions, ...) and `extra`. The rest (master, memory, class path, s3a endpoint and credentials) is the
    server's, fixed when it starts (Hadoop caches one s3a file system per bucket for all sessions)."""
    config = {k: v for k, v in base_settings(settings().spark_master).items() if k.startswith("spark.sql.")}
    return {**config, **(extra or {})}


def server_settings(s3_endpoint: str | None = None, region: str | None = None) -> dict[str, str]:
    """Everything a Spark Connect server on this host starts with: the in-process session's settings."""
    return {**base_settings(settings().spark_master), **s3a_settings(s3_endpoint, region)}


def get_spark(
    master: str | None = None, with_s3: bool = True, extra: dict[str, str] | None = None, remote: str | None = None
):
    """The process's SparkSession (created once; later calls return the same session).

    `remote` (default USER_EVENTS_SPARK_REMOTE; "" = in process): a Spark Connect URL, then the session is a
    client of that server, which already runs with the master, memory and s3a settings, warm.
    """
    from pyspark.sql import SparkSession

    remote = settings().spark_remote if remote is None else remote
    with _lock:
        if remote:
            return _connect_session(remote, session_settings(extra))
        # pyspark marks a process that uses Spark Connect in its environment, which its child processes
        # inherit: this one runs Spark in process
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
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


def _connect_session(url: str, conf: dict[str, str]):
    """The process's Spark Connect session (any thread's), or a new one when there is none or its server was
    restarted meanwhile (the old session is gone with it)."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    existing = ConnectSession.getActiveSession() or ConnectSession._get_default_session()
    if existing is not None and _still_served(existing, url):
        return existing
    # pyspark.sql's builder (not the Connect class's own): it also switches pyspark.sql.functions and the
    # rest of the public API to Spark Connect for this process
    builder = SparkSession.builder.remote(url)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        host, port = connect_address(url)
        # the client retries an unreachable server for minutes: a closed port is a clear error at once
        socket.create_connection((host, port), timeout=10).close()
        spark = builder.getOrCreate()
        spark.range(1).collect()  # the server answers (the client connects lazily)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ServiceUnavailable(
            f"cannot reach the Spark Connect server at {url} (USER_EVENTS_SPARK_REMOTE): {first[:300]}; "
            "start it (`make services-up`) or unset USER_EVENTS_SPARK_REMOTE to run Spark in process"
        ) from None
    # the server keeps a session's cached data until it is released or times out: release it on exit
    atexit.register(spark.stop)
    return spark


def _still_served(spark, url: str) -> bool:
    """Whether a Spark Connect session (of the server at `url`) still works; one that does not is stopped
    here (without a call to a server that is not there), so that the next session is a new one."""
    try:
        host, port = connect_address(url)
        if not port_open(port, host, timeout=2):
            spark.release_session_on_close = False
            raise ConnectionError
        spark.range(1).collect()
        return True
    except Exception:
        with contextlib.suppress(Exception):
            spark.stop()
        return False


def connect_address(url: str) -> tuple[str, int]:
    """(host, port) of a Spark Connect URL `sc://host[:port][/;param=value...]` (Spark's default port 15002)."""
    parts = urlsplit(url)
    if parts.scheme != "sc" or not parts.hostname:
        raise ValueError(f"not a Spark Connect URL (sc://host:port): {url!r}")
    return parts.hostname, parts.port or 15002


def is_connect(spark) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def reads_local_files(spark) -> bool:
    """Whether the session's executors read this host's files: Spark in process on `local[...]`, or a Spark
    Connect server on this host (loopback) running `local[...]`. Then fetching many small objects on the
    driver beats opening each through s3a."""
    local_master = spark.conf.get("spark.master", "").startswith("local")
    if not is_connect(spark):
        return local_master
    return local_master and spark.client.host in ("127.0.0.1", "localhost", "::1")
