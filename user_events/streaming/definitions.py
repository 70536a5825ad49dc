"""Streaming domain: simulate_job, mongo_sink_job, s3_sink_job, their keep-alive sensors, resources kafka and mongo.

The ops are thin: they build the same objects `user-events simulate` / `user-events sink` build, with the
clients of the resources, and report through Dagster. The S3 sink uses the lake domain's `s3` resource
(S3Storage), defined in the lake's Definitions.
"""


from datetime import timedelta
from typing import Optional

import dagster as dg

from user_events.asset_keys import LAKE_EVENTS_HOURLY
from user_events.lake.resources import S3Storage
from user_events.streaming.kafka_io import DEFAULT_PARTITIONS
from user_events.streaming.resources import KafkaResource, MongoResource
from user_events.streaming.sensors import SINK_TAG, keep_running_sensor
from user_events.streaming.stopping import StopFlag, stop_on_signals

LAKE_HOURLY_ASSET = LAKE_EVENTS_HOURLY
MONGO_EVENTS_ASSET = "mongo_events"
# One run per sink (instance run-queue limit on SINK_TAG, see docs/streaming.md), retried when it fails.
SINK_RETRY_TAGS = {"dagster/max_retries": "3", "dagster/retry_strategy": "FROM_FAILURE"}


class SimulateConfig(dg.Config):
    rate: float = 1000.0
    count: Optional[int] = 10_000
    duration_seconds: Optional[float] = None
    seed: int = 20191101
    from_csv: Optional[str] = None
    time_mode: str = "live"
    start: Optional[str] = None  # ISO time of the first generated event in replay mode (default now)
    partitions: int = DEFAULT_PARTITIONS
    topic: Optional[str] = None


@dg.op(description="Publish simulated (or replayed) events to the events topic.")
def simulate(context: dg.OpExecutionContext, config: SimulateConfig, kafka: KafkaResource) -> dict:
    from user_events.streaming import simulator

    cfg = simulator.SimulateConfig(
        topic=config.topic or kafka.topic_name(),
        rate=config.rate,
        count=config.count,
        duration=config.duration_seconds,
        seed=config.seed,
        from_csv=config.from_csv,
        time_mode=config.time_mode,
        partitions=config.partitions,
        start=simulator.parse_start(config.start),
    )
    flag = StopFlag()
    with stop_on_signals(flag):
        result = simulator.publish(cfg, kafka, progress=context.log.info, should_stop=lambda: bool(flag))
    summary = result.as_dict()
    errors = summary.pop("errors")
    if result.failed:
        raise dg.Failure(
            description=f"{result.failed} of {result.produced} messages were not delivered: {'; '.join(errors)[:500]}",
            metadata=summary,
        )
    context.add_output_metadata(summary)
    if flag:
        raise dg.DagsterExecutionInterruptedError()
    return summary


@dg.job(description="Publish simulated or replayed events to Kafka (also `user-events simulate`).")
def simulate_job():
    simulate()


class SinkConfig(dg.Config):
    until_idle_seconds: Optional[float] = None  # None: run until the run is terminated
    max_seconds: Optional[float] = None
    batch_size: Optional[int] = None
    topic: Optional[str] = None
    partitions: int = DEFAULT_PARTITIONS  # when the sink has to create the topic


class S3SinkConfig(SinkConfig):
    rotate_seconds: float = 60.0
    flush_records: int = 1000
    report_interval_seconds: float = 60.0
    grace_seconds: float = 300.0


def _sink_kwargs(context: dg.OpExecutionContext, kafka: KafkaResource, config: SinkConfig) -> dict:
    kwargs = dict(kafka=kafka, partitions=config.partitions, logger=context.log)
    if config.batch_size:
        kwargs["batch_size"] = config.batch_size
    return kwargs


def _run_sink(context: dg.OpExecutionContext, sink, config: SinkConfig) -> dict:
    """Run a sink inside the op. Run termination (SIGTERM/SIGINT) stops it at a batch boundary: flush,
    commit, then the run ends as interrupted (canceled)."""
    with stop_on_signals(sink.stop):
        stats = sink.run(until_idle=config.until_idle_seconds, max_seconds=config.max_seconds)
    summary = stats.as_dict()
    context.add_output_metadata({k: v for k, v in summary.items() if v != ""})
    if sink.stop.reason in ("SIGTERM", "SIGINT"):
        raise dg.DagsterExecutionInterruptedError()
    return summary


@dg.op(description="Kafka -> MongoDB `events` and `events_per_minute` (long-running).")
def mongo_sink(context: dg.OpExecutionContext, config: SinkConfig, kafka: KafkaResource, mongo: MongoResource) -> dict:
    from user_events.streaming.mongo_sink import MongoSink

    topic = config.topic or kafka.topic_name()
    sink = MongoSink(topic, mongo.database(), **_sink_kwargs(context, kafka, config))
    try:
        return _run_sink(context, sink, config)
    finally:
        s = sink.stats
        context.log_event(
            dg.AssetMaterialization(
                asset_key=MONGO_EVENTS_ASSET,
                metadata={"written": s.written, "duplicates": s.duplicates, "dlq": s.dlq, "topic": topic},
            )
        )


@dg.op(
    description="Kafka -> S3 hourly NDJSON (Confluent S3 sink layout), long-running; logs a "
    f"{LAKE_HOURLY_ASSET.to_user_string()} materialization for every hour it writes.",
)
def s3_sink(context: dg.OpExecutionContext, config: S3SinkConfig, kafka: KafkaResource, s3: S3Storage) -> dict:
    from user_events.streaming.s3_sink import S3Sink

    def on_hour_written(partition_key: str, metadata: dict) -> None:
        context.log_event(dg.AssetMaterialization(asset_key=LAKE_HOURLY_ASSET, partition=partition_key, metadata=metadata))

    sink = S3Sink(
        config.topic or kafka.topic_name(),
        s3.get_client(),
        s3.bucket_name(),
        rotate_seconds=config.rotate_seconds,
        flush_records=config.flush_records,
        report_interval=config.report_interval_seconds,
        grace=timedelta(seconds=config.grace_seconds),
        on_hour_written=on_hour_written,
        **_sink_kwargs(context, kafka, config),
    )
    return _run_sink(context, sink, config)


@dg.job(tags={SINK_TAG: "mongo", **SINK_RETRY_TAGS}, description="Kafka -> MongoDB sink (long-running).")
def mongo_sink_job():
    mongo_sink()


@dg.job(tags={SINK_TAG: "s3", **SINK_RETRY_TAGS}, description="Kafka -> S3 sink (long-running).")
def s3_sink_job():
    s3_sink()


defs = dg.Definitions(
    jobs=[simulate_job, mongo_sink_job, s3_sink_job],
    sensors=[keep_running_sensor(mongo_sink_job, "mongo"), keep_running_sensor(s3_sink_job, "s3")],
    resources={"kafka": KafkaResource(), "mongo": MongoResource()},
)
