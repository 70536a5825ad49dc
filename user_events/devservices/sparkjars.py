"""Spark's s3a:// jars (hadoop-aws and the AWS SDK v2 bundle, ~690 MB), resolved once with Maven.

The jars stay in the Maven cache (~/.m2); the classpath is written to .data/jars/hadoop-aws.classpath,
which user_events.spark puts on the driver's and executors' class path (nothing is copied per session,
nothing is shipped to executors). Without that file Spark falls back to `spark.jars.packages` (Ivy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from user_events.spark import HADOOP_AWS_PACKAGE, resolved_s3a_classpath, s3a_classpath_file

from .core import ServiceError, run_logged, say

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>user_events.devservices</groupId><artifactId>spark-s3a</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""


def ensure_s3a_jars(log: Path) -> None:
    if resolved_s3a_classpath():
        return
    if not shutil.which("mvn"):
        raise ServiceError("spark s3a jars: Maven (`mvn`) not found; install it, e.g. `apt-get install maven`")
    say(f"spark: resolving {HADOOP_AWS_PACKAGE} and the AWS SDK bundle with Maven (first run downloads ~690 MB)")
    group, artifact, version = HADOOP_AWS_PACKAGE.split(":")
    work = s3a_classpath_file().parent
    work.mkdir(parents=True, exist_ok=True)
    pom = work / "pom.xml"
    pom.write_text(POM.format(group=group, artifact=artifact, version=version))
    raw = work / "classpath.txt"
    run_logged(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:build-classpath",
            "-DincludeScope=runtime",
            f"-Dmdep.outputFile={raw}",
        ],
        log,
        "spark: mvn build-classpath",
    )
    classpath = raw.read_text().strip()
    missing = [p for p in classpath.split(":") if not Path(p).is_file()]
    if not classpath or missing:
        raise ServiceError(f"spark s3a jars: Maven reported missing jars {missing}; see {log}")
    s3a_classpath_file().write_text(f"{HADOOP_AWS_PACKAGE}\n{classpath}\n")
    raw.unlink()
