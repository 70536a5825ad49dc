"""Loading Parquet into PostgreSQL: COPY (never row-by-row), atomic, idempotent.

The batch and the hourly S3 loads both use `load_user_events`, `load_rejected_events` and `ensure_tables`.
Each row of user_events is owned by the load that stored it (`loaded_by`: batch | lake); a load replaces only
its own rows, so no load deletes rows that it does not replace.
Pieces for other loads:
- `copy_batches(...)`: Arrow record batches streamed into a table with binary COPY (encoded by pgpq, bounded
  memory: one batch at a time);
- `ensure_tables(conn, schema)`: the six tables (DDL from user_events.schema) and their indexes.

Every public load runs in one transaction: a failure anywhere leaves the previous table state untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from psycopg import sql

from user_events.progress import PROGRESS_LOGGER
from user_events.schema import (
    LOAD_PATHS,
    LOADED_BY,
    REJECTED_EVENTS,
    USER_EVENTS_TABLE,
    WAREHOUSE_TABLES,
    TableSpec,
    arrow_schema,
    column_list,
    pg_create_table_sql,
)
from user_events.warehouse import kpis

log = logging.getLogger(PROGRESS_LOGGER)
BATCH_ROWS = 100_000

# (table, index name suffix, columns): lookups the loads and the KPI queries filter on
INDEXES: tuple[tuple[TableSpec, str, str], ...] = (
    (USER_EVENTS_TABLE, "event_hour_idx", "event_hour"),
    (REJECTED_EVENTS, "source_idx", "source"),
)


def ensure_tables(conn, schema: str) -> None:
    """CREATE SCHEMA/TABLE/INDEX IF NOT EXISTS for all warehouse tables (committed by the caller)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for spec in WAREHOUSE_TABLES:
        conn.execute(pg_create_table_sql(spec, schema))
    _add_owner_column(conn, schema)
    for spec, suffix, column in INDEXES:
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{spec.name}_{suffix}"), sql.Identifier(schema, spec.name), sql.Identifier(column)
            )
        )


def _add_owner_column(conn, schema: str) -> None:
    """Tables created before rows had an owner get `loaded_by`; their rows came from the batch path."""
    missing = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s)",
        (schema, USER_EVENTS_TABLE.name, LOADED_BY.name),
    ).fetchone()[0]
    if missing:
        target, owner = sql.Identifier(schema, USER_EVENTS_TABLE.name), sql.Identifier(LOADED_BY.name)
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} text NOT NULL DEFAULT 'batch'").format(target, owner))
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(target, owner))


# ---------------------------------------------------------------------------------------------------------
# Arrow -> COPY
# ---------------------------------------------------------------------------------------------------------


def parquet_files(path: str | Path) -> list[Path]:
    """The data files of a Parquet file or directory (as Spark writes them: hidden and _-files skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no Parquet data at {path}")
    return sorted(
        f for f in path.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in f.relative_to(path).parts)
    )


def parquet_batches(path: str | Path, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator:
    """Record batches of a Parquet file/directory (only `columns`), file after file, one row group decoded at
    a time: memory bounded by the row-group size (the writers cap files at 250k rows), not the data set
    (pyarrow's dataset scanner reads ahead across files and threads: its peak grew with the rows)."""
    import pyarrow.parquet as pq

    for f in parquet_files(path):
        with pq.ParquetFile(f) as parquet:
            yield from parquet.iter_batches(batch_size=batch_rows, columns=list(columns))


def conform_batch(batch, schema):
    """The batch's columns of `schema`, in its order and types (a cheap cast when they already match)."""
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)


def _write_batch(copy, encoder, batch) -> int:
    copy.write(encoder.write_batch(batch))
    return batch.num_rows


def copy_batches(
    conn, table: sql.Identifier, spec: TableSpec, batches: Iterable, freeze: bool = False, progress_every: int = 500_000
) -> int:
    """COPY the batches (Arrow, with `spec`'s columns) into `table` in the connection's current transaction, in
    PostgreSQL's binary format: nothing is rendered to text or parsed back.

    freeze: COPY ... FREEZE, for a table created or truncated in this transaction (rows land frozen, so the
    first reader does not rewrite every page to set hint bits).
    """
    import pgpq

    schema = arrow_schema(spec)
    encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
    options = sql.SQL("FORMAT binary, FREEZE" if freeze else "FORMAT binary")
    statement = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(table, column_list(spec.column_names), options)
    name = table.as_string(conn)
    total, next_report = 0, progress_every
    with conn.cursor() as cur:
        with cur.copy(statement) as copy:
            copy.write(encoder.write_header())
            for batch in batches:
                total += _write_batch(copy, encoder, conform_batch(batch, schema))
                if total >= next_report:
                    log.info(f"  {name}: {total:,} rows copied")
                    next_report += progress_every
            copy.write(encoder.finish())
    return total


