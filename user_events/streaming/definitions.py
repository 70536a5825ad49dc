"""Streaming domain: simulate_job, mongo_sink_job, s3_sink_job, their keep-alive sensors, the sinks' lag checks
and the sensors that evaluate them every minute, resources kafka and mongo.

Assets: the Kafka topic `kafka/events` (an AssetSpec; simulate_job reports a materialization of it) and the
MongoDB collections `mongo/events`, `mongo/events_per_minute`, `mongo/sink_delay_per_minute`,
`mongo/sink_status`, materialized by the `mongo_sink` multi-asset that `mongo_sink_job` runs (periodically
while it runs, and once when it stops). The s3_sink stays an op: it feeds `lake_events_hourly` (lake domain).

The ops are thin: they build the same objects `user-events simulate` / `user-events sink` build, with the
clients of the resources, and report through Dagster. The S3 sink uses the `s3` resource (S3Storage, a
storage foundation), bound under that key in the lake's Definitions.
"""

import time
from datetime import timedelta

import dagster as dg

from user_events.asset_keys import LAKE_EVENTS_HOURLY, kafka_topic, mongo_collection
from user_events.options import dagster_config, from_dagster_config
from user_events.run_tags import SINK_TAG
from user_events.storage.s3 import S3Storage
from user_events.streaming import simulate_config
from user_events.streaming.checks import SINK_ASSETS, SINK_LAG_CHECKS
from user_events.streaming.collections import COLLECTIONS, EVENTS, EVENTS_PER_MINUTE, SINK_DELAY_PER_MINUTE, SINK_STATUS
from user_events.streaming.resources import KafkaResource, MongoResource
from user_events.streaming.sensors import keep_running_sensor, sink_lag_sensor
from user_events.streaming.sink_options import S3_ONLY, SinkOptions
from user_events.streaming.stopping import StopFlag, stop_on_signals

COLLECTION_DESCRIPTIONS = {
    EVENTS: "One document per distinct event (deterministic _id), with kafka_ts and ingested_at.",
    EVENTS_PER_MINUTE: "Live counts and cents per (UTC minute, event_type); the live dashboard's source.",
    SINK_DELAY_PER_MINUTE: "The MongoDB sink's delay (ingested_at - kafka_ts) per minute of ingested_at: count, p50, p95, max.",
    SINK_STATUS: "One document per sink instance: lag per partition, last store, state.",
}
# One run per sink (instance run-queue limit on SINK_TAG, see docs/streaming.md), retried when it fails.
SINK_RETRY_TAGS = {"dagster/max_retries": "3", "dagster/retry_strategy": "FROM_FAILURE"}


SimulateConfig = dagster_config(simulate_config.SimulateConfig, "SimulateConfig")


events_topic_spec = dg.AssetSpec(
    kafka_topic(),
    description="The events topic (USER_EVENTS_TOPIC): one JSON message per event, key = user_session.",
    group_name="streaming",
    kinds={"kafka"},
)


@dg.op(description="Publish simulated (or replayed) events to the events topic.")
def simulate(context: dg.OpExecutionContext, config: SimulateConfig, kafka: KafkaResource) -> dict:
    from user_events.streaming import simulator

    cfg = from_dagster_config(simulate_config.SimulateConfig, config, topic=config.topic or kafka.topic_name())
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
    context.log_event(
        dg.AssetMaterialization(
            asset_key=kafka_topic(), metadata={k: v for k, v in summary.items() if k != "partitions"}
        )
    )
    if flag:
        context.log.info(
            f"stop requested ({flag.reason}): {result.delivered} of {result.produced} messages delivered, none pending"
        )
    return summary


@dg.job(description="Publish simulated or replayed events to Kafka (also `user-events simulate`).")
def simulate_job():
    simulate()


SinkConfig = dagster_config(SinkOptions, "SinkConfig", include=lambda name: name not in S3_ONLY)
S3SinkConfig = dagster_config(SinkOptions, "S3SinkConfig", include=lambda name: name in S3_ONLY, base=SinkConfig)


def _sink_kwargs(context: dg.OpExecutionContext, kafka: KafkaResource, config: SinkConfig) -> dict:
    kwargs = dict(
        kafka=kafka, partitions=config.partitions, logger=context.log, progress_interval=config.progress_seconds
    )
    if config.batch_size:
        kwargs["batch_size"] = config.batch_size
    return kwargs


def progress_metadata(report: dict) -> dict:
    """Dagster metadata of a sink progress report: counts and total lag as numbers (plotted over time)."""
    return {
        "topic": report["topic"],
        "group": report["group"],
        "instance_id": report["instance_id"],
        **{k: report[k] for k in ("consumed", "written", "duplicates", "dlq", "lag")},
        "lag_per_partition": dg.MetadataValue.json({str(d["partition"]): d for d in report["partitions"]}),
        "last_store_at": report["last_store_at"].isoformat() if report["last_store_at"] else "never",
        "state": report["state"],
    }


