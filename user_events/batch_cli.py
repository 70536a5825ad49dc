"""`user-events batch` (run batch_job in process, print table counts and KPIs) and `user-events generate`."""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from user_events.progress import PROGRESS_LOGGER

FAILURE_CLASSES = ("Failure", "ConfigError", "InputError", "EmbeddedPostgresError")


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
    gen.add_argument("--rows", type=int, default=None, help="data rows (default 200000)")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--start", default="2019-11-01", help="UTC day (YYYY-MM-DD) or ISO time the data starts")
    gen.add_argument("--duplicate-rate", type=float, default=0.002)
    gen.add_argument("--invalid-rate", type=float, default=0.001)
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


def _instance():
    import dagster as dg

    from user_events.config import settings

    if not os.environ.get("DAGSTER_HOME"):
        home = settings().data_dir / "dagster_home"  # the one `make dev` uses, so its UI shows these runs
        home.mkdir(parents=True, exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(home)
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # e.g. a dagster.yaml for PostgreSQL storage whose server is not up
        logging.getLogger(PROGRESS_LOGGER).info(
            f"Dagster instance at {os.environ['DAGSTER_HOME']} unusable ({type(exc).__name__}); using a temporary one"
        )
        return dg.DagsterInstance.ephemeral()


def _error_chain(error):
    while error is not None:
        yield error
        error = error.cause or getattr(error, "context", None)


def _strip_class(message: str, cls_name: str) -> str:
    head, sep, rest = message.strip().partition(": ")
    return rest.strip() if sep and head.endswith(cls_name) else message.strip()


def failure_message(result) -> str:
    """The one message a user needs: our own Failure/ConfigError text if there is one, else the root cause."""
    from user_events.redaction import redact_text

    candidates = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
        else:
            error = getattr(event.event_specific_data, "error", None)
        if error is None:
            continue
        chain = list(_error_chain(error))
        for e in chain:
            if e.cls_name in FAILURE_CLASSES:
                return redact_text(_strip_class(e.message, e.cls_name))
        if chain:
            last = chain[-1]
            candidates.append(_strip_class(last.message, last.cls_name).splitlines()[0] or last.cls_name)
    failed_checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    if failed_checks:
        names = ", ".join(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed_checks)
        return f"data quality check(s) failed, nothing more was written: {names} (see the run's check metadata)"
    return redact_text(candidates[0]) if candidates else "the run failed (see the Dagster log above)"


def print_summary(conn, schema: str) -> None:
    from user_events.schema import KPI_DAILY, KPI_METRIC_NAMES
    from user_events.warehouse import kpis, load

    print(f"\nPostgreSQL tables (schema {schema}):")
    for table, n in load.table_counts(conn, schema).items():
        print(f"  {table:<16} {n:>12,} rows")
    rows = kpis.read_kpis(conn, schema, KPI_DAILY)
    for row in rows:
        print(f"\nKPIs for {row['day']} (kpi_daily):")
        for name in KPI_METRIC_NAMES:
            value = row[name]
            if value is None:
                shown = "NULL"
            elif isinstance(value, int):
                shown = f"{value:,}"
            elif isinstance(value, Decimal):
                shown = f"{value:,.2f}"
            else:
                shown = f"{value:,.4f}"
            print(f"  {name:<22} {shown}")


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


def warehouse_url_and_schema() -> tuple[str, str]:
    from user_events.config import settings
    from user_events.warehouse.embedded import EmbeddedPostgres

    config = settings()
    url = config.pg_url.get_secret_value() if config.pg_url else EmbeddedPostgres().url()
    return url, config.pg_schema


def step_durations(instance, run_id: str) -> str:
    """'step 1.2s, ...' in the order the steps started (checks are steps of their own)."""
    stats = sorted(
        (s for s in instance.get_run_step_stats(run_id) if s.start_time and s.end_time), key=lambda s: s.start_time
    )
    return ", ".join(f"{s.step_key} {s.end_time - s.start_time:.1f}s" for s in stats)


def _run_batch_job(log) -> int:
    from user_events.batch import batch_definitions
    from user_events.warehouse.resources import connect

    defs = batch_definitions()

    started = time.monotonic()
    log.info("running batch_job")
    job = defs.resolve_job_def("batch_job")
    instance = _instance()
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
    from user_events.generator import DEFAULT_SEED, write_csv
    from user_events.ingest.resources import DEFAULT_SAMPLE_ROWS, default_sample_path

    _console_progress()
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    out = Path(args.out) if args.out else default_sample_path()
    t0 = time.monotonic()
    stats = write_csv(
        out,
        rows=args.rows or DEFAULT_SAMPLE_ROWS,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
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
