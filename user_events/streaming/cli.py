"""`user-events simulate` and `user-events sink mongo|s3`: the streaming code as plain processes."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from user_events.config import settings
from user_events.options import add_arguments, from_arguments
from user_events.redaction import redact_text
from user_events.streaming.simulate_config import SimulateConfig
from user_events.streaming.sink_options import FLUSH_RECORDS, ROTATE_SECONDS, SinkOptions


def register(subparsers) -> None:
    sim = subparsers.add_parser(
        "simulate",
        help="publish simulated (or replayed) events to Kafka",
        description="Publish generated sessions (seeded) or the rows of a raw CSV to the events topic.",
    )
    add_arguments(sim, SimulateConfig)
    sim.set_defaults(func=run_simulate)

    sink = subparsers.add_parser(
        "sink",
        help="run a Kafka sink (mongo or s3) as a plain process",
        description="Consume the events topic into MongoDB or S3. SIGTERM flushes, commits and exits 0.",
    )
    sink.add_argument("target", choices=("mongo", "s3"))
    add_arguments(sink, SinkOptions)
    sink.set_defaults(func=run_sink)


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_simulate(args: argparse.Namespace) -> int:
    from user_events.streaming.stopping import StopFlag, stop_on_signals

    flag = StopFlag()
    with stop_on_signals(flag):  # before the (slow) imports: a SIGTERM now still ends the run cleanly
        return _simulate(args, flag)


def _simulate(args: argparse.Namespace, flag) -> int:
    from user_events.streaming.simulator import SimulationFailed, publish

    _setup_logging()
    cfg = from_arguments(SimulateConfig, args, topic=args.topic or settings().topic)
    try:
        result = publish(
            cfg, progress=lambda line: print(line, file=sys.stderr, flush=True), should_stop=lambda: bool(flag)
        )
    except SimulationFailed as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict()))
    if result.failed:
        print(f"simulate: {result.failed} message(s) failed: {redact_text('; '.join(result.errors))}", file=sys.stderr)
        return 1
    return 0


def run_sink(args: argparse.Namespace) -> int:
    from user_events.streaming.sink_errors import NoAssignment
    from user_events.streaming.stopping import StopFlag, stop_on_signals

    _setup_logging(args.log_level)
    topic = args.topic or settings().topic
    flag = StopFlag()
    with stop_on_signals(flag):  # before the (slow) imports: a SIGTERM now still ends the run cleanly
        sink = build_sink(
            args.target,
            topic,
            partitions=args.partitions,
            batch_size=args.batch_size,
            rotate_seconds=args.rotate_seconds,
            flush_records=args.flush_records,
            progress_interval=args.progress_seconds,
        )
        sink.stop = flag
        try:
            stats = sink.run_as_configured(args)
        except NoAssignment as exc:
            print(f"sink: {exc}", file=sys.stderr, flush=True)
            return 3
    print(
        json.dumps(
            {
                "sink": args.target,
                "topic": topic,
                "group": sink.group,
                "instance_id": sink.instance_id,
                **stats.as_dict(),
            }
        )
    )
    return 0


def build_sink(
    target: str,
    topic: str,
    batch_size: int | None = None,
    rotate_seconds: float = ROTATE_SECONDS,
    flush_records: int = FLUSH_RECORDS,
    **kwargs,
):
    """The sink for `target` with clients from the variables of docs/reference.md (the resources, outside Dagster)."""
    from user_events.streaming.clients import KafkaClients

    kwargs["kafka"] = KafkaClients()
    if batch_size:
        kwargs["batch_size"] = batch_size
    if target == "mongo":
        from user_events.streaming.clients import MongoClients
        from user_events.streaming.mongo_sink import MongoSink

        return MongoSink(topic, MongoClients().database(), **kwargs)
    from user_events.storage.s3_client import default_bucket, s3_client
    from user_events.streaming.s3_sink import S3Sink

    return S3Sink(
        topic,
        s3_client(),
        default_bucket(),
        rotate_seconds=rotate_seconds,
        flush_records=flush_records,
        status_db=status_database(),
        **kwargs,
    )


def status_database():
    """The MongoDB database for the S3 sink's `sink_status` document: quick to give up (2 s), never required."""
    from user_events.streaming.clients import MongoClients

    return MongoClients(server_selection_timeout_ms=2000).database()
