"""`user-events batch` (run batch_job in process, print table counts and KPIs) and `user-events generate`."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from user_events.generator import DEFAULT_SEED, DUPLICATE_RATE, INVALID_RATE, SAMPLE_ROWS
from user_events.progress import PROGRESS_LOGGER


def register(subparsers) -> None:
    batch = subparsers.add_parser(
        "batch",
        help="run batch_job: raw CSV -> typed events -> brand details -> PostgreSQL tables and KPIs",
        description="Runs batch_job in this process (USER_EVENTS_RAW_CSV, USER_EVENTS_PG_URL, ... from the "
        "environment; unset: the generated sample and the embedded PostgreSQL under .data/), then prints the "
        "row counts of the six tables and the daily KPIs.",
    )
    batch.add_argument(
        "--keep-pg", action="store_true", help="leave the embedded PostgreSQL running if this command started it"
    )
    batch.set_defaults(func=run_batch)

    gen = subparsers.add_parser("generate", help="write a seeded raw CSV of realistic events (REES46 format)")
    gen.add_argument("--out", default=None, help="output CSV (default: the sample path under .data/sample)")
    gen.add_argument("--rows", type=int, default=SAMPLE_ROWS, help="data rows (default %(default)s)")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--start", default="2019-11-01", help="UTC day (YYYY-MM-DD) or ISO time the data starts")
    gen.add_argument("--duplicate-rate", type=float, default=DUPLICATE_RATE)
    gen.add_argument("--invalid-rate", type=float, default=INVALID_RATE)
    gen.set_defaults(func=run_generate)


def _console_progress() -> None:
    logger = logging.getLogger(PROGRESS_LOGGER)
    if not any(getattr(h, "_user_events", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s  %(message)s", "%H:%M:%S"))
        handler._user_events = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_batch(args) -> int:
    from user_events.config import ConfigError, settings

    # Only the environment counts (no .env.services): `make run` means the embedded defaults.
    started = time.monotonic()
    _console_progress()
    log = logging.getLogger(PROGRESS_LOGGER)
    started_pg = None
    if not settings().pg_url:
        from user_events.warehouse.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres()
        if not pg.is_running():
            log.info(f"starting the embedded PostgreSQL under {pg.root}")
            try:
                pg.start()
            except ConfigError as exc:
                print(f"batch failed: {exc}", file=sys.stderr)
                return 1
            started_pg = pg
    try:
        return _run_batch_job(log)
    finally:
        if started_pg is not None and not args.keep_pg:
            started_pg.stop()
        log.info(f"total {time.monotonic() - started:.1f}s (PostgreSQL start and stop included)")


def _run_batch_job(log) -> int:
    from user_events.batch import batch_definitions
    from user_events.dagster_instance import local_instance
    from user_events.run_report import failure_message, step_durations
    from user_events.warehouse.resources import connect
    from user_events.warehouse.summary import print_summary, warehouse_url_and_schema

    defs = batch_definitions()

    started = time.monotonic()
    log.info("running batch_job")
    job = defs.resolve_job_def("batch_job")
    instance = local_instance()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    if not result.success:
        print(f"batch failed: {failure_message(result)}", file=sys.stderr)
        return 1
    log.info(f"batch_job finished in {time.monotonic() - started:.1f}s (run {result.run_id})")
    log.info("steps: " + step_durations(instance, result.run_id))
    url, schema = warehouse_url_and_schema()
    with connect(url, autocommit=True) as conn:
        print_summary(conn, schema)
    return 0


def run_generate(args) -> int:
    from user_events.generator import write_csv
    from user_events.ingest.resources import default_sample_path

    _console_progress()
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    out = Path(args.out) if args.out else default_sample_path()
    t0 = time.monotonic()
    stats = write_csv(
        out,
        rows=args.rows,
        seed=args.seed,
        start=start,
        duplicate_rate=args.duplicate_rate,
        invalid_rate=args.invalid_rate,
        progress=logging.getLogger(PROGRESS_LOGGER).info,
    )
    print(
        f"wrote {stats['rows']:,} rows ({stats['duplicates']:,} duplicates, {stats['invalid']:,} invalid) "
        f"to {stats['path']} in {time.monotonic() - t0:.1f}s"
    )
    return 0
