"""Apache Kafka, one KRaft node (broker + controller in one JVM), from Maven Central jars.

The jars of org.apache.kafka:kafka_2.13 are resolved once with Maven (cache: ~/.m2) and copied into
.data/services/kafka/libs; storage is formatted once with a cluster id kept in the state file.
"""

from __future__ import annotations

import logging
import time
import uuid
from base64 import urlsafe_b64encode

from user_events.config import settings

from .base import Service
from .core import LOOPBACK, ServiceError, find_java, maven_libs, port_open, run_logged, say
from .pins import kafka_version

LOG4J_VERSION = "2.25.4"  # the log4j2 that kafka_2.13 4.x depends on; adds the slf4j binding Kafka expects
HEALTH_TOPIC = "_user_events_health"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>user_events.devservices</groupId><artifactId>kafka-server</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.apache.name = org.apache.kafka
logger.apache.level = {level}
"""


class Kafka(Service):
    name = "kafka"

    def __init__(self, state):
        super().__init__(state)
        self.libs = self.dir / "libs"
        self.cluster_id = state.value(
            "kafka.cluster_id", lambda: urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        )

    def _java(self) -> str:
        return find_java("kafka")

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def install(self) -> None:
        version = settings().kafka_version or kafka_version()
        marker = f".kafka-{version}"
        if not (self.libs / marker).exists():
            say(f"kafka: resolving org.apache.kafka:kafka_2.13:{version} with Maven (first run downloads ~45 MB)")
        maven_libs(POM.format(kafka=version, log4j=LOG4J_VERSION), self.dir, self.libs, marker, self.log, "kafka")
        self._write_config()
        if not (self.data / "meta.properties").exists():
            say("kafka: formatting KRaft storage")
            run_logged(
                [
                    self._java(),
                    "-Xmx256m",
                    "-cp",
                    self._classpath(),
                    f"-Dlog4j2.configurationFile={self.dir / 'log4j2-tools.properties'}",
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--ignore-formatted",
                    "-t",
                    self.cluster_id,
                    "-c",
                    str(self.dir / "server.properties"),
                ],
                self.log,
                "kafka: storage format",
            )

    def _write_config(self) -> None:
        port = self.port(env_var="USER_EVENTS_KAFKA_PORT")
        controller = self.port("controller_port", "USER_EVENTS_KAFKA_CONTROLLER_PORT")
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{controller}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "2",
        }
        (self.dir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j2.properties").write_text(LOG4J2.format(level="INFO"))
        (self.dir / "log4j2-tools.properties").write_text(LOG4J2.format(level="WARN"))

    def start(self) -> None:
        self._write_config()
        heap = settings().kafka_heap
        argv = [
            self._java(),
            f"-Xmx{heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:MaxDirectMemorySize=128m",
            "-XX:ReservedCodeCacheSize=64m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self.dir / "server.properties"),
        ]
        self.process.start(argv, self.log, cwd=self.dir)

    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port()}"

    def check(self) -> None:
        """Produce one message to a health topic and read that same message back."""
        from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        if not port_open(self.port()):
            raise ServiceError("kafka: port not open yet")
        quiet = logging.getLogger("user_events.devservices.kafka_health")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False  # the client's connection retries during start-up are not worth printing
        conf = {"bootstrap.servers": self.bootstrap(), "socket.timeout.ms": 5000, "logger": quiet}
        admin = AdminClient(conf)
        fut = admin.create_topics([NewTopic(HEALTH_TOPIC, num_partitions=1, replication_factor=1)], request_timeout=10)[
            HEALTH_TOPIC
        ]
        try:
            fut.result(timeout=15)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        token = uuid.uuid4().hex.encode()
        delivered: list = []
        producer = Producer({**conf, "acks": "all", "message.timeout.ms": 10000})
        producer.produce(
            HEALTH_TOPIC, value=token, partition=0, on_delivery=lambda err, msg: delivered.append((err, msg))
        )
        producer.flush(15)
        if not delivered or delivered[0][0] is not None:
            raise ServiceError(f"kafka: produce failed: {delivered[0][0] if delivered else 'no delivery report'}")
        offset = delivered[0][1].offset()
        consumer = Consumer({**conf, "group.id": "_user_events_health", "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition(HEALTH_TOPIC, 0, offset)])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                if msg.value() == token:
                    return
            raise ServiceError("kafka: produced a message but could not consume it back")
        finally:
            consumer.close()

    def env(self) -> dict[str, str]:
        return {"USER_EVENTS_KAFKA_BOOTSTRAP": self.bootstrap()}