def _tune_session(conn) -> None:
    conn.execute("SET LOCAL work_mem = '128MB'")
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")


# ---------------------------------------------------------------------------------------------------------
# user_events: a load replaces the rows it owns in the hours it loaded, and the KPIs of those hours
# ---------------------------------------------------------------------------------------------------------


def with_owner(batches: Iterable, loaded_by: str) -> Iterator:
    """The batches with the table's `loaded_by` column added (every row owned by `loaded_by`)."""
    import pyarrow as pa

    for batch in batches:
        yield batch.append_column(LOADED_BY.name, pa.array([loaded_by] * batch.num_rows, pa.string()))


def load_user_events(conn, schema: str, batches: Iterable, hours: Sequence[datetime], loaded_by: str) -> dict:
    """Replace the rows `loaded_by` ("batch" | "lake") owns in `hours` by the batches, and recompute
    kpi_hourly and events_by_type_hourly of those hours and kpi_daily of their days, in one transaction.

    Rows the other load owns are never deleted; an event already stored by it is stored once and keeps its
    owner (the batches' copy is skipped). So each load replaces exactly what it loaded before, and the KPI
    tables always describe exactly the rows of user_events, whatever failed or ran alone.

    Fast path: when the table holds nothing but the rows being replaced (a first load or a reload of the
    same input) it is truncated and COPYed into with FREEZE, building the indexes once afterwards.
    """
    if loaded_by not in LOAD_PATHS:
        raise ValueError(f"loaded_by must be one of {LOAD_PATHS}, not {loaded_by!r}")
    target = sql.Identifier(schema, USER_EVENTS_TABLE.name)
    name = f"{schema}.{USER_EVENTS_TABLE.name}"
    owned = with_owner(batches, loaded_by)
    hour_list = list(hours)
    started = time.monotonic()
    with conn.transaction():
        _tune_session(conn)
        # writers of other hours wait for us; readers keep reading the old state until commit
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
        others = conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE NOT (event_hour = ANY(%s) AND loaded_by = %s))").format(
                target
            ),
            (hour_list, loaded_by),
        ).fetchone()[0]
        skipped = 0
        if not others:
            deleted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0]
            conn.execute(sql.SQL("TRUNCATE {}").format(target))
            # into an empty table, building the indexes once afterwards (a sort) beats maintaining them
            # row by row; a duplicate id makes the primary key fail and the whole transaction roll back
            rebuild = _drop_indexes(conn, schema, USER_EVENTS_TABLE)
            inserted = copy_batches(conn, target, USER_EVENTS_TABLE, owned, freeze=True)
            log.info(f"  {name}: {inserted:,} rows copied in {time.monotonic() - started:.1f}s; building indexes")
            for statement in rebuild:
                conn.execute(statement)
            mode = "truncate"
        else:
            deleted = conn.execute(
                sql.SQL("DELETE FROM {} WHERE event_hour = ANY(%s) AND loaded_by = %s").format(target),
                (hour_list, loaded_by),
            ).rowcount
            shared = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE event_hour = ANY(%s))").format(target), (hour_list,)
            )
            if shared.fetchone()[0]:  # the other load owns rows of these hours: skip the events it stored
                inserted, skipped = _insert_missing(conn, target, owned)
                mode = "delete-owned-hours, merge"
            else:
                inserted = copy_batches(conn, target, USER_EVENTS_TABLE, owned)
                mode = "delete-owned-hours"
        # fresh statistics: the KPI queries below (and later readers) are planned on them
        conn.execute(sql.SQL("ANALYZE {}").format(target))
        log.info(
            f"  {name}: stored in {time.monotonic() - started:.1f}s; recomputing the KPIs of {len(hour_list)} hour(s)"
        )
        kpi_rows = kpis.recompute_kpis(conn, schema, hour_list)
        kpis.recompute_events_by_type(conn, schema, hour_list)
    return {
        "deleted": deleted,
        "inserted": inserted,
        "skipped_owned_by_other_load": skipped,
        "mode": mode,
        "kpis": kpi_rows,
    }


def _staging_table(conn, name: str, like: sql.Identifier) -> sql.Identifier:
    """A temporary table shaped like `like`, dropped at commit."""
    stage = sql.Identifier(name)
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(stage, like))
    return stage


