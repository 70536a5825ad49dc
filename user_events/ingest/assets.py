"""Batch ingest assets: raw CSV -> typed events (Parquet) -> brand details (Parquet). Thin: the work is in
transforms.py; here are file locations, Spark actions and metadata."""

import time
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import dagster as dg
from pyspark.sql import Observation

from user_events.files import write_parquet
from user_events.ingest import transforms as T
from user_events.ingest.handles import BrandDetailsData, RawInput, TypedEvents
from user_events.ingest.inputs import InputError, is_remote, resolve_inputs
from user_events.ingest.resources import DEFAULT_SAMPLE_ROWS, BatchSettings, SparkResource
from user_events.progress import progress
from user_events.redaction import redact_url

GROUP = "ingest"


@dg.asset(
    group_name=GROUP,
    description="Raw event CSV file(s) named by USER_EVENTS_RAW_CSV (path, glob or s3a:// URI); unset: the "
    "project's generated one-day sample under .data/sample (generated on first use).",
)
def raw_events_csv(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings
) -> dg.Output[RawInput]:
    spec, is_default = batch.raw_csv_spec()
    if is_default and not Path(spec).exists():
        from user_events.generator import write_csv

        progress(context, f"generating the sample dataset ({DEFAULT_SAMPLE_ROWS:,} rows) at {spec}")
        write_csv(spec, rows=DEFAULT_SAMPLE_ROWS)
    try:
        files = tuple(resolve_inputs(spec, spark.spark_session if is_remote(spec) else None))
    except InputError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    rows = sum(f.records for f in files) if all(f.records is not None for f in files) else None
    total = sum(f.bytes for f in files)
    progress(context, f"input: {len(files)} file(s), {total / 1e6:.1f} MB" + (f", {rows:,} rows" if rows else ""))
    metadata = {
        "files": len(files),
        "bytes": total,
        "paths": dg.MetadataValue.md("\n".join(f"- `{redact_url(f.uri)}`" for f in files[:50])),
        "spec": redact_url(spec),
        "generated_sample": is_default,
    }
    if rows is not None:
        metadata["rows"] = rows
    return dg.Output(RawInput(redact_url(spec), files), metadata=metadata)


@dg.asset(
    group_name=GROUP,
    description="Accepted events, typed, with event_id and event_hour/event_date, exact duplicates dropped "
    "(Parquet under USER_EVENTS_BATCH_DIR/typed_events); rejected rows with reasons beside them.",
)
def typed_events(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings, raw_events_csv: RawInput
) -> dg.Output[TypedEvents]:
    session = spark.spark_session
    started = time.monotonic()
    by_mode: dict[bool, list[str]] = {}
    for f in raw_events_csv.files:
        by_mode.setdefault(f.multiline, []).append(f.uri)
    raw = reduce(
        lambda a, b: a.unionByName(b), (T.read_raw_csv(session, uris, multiline=m) for m, uris in by_mode.items())
    )
    rejected_at = datetime.now(UTC).replace(microsecond=0)
    progress(context, "parsing and validating the raw rows")
    # rows per reason counted while the rows are written (no second pass over them)
    by_reason = Observation("rows_by_reason")
    validated_rows = T.compact_validated(T.validate_raw(raw, rejected_at=rejected_at))
    write_parquet(validated_rows.observe(by_reason, *T.reason_counts()), batch.validated_path())
    counts = {reason: n for reason, n in by_reason.get.items() if n}
    rows_in = counts.pop(T.ROWS_COUNTED, 0)
    accepted = counts.pop(T.ACCEPTED_COUNTED, 0)
    rejected_n = sum(counts.values())
    progress(context, f"{rows_in:,} rows read, {accepted:,} valid, {rejected_n:,} rejected; de-duplicating")

    validated = session.read.parquet(str(batch.validated_path()))
    typed, rejected = T.split_validated(validated)
    stored = Observation("typed_events_stored")
    write_parquet(T.dedupe_typed_events(typed).observe(stored, *T.event_rows_and_hours()), batch.typed_events_path())
    write_parquet(rejected.coalesce(1), batch.rejected_events_path())
    rows_out = stored.get[T.ROWS_COUNTED]
    hours = tuple(h.replace(tzinfo=UTC) for h in stored.get[T.HOURS_COLLECTED])
    duplicates = accepted - rows_out
    progress(
        context,
        f"typed events: {rows_out:,} rows ({duplicates:,} duplicates dropped) in {len(hours)} hour(s), "
        f"{time.monotonic() - started:.1f}s",
    )
    result = TypedEvents(
        path=str(batch.typed_events_path()),
        rejected_path=str(batch.rejected_events_path()),
        hours=hours,
        sources=raw_events_csv.sources,
        rows_in=rows_in,
        rows_out=rows_out,
        rejected=rejected_n,
        duplicates=duplicates,
        rejected_by_reason=dict(sorted(counts.items())),
    )
    metadata = {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rejected": rejected_n,
        "reject_rate": float(rejected_n / rows_in) if rows_in else 0.0,
        "duplicates_dropped": duplicates,
        "hours": len(hours),
        "path": result.path,
        "rejected_by_reason": dg.MetadataValue.json(result.rejected_by_reason),
        **{f"rejected.{reason}": n for reason, n in result.rejected_by_reason.items()},
    }
    return dg.Output(result, metadata=metadata)


def _md_cell(value) -> str:
    return "(none)" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


@dg.asset(
    group_name=GROUP,
    description="Per-brand views, carts, purchases, revenue, sessions, users, conversion (Parquet).",
)
def brand_details(
    context: dg.AssetExecutionContext, spark: SparkResource, batch: BatchSettings, typed_events: TypedEvents
) -> dg.Output[BrandDetailsData]:
    session = spark.spark_session
    details = T.brand_details(session.read.parquet(typed_events.path))
    write_parquet(details.coalesce(1), batch.brand_details_path())
    stored = session.read.parquet(str(batch.brand_details_path()))
    rows = stored.count()
    top = stored.orderBy(stored["revenue"].desc()).limit(10).collect()
    progress(context, f"brand details: {rows:,} brands")
    table = "| brand | views | purchases | revenue |\n|---|---|---|---|\n" + "\n".join(
        f"| {_md_cell(r['brand'])} | {r['views']} | {r['purchases']} | {r['revenue']} |" for r in top
    )
    return dg.Output(
        BrandDetailsData(str(batch.brand_details_path()), rows),
        metadata={
            "brands": rows,
            "path": str(batch.brand_details_path()),
            "top_by_revenue": dg.MetadataValue.md(table),
        },
    )
