"""`user-events simulate` and `user-events sink mongo|s3`: the streaming code as plain processes."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from user_events.config import redact_text, settings
from user_events.streaming.kafka_io import DEFAULT_PARTITIONS


def register(subparsers) -> None:
    sim = subparsers.add_parser(
        "simulate",
        help="publish simulated (or replayed) events to Kafka",
        description="Publish generated sessions (seeded) or the rows of a raw CSV to the events topic.",
    )
    sim.add_argument("--topic", default=None, help="topic (default $USER_EVENTS_TOPIC or user_activity)")
    sim.add_argument(
        "--rate", type=float, default=1000.0, help="events per second; 0 = as fast as possible (default 1000)"
    )
    stop = sim.add_mutually_exclusive_group()
    stop.add_argument("--count", type=int, default=None, help="number of events to publish")
    stop.add_argument("--duration", type=float, default=None, help="seconds to publish for")
    sim.add_argument("--seed", type=int, default=20191101, help="generator seed (default 20191101)")
    sim.add_argument("--from-csv", default=None, metavar="PATH", help="replay this raw CSV instead of generating")
    sim.add_argument(
        "--time-mode",
        choices=("live", "replay"),
        default="live",
        help="live: event_time = publication time (default); replay: keep the source's times",
    )
    sim.add_argument("--start", default=None, help="first simulated time of generated events in replay mode (ISO)")
    sim.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions when creating the topic")
    sim.add_argument("--progress-seconds", type=float, default=5.0)
    sim.set_defaults(func=run_simulate)

    sink = subparsers.add_parser(
        "sink",
        help="run a Kafka sink (mongo or s3) as a plain process",
        description="Consume the events topic into MongoDB or S3. SIGTERM flushes, commits and exits 0.",
    )
    sink.add_argument("target", choices=("mongo", "s3"))
    sink.add_argument("--topic", default=None, help="topic (default $USER_EVENTS_TOPIC or user_activity)")
    sink.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit 0 once drained: every assigned partition at its end and no message for this long",
    )
    sink.add_argument(
        "--assignment-timeout",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="with --until-idle: exit 3 when no partition was assigned within this long (default 90)",
    )
    sink.add_argument("--max-seconds", type=float, default=None, help="exit after this long (tests, benchmarks)")
    sink.add_argument(
        "--progress-seconds",
        type=float,
        default=10.0,
        help="progress line (lag, last store) and sink_status every so often",
    )
    sink.add_argument("--batch-size", type=int, default=None, help="max messages per batch")
    sink.add_argument(
        "--rotate-seconds", type=float, default=60.0, help="s3: write a (partition, hour) file at least this often"
    )
    sink.add_argument("--flush-records", type=int, default=1000, help="s3: records per file")
    sink.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions when creating the topic")
    sink.add_argument("--log-level", default="INFO")
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
    from user_events.streaming.simulator import SimulateConfig, SimulationFailed, parse_start, publish

    _setup_logging()
    cfg = SimulateConfig(
        topic=args.topic or settings().topic,
        rate=args.rate,
        count=args.count,
        duration=args.duration,
        seed=args.seed,
        from_csv=args.from_csv,
        time_mode=args.time_mode,
        partitions=args.partitions,
        start=parse_start(args.start),
        progress_seconds=args.progress_seconds,
    )
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
    from user_events.streaming.sink_base import NoAssignment
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
            stats = sink.run(
                until_idle=args.until_idle, max_seconds=args.max_seconds, assignment_timeout=args.assignment_timeout
            )
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
    rotate_seconds: float = 60.0,
    flush_records: int = 1000,
    **kwargs,
):
    """The sink for `target` with clients from the contract variables (the resources, outside Dagster)."""
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