def _insert_missing(conn, target: sql.Identifier, batches: Iterable) -> tuple[int, int]:
    """Stage the batches, insert the events the table does not hold yet; returns (inserted, skipped)."""
    stage = _staging_table(conn, "_user_events_stage", target)
    staged = copy_batches(conn, stage, USER_EVENTS_TABLE, batches)
    cols = column_list(USER_EVENTS_TABLE.column_names)
    inserted = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (event_id) DO NOTHING").format(
            target, cols, cols, stage
        )
    ).rowcount
    conn.execute(sql.SQL("DROP TABLE {}").format(stage))
    return inserted, staged - inserted


def _drop_indexes(conn, schema: str, spec: TableSpec) -> list[str]:
    """Drop the table's indexes (primary key included), returning the statements that recreate them."""
    rows = conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
        WHERE n.nspname = %s AND t.relname = %s
        """,
        (schema, spec.name),
    ).fetchall()
    target = sql.Identifier(schema, spec.name)
    rebuild: list[sql.Composable] = []
    for index_name, index_def, constraint, constraint_def in rows:
        if constraint:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, sql.Identifier(constraint)))
            rebuild.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    target, sql.Identifier(constraint), sql.SQL(constraint_def)
                )
            )
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index_name)))
            rebuild.append(sql.SQL(index_def))
    return rebuild


# ---------------------------------------------------------------------------------------------------------
# rejected_events: replace the rows of the input's sources, keeping when a row was first rejected
# ---------------------------------------------------------------------------------------------------------

_REJECTED_KEY_COLS = [c for c in REJECTED_EVENTS.column_names if c != "rejected_at"]


def _row_key(alias: str) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(alias, c) for c in _REJECTED_KEY_COLS)
    return sql.SQL("md5(row({})::text)").format(columns)


def load_rejected_events(conn, schema: str, batches: Iterable, sources: Sequence[str]) -> dict:
    """Replace rejected_events rows whose source is one of `sources` by the batches, atomically.

    A row rejected again (same source, same text, same reason) keeps its first rejected_at, so reloading
    the same input leaves the table identical.
    """
    target = sql.Identifier(schema, REJECTED_EVENTS.name)
    cols = REJECTED_EVENTS.column_names
    select_cols = sql.SQL(", ").join(
        sql.SQL("coalesce(f.first_at, s.rejected_at)") if c == "rejected_at" else sql.Identifier("s", c) for c in cols
    )
    with conn.transaction():
        _tune_session(conn)
        stage = _staging_table(conn, "_rejected_stage", target)
        staged = copy_batches(conn, stage, REJECTED_EVENTS, batches)
        statement = sql.SQL(
            """
            WITH old AS (DELETE FROM {target} WHERE source = ANY(%s) RETURNING *),
            first_seen AS (SELECT {old_key} AS k, min(old.rejected_at) AS first_at FROM old GROUP BY 1)
            INSERT INTO {target} ({columns})
            SELECT {select_cols} FROM {stage} s LEFT JOIN first_seen f ON f.k = {stage_key}
            """
        ).format(
            target=target,
            old_key=_row_key("old"),
            columns=column_list(cols),
            select_cols=select_cols,
            stage=stage,
            stage_key=_row_key("s"),
        )
        cur = conn.execute(statement, (list(sources),))
        inserted = cur.rowcount
    return {"inserted": inserted, "staged": staged}


# ---------------------------------------------------------------------------------------------------------
# Whole-table replace (brand_details)
# ---------------------------------------------------------------------------------------------------------


def replace_table(conn, schema: str, spec: TableSpec, batches: Iterable) -> dict:
    """TRUNCATE + COPY in one transaction: the table holds exactly the batches afterwards, or is unchanged."""
    target = sql.Identifier(schema, spec.name)
    with conn.transaction():
        _tune_session(conn)
        conn.execute(sql.SQL("TRUNCATE {}").format(target))
        inserted = copy_batches(conn, target, spec, batches, freeze=True)
    return {"inserted": inserted}


def table_counts(conn, schema: str) -> dict[str, int]:
    count = sql.SQL("SELECT count(*) FROM {}")
    return {
        spec.name: conn.execute(count.format(sql.Identifier(schema, spec.name))).fetchone()[0]
        for spec in WAREHOUSE_TABLES
    }


__all__ = [
    "ensure_tables",
    "parquet_batches",
    "copy_batches",
    "load_user_events",
    "load_rejected_events",
    "replace_table",
    "table_counts",
]
