"""The benchmark's peer: Apache Kafka Connect standalone with the official MongoDB sink connector.

The jars (connect-runtime + connect-json at the broker's version, mongo-kafka-connect with the
mongodb-driver-sync it needs) are resolved once with Maven (cache: ~/.m2) and copied into
.data/bench/kafka-connect/libs, the same way user_events.devservices.kafka resolves the broker's.
"""

from __future__ import annotations

from pathlib import Path

from bench.processes import LoggedProcess
from user_events.config import settings
from user_events.devservices.core import LOOPBACK, find_java, free_port, maven_libs, say
from user_events.devservices.kafka import LOG4J_VERSION
from user_events.schema import RAW_FIELDS

MONGO_CONNECTOR_VERSION = "2.0.1"  # the newest Maven Central serves
MONGO_DRIVER_VERSION = "4.7.2"  # mongo-kafka-connect 2.0.x is built against the 4.7 driver
# The nine raw fields: the business key of an event (the peer's upsert filter and its unique index).
BUSINESS_KEY = RAW_FIELDS
# Logged by the Kafka consumer when the group hands it partitions (classic protocol, Kafka 4.x clients).
ASSIGNED_MARKER = "Adding newly assigned partitions: "

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>user_events.bench</groupId><artifactId>kafka-connect-mongo</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.mongodb.kafka</groupId><artifactId>mongo-kafka-connect</artifactId><version>{connector}</version></dependency>
    <dependency><groupId>org.mongodb</groupId><artifactId>mongodb-driver-sync</artifactId><version>{driver}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.coordinator.name = org.apache.kafka.clients.consumer.internals
logger.coordinator.level = INFO
logger.connect.name = org.apache.kafka.connect.runtime.WorkerSinkTask
logger.connect.level = INFO
"""


def connect_libs() -> Path:
    """The class path directory of Kafka Connect + the MongoDB connector, resolved with Maven on first use."""
    connect_dir = settings().data_dir / "bench" / "kafka-connect"
    kafka_version = settings().kafka_version
    libs = connect_dir / "libs"
    marker = f".connect-{kafka_version}-mongo-{MONGO_CONNECTOR_VERSION}-driver-{MONGO_DRIVER_VERSION}"
    if not (libs / marker).exists():
        say(
            f"bench: resolving connect-runtime {kafka_version} + mongo-kafka-connect {MONGO_CONNECTOR_VERSION} with Maven"
        )
    pom = POM.format(
        kafka=kafka_version, connector=MONGO_CONNECTOR_VERSION, driver=MONGO_DRIVER_VERSION, log4j=LOG4J_VERSION
    )
    return maven_libs(pom, connect_dir, libs, marker, connect_dir / "mvn.log", "bench (g)")


def worker_properties(bootstrap: str, offsets_file: Path, rest_port: int) -> dict[str, str]:
    """A standalone worker: string keys (plain session ids), schemaless JSON values, 1,000-record polls."""
    return {
        "bootstrap.servers": bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(offsets_file),
        "offset.flush.interval.ms": "10000",
        "listeners": f"http://{LOOPBACK}:{rest_port}",
        "consumer.max.poll.records": "1000",  # else max.batch.size=1000 never fills (default 500)
    }


def connector_properties(name: str, topic: str, mongo_uri: str, database: str, collection: str) -> dict[str, str]:
    """The official sink: idempotent upserts on the business key (the nine raw fields), the record's
    topic/partition/offset/timestamp added like our documents carry them (InsertField), a DLQ."""
    return {
        "name": name,
        "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector",
        "tasks.max": "1",
        "topics": topic,
        "connection.uri": mongo_uri,
        "database": database,
        "collection": collection,
        "max.batch.size": "1000",
        "document.id.strategy": "com.mongodb.kafka.connect.sink.processor.id.strategy.PartialValueStrategy",
        "document.id.strategy.partial.value.projection.type": "AllowList",
        "document.id.strategy.partial.value.projection.list": ",".join(BUSINESS_KEY),
        "document.id.strategy.overwrite.existing": "true",
        # upsert on the business key that also stamps _insertedTS / _modifiedTS (the connector's clock when it
        # builds the write, like our ingested_at): the delay and the write times without polling the server
        "writemodel.strategy": "com.mongodb.kafka.connect.sink.writemodel.strategy.UpdateOneBusinessKeyTimestampStrategy",
        "transforms": "kafka",
        "transforms.kafka.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.kafka.timestamp.field": "kafka_ts",
        "transforms.kafka.topic.field": "kafka_topic",
        "transforms.kafka.partition.field": "kafka_partition",
        "transforms.kafka.offset.field": "kafka_offset",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": f"{topic}.connect_dlq",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    }


def _write_properties(path: Path, props: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


class ConnectStandalone(LoggedProcess):
    """One `ConnectStandalone` JVM running one MongoDB sink connector (consumer group `connect-<name>`)."""

    heap = ("-Xms256M", "-Xmx2G")  # connect-standalone.sh's default heap
    inserted_field, written_field = "_insertedTS", "_modifiedTS"  # first write of a document, its latest write

    def __init__(
        self,
        workdir: Path,
        name: str,
        topic: str,
        bootstrap: str,
        mongo_uri: str,
        database: str,
        collection: str = "events",
    ):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.group = f"connect-{name}"
        super().__init__(self.dir / "connect.log")
        (self.dir / "log4j2.properties").write_text(LOG4J2)
        _write_properties(
            self.dir / "worker.properties", worker_properties(bootstrap, self.dir / "offsets", free_port())
        )
        _write_properties(
            self.dir / "connector.properties", connector_properties(name, topic, mongo_uri, database, collection)
        )

    def start(self) -> None:
        """Launch the worker (a restart appends to the same log; `assigned()` looks only at this launch's part)."""
        argv = [
            find_java("bench (g)"),
            *self.heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            str(connect_libs() / "*"),
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(self.dir / "worker.properties"),
            str(self.dir / "connector.properties"),
        ]
        self.launch(argv, cwd=self.dir)

    def assigned(self) -> bool:
        """This launch's consumer got at least one partition."""
        return any(
            line.split(ASSIGNED_MARKER, 1)[1].strip() not in ("", "[]")
            for line in self.log_text().splitlines()
            if ASSIGNED_MARKER in line
        )
