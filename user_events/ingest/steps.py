"""The work of each batch ingest asset, one named step each (the assets in assets.py call them in order):
the sample made on first use, the input vetted, the raw rows validated and counted, the typed and rejected
events stored, the brand details written, and the metadata each handle shows."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import NamedTuple

import dagster as dg
from pyspark.sql import DataFrame, Observation, SparkSession

from user_events.files import write_parquet
from user_events.ingest import transforms as T
from user_events.ingest.handles import BrandDetailsData, RawInput, TypedEvents
from user_events.ingest.inputs import InputError, InputFile, is_remote, resolve_inputs
from user_events.ingest.resources import BatchSettings, SparkResource
from user_events.redaction import redact_url

TOP_BRANDS = 10


class ValidationCounts(NamedTuple):
    rows_in: int
    accepted: int
    rejected_by_reason: dict[str, int]

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


class StoredEvents(NamedTuple):
    rows: int
    hours: tuple[datetime, ...]


# ---------------------------------------------------------------------------------------------------------
# raw_events_csv
# ---------------------------------------------------------------------------------------------------------


def generate_sample_if_missing(spec: str, is_default: bool, report) -> None:
    """The project's sample is written on first use; any other input must exist already."""
    if is_default and not Path(spec).exists():
        from user_events.generator import SAMPLE_ROWS, write_csv

        report(f"generating the sample dataset ({SAMPLE_ROWS:,} rows) at {spec}")
        write_csv(spec, rows=SAMPLE_ROWS)


def vetted_inputs(spec: str, spark: SparkResource) -> tuple[InputFile, ...]:
    """The input's files, or a Failure (not retried) saying what is wrong with it. Only a remote input waits
    for the Spark session (to list it)."""
    try:
        return tuple(resolve_inputs(spec, spark.spark_session if is_remote(spec) else None))
    except InputError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def known_rows(files: tuple[InputFile, ...]) -> int | None:
    return sum(f.records for f in files) if all(f.records is not None for f in files) else None


def input_summary(files: tuple[InputFile, ...]) -> str:
    rows = known_rows(files)
    total = sum(f.bytes for f in files)
    return f"input: {len(files)} file(s), {total / 1e6:.1f} MB" + (f", {rows:,} rows" if rows else "")


def raw_input_metadata(raw: RawInput, generated_sample: bool) -> dict:
    metadata = {
        "files": len(raw.files),
        "bytes": sum(f.bytes for f in raw.files),
        "paths": dg.MetadataValue.md("\n".join(f"- `{redact_url(f.uri)}`" for f in raw.files[:50])),
        "spec": raw.spec,
        "generated_sample": generated_sample,
    }
    rows = known_rows(raw.files)
    if rows is not None:
        metadata["rows"] = rows
    return metadata


# ---------------------------------------------------------------------------------------------------------
# typed_events
# ---------------------------------------------------------------------------------------------------------


def read_raw_rows(session: SparkSession, raw: RawInput) -> DataFrame:
    """Every input file's rows, the multi-line (quoted newline) files read in the mode they need."""
    by_mode: dict[bool, list[str]] = {}
    for f in raw.files:
        by_mode.setdefault(f.multiline, []).append(f.uri)
    return reduce(
        lambda a, b: a.unionByName(b), (T.read_raw_csv(session, uris, multiline=m) for m, uris in by_mode.items())
    )


def write_validated(raw_rows: DataFrame, path: Path) -> ValidationCounts:
    """The rows validated and written to `path`; rows per reason counted while they are written (no second
    pass over them)."""
    by_reason = Observation("rows_by_reason")
    validated = T.compact_validated(T.validate_raw(raw_rows, rejected_at=datetime.now(UTC).replace(microsecond=0)))
    write_parquet(validated.observe(by_reason, *T.reason_counts()), path)
    counts = {reason: n for reason, n in by_reason.get.items() if n}
    rows_in = counts.pop(T.ROWS_COUNTED, 0)
    accepted = counts.pop(T.ACCEPTED_COUNTED, 0)
    return ValidationCounts(rows_in, accepted, dict(sorted(counts.items())))


def store_typed_and_rejected(session: SparkSession, batch: BatchSettings) -> StoredEvents:
    """The validated rows split: the accepted, each event once, and the rejected, each to its Parquet."""
    typed, rejected = T.split_validated(session.read.parquet(str(batch.validated_path())))
    stored = Observation("typed_events_stored")
    write_parquet(T.dedupe_typed_events(typed).observe(stored, *T.event_rows_and_hours()), batch.typed_events_path())
    write_parquet(rejected.coalesce(1), batch.rejected_events_path())
    return StoredEvents(stored.get[T.ROWS_COUNTED], tuple(h.replace(tzinfo=UTC) for h in stored.get[T.HOURS_COLLECTED]))


def typed_events_handle(
    batch: BatchSettings, raw: RawInput, counts: ValidationCounts, stored: StoredEvents
) -> TypedEvents:
    return TypedEvents(
        path=str(batch.typed_events_path()),
        rejected_path=str(batch.rejected_events_path()),
        hours=stored.hours,
        sources=raw.sources,
        rows_in=counts.rows_in,
        rows_out=stored.rows,
        rejected=counts.rejected,
        duplicates=counts.accepted - stored.rows,
        rejected_by_reason=counts.rejected_by_reason,
    )


def typed_events_summary(events: TypedEvents) -> str:
    return (
        f"typed events: {events.rows_out:,} rows ({events.duplicates:,} duplicates dropped) "
        f"in {len(events.hours)} hour(s)"
    )


def typed_events_metadata(events: TypedEvents) -> dict:
    """What the UI shows of the handle (its data's path comes from the IO manager)."""
    return {
        "rows_in": events.rows_in,
        "rows_out": events.rows_out,
        "rejected": events.rejected,
        "reject_rate": float(events.rejected / events.rows_in) if events.rows_in else 0.0,
        "duplicates_dropped": events.duplicates,
        "hours": len(events.hours),
        "rejected_by_reason": dg.MetadataValue.json(events.rejected_by_reason),
        **{f"rejected.{reason}": n for reason, n in events.rejected_by_reason.items()},
    }


# ---------------------------------------------------------------------------------------------------------
# brand_details
# ---------------------------------------------------------------------------------------------------------


def store_brand_details(session: SparkSession, batch: BatchSettings, events: TypedEvents) -> DataFrame:
    """The per-brand details of the typed events written to their Parquet; the stored rows."""
    write_parquet(T.brand_details(session.read.parquet(events.path)).coalesce(1), batch.brand_details_path())
    return session.read.parquet(str(batch.brand_details_path()))


def _md_cell(value) -> str:
    return "(none)" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def top_brands_table(details: DataFrame) -> str:
    """The brands with the most revenue, as a Markdown table."""
    top = details.orderBy(details["revenue"].desc()).limit(TOP_BRANDS).collect()
    return "| brand | views | purchases | revenue |\n|---|---|---|---|\n" + "\n".join(
        f"| {_md_cell(r['brand'])} | {r['views']} | {r['purchases']} | {r['revenue']} |" for r in top
    )


def brand_details_metadata(handle: BrandDetailsData, details: DataFrame) -> dict:
    return {"brands": handle.rows, "top_by_revenue": dg.MetadataValue.md(top_brands_table(details))}
