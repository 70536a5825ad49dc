"""A Spark Connect server (`local[*]` in one warm JVM) from the project's own PySpark, on loopback.

Every run, `make run`, hourly load and test then connects to it (USER_EVENTS_SPARK_REMOTE) instead of starting
a JVM of its own: the start-up (~10 s) and the JIT warm-up (an hourly load's Spark work 18 s cold, 8-10 s warm)
are paid once per `make services-up`. The server starts with the settings an in-process session would have
(user_events.spark.server_settings: UTC, memory, s3a class path); each client sets its session's SQL settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from user_events.config import settings
from user_events.spark import server_settings

from .base import Service
from .core import LOOPBACK, ServiceError, find_java, port_open
from .s3 import SeaweedS3

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
PORT_VAR = "USER_EVENTS_SPARK_CONNECT_PORT"


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class SparkConnect(Service):
    name = "spark"
    health_timeout = 120.0

    def url(self) -> str:
        return f"sc://{LOOPBACK}:{self.port(env_var=PORT_VAR)}"

    def _conf(self) -> dict[str, str]:
        s3 = SeaweedS3(self.state).env()
        return {
            **server_settings(s3["USER_EVENTS_S3_ENDPOINT"], s3["AWS_REGION"]),
            "spark.app.name": "user_events Spark Connect",
            "spark.connect.grpc.binding.address": LOOPBACK,
            "spark.connect.grpc.binding.port": str(self.port(env_var=PORT_VAR)),
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.local.dir": str(self.dir / "tmp"),  # also the marker on the command line (Process)
            "spark.log.level": settings().spark_log_level,
        }

    def _env(self) -> dict[str, str]:
        java = Path(find_java("spark"))
        env = {
            **os.environ,
            "SPARK_HOME": str(pyspark_home()),
            "JAVA_HOME": os.environ.get("JAVA_HOME") or str(java.resolve().parent.parent),
            "PYSPARK_PYTHON": sys.executable,  # Python workers (pandas UDFs) run the project's interpreter
            "SPARK_LOCAL_IP": LOOPBACK,
        }
        # s3a reads the standard AWS_* variables itself (no secret in the Spark conf): the local S3's
        env.update({k: v for k, v in SeaweedS3(self.state).env().items() if k.startswith("AWS_")})
        return env

    def start(self) -> None:
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        argv = [str(pyspark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS]
        for key, value in self._conf().items():
            argv += ["--conf", f"{key}={value}"]
        self.process.start([*argv, "spark-internal"], self.log, cwd=self.dir, env=self._env())

    def check(self) -> None:
        """A session of its own on the server runs one query."""
        from pyspark.sql import SparkSession

        if not port_open(self.port(env_var=PORT_VAR)):
            raise ServiceError("spark: Spark Connect port not open yet")
        session = SparkSession.builder.remote(self.url()).create()
        try:
            if session.range(3).count() != 3:
                raise ServiceError("spark: the Spark Connect server answered a wrong count")
        finally:
            session.stop()

    def env(self) -> dict[str, str]:
        return {"USER_EVENTS_SPARK_REMOTE": self.url()}