def _run_sink(context: dg.OpExecutionContext, sink, config: SinkConfig, output_metadata: bool = True) -> dict:
    """Run a sink inside the op. A requested stop (run termination: SIGTERM/SIGINT) stops it at a batch
    boundary, flushes and commits, and the op returns normally after saying so: a stop is not a failure.
    `output_metadata`: put the summary on the op's (single) output."""
    from user_events.streaming.sink_errors import NoAssignment

    with stop_on_signals(sink.stop):
        try:
            stats = sink.run_as_configured(config)
        except NoAssignment as exc:
            raise dg.Failure(description=str(exc)) from None
    summary = stats.as_dict()
    final = sink.last_report
    if final is not None:
        summary["lag"] = final["lag"]
    if output_metadata:
        context.add_output_metadata({k: v for k, v in summary.items() if v != ""})
    if sink.stop.reason in ("SIGTERM", "SIGINT"):
        context.log.info(
            f"stop requested ({sink.stop.reason}): flushed and committed; consumed {stats.consumed}, written "
            f"{stats.written}, duplicates {stats.duplicates}, dlq {stats.dlq}, lag {summary.get('lag', 'unknown')}"
        )
    return summary


MONGO_COLLECTION_SPECS = [
    dg.AssetSpec(
        mongo_collection(name),
        deps=[kafka_topic()],
        description=COLLECTION_DESCRIPTIONS[name],
        group_name="streaming",
        kinds={"mongodb"},
    )
    for name in COLLECTIONS
]


class _CollectionReporter:
    """Materializes the collections while the sink runs: at most every `interval` seconds, when it stored
    something since the last time (progress lines and sink_status come every progress_seconds)."""

    def __init__(self, context: dg.AssetExecutionContext, interval: float) -> None:
        self.context = context
        self.interval = interval
        self._last = 0.0
        self._written = -1

    def __call__(self, report: dict) -> None:
        now = time.monotonic()
        stored = report["written"] + report["duplicates"] + report["dlq"]
        if report["state"] != "running" or stored == self._written or now - self._last < self.interval:
            return
        self._last, self._written = now, stored
        metadata = progress_metadata(report)
        for spec in MONGO_COLLECTION_SPECS:
            self.context.log_event(dg.AssetMaterialization(asset_key=spec.key, metadata=metadata))


@dg.multi_asset(
    name="mongo_sink",
    specs=MONGO_COLLECTION_SPECS,
    description="Kafka -> MongoDB `events`, `events_per_minute`, `sink_delay_per_minute`, `sink_status` (long-running).",
)
def mongo_sink(context: dg.AssetExecutionContext, config: SinkConfig, kafka: KafkaResource, mongo: MongoResource):
    from user_events.streaming.mongo_sink import MongoSink

    topic = config.topic or kafka.topic_name()
    reporter = _CollectionReporter(context, config.report_interval_seconds)
    sink = MongoSink(topic, mongo.database(), on_progress=reporter, **_sink_kwargs(context, kafka, config))
    summary = _run_sink(context, sink, config, output_metadata=False)
    metadata = progress_metadata(sink.last_report) if sink.last_report else {}
    metadata.update({k: v for k, v in summary.items() if k not in metadata and v != ""})
    for spec in MONGO_COLLECTION_SPECS:
        yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)


@dg.op(
    description="Kafka -> S3 hourly NDJSON (Confluent S3 sink layout), long-running; logs a "
    f"{LAKE_EVENTS_HOURLY.to_user_string()} observation of what it wrote into each hour (the hour's totals, "
    "whoever wrote them, are the hourly sensor's materialisations).",
)
def s3_sink(
    context: dg.OpExecutionContext, config: S3SinkConfig, kafka: KafkaResource, s3: S3Storage, mongo: MongoResource
) -> dict:
    from user_events.streaming.s3_sink import S3Sink

    def on_hour_written(partition_key: str, metadata: dict) -> None:
        # increments of this run, not the hour's totals: an observation, never a materialisation
        written = {**metadata, "scope": "written by this run since its last report"}
        context.log_event(dg.AssetObservation(asset_key=LAKE_EVENTS_HOURLY, partition=partition_key, metadata=written))

    sink = S3Sink(
        config.topic or kafka.topic_name(),
        s3.get_client(),
        s3.bucket_name(),
        rotate_seconds=config.rotate_seconds,
        flush_records=config.flush_records,
        report_interval=config.report_interval_seconds,
        grace=timedelta(seconds=config.grace_seconds),
        on_hour_written=on_hour_written,
        status_db=mongo.database(),  # its sink_status document; best effort, never required
        **_sink_kwargs(context, kafka, config),
    )
    return _run_sink(context, sink, config)


mongo_sink_job = dg.define_asset_job(
    "mongo_sink_job",
    # without the lag check on mongo/events: it is evaluated every minute, not when the long-running sink ends
    selection=dg.AssetSelection.assets(*[spec.key for spec in MONGO_COLLECTION_SPECS]).without_checks(),
    tags={SINK_TAG: "mongo", **SINK_RETRY_TAGS},
    description="Kafka -> MongoDB sink (long-running): materializes the MongoDB collections.",
)


@dg.job(tags={SINK_TAG: "s3", **SINK_RETRY_TAGS}, description="Kafka -> S3 sink (long-running).")
def s3_sink_job():
    s3_sink()


defs = dg.Definitions(
    assets=[events_topic_spec, mongo_sink],
    jobs=[simulate_job, mongo_sink_job, s3_sink_job],
    asset_checks=SINK_LAG_CHECKS,
    sensors=[
        keep_running_sensor(mongo_sink_job, "mongo"),
        keep_running_sensor(s3_sink_job, "s3"),
        *[sink_lag_sensor(sink) for sink in SINK_ASSETS],
    ],
    resources={"kafka": KafkaResource(), "mongo": MongoResource()},
)
