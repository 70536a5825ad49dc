"""pandera's error reports for a Spark DataFrame against one table of schema.py: pandera.pyspark for big
frames, pandas on the driver for small ones; both in the same form ({kind: {error type: [errors]}})."""

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame

from user_events.schema import TableSpec, pandera_pandas_schema, pandera_spark_schema, spark_type_mismatches

COLUMN_CHECK_THREADS = 4


def pandera_errors(df: DataFrame, table: TableSpec) -> dict:
    """pandera's error report for the DataFrame against the table's schema ({} when it conforms).

    pandera.pyspark runs one small Spark job per check (a column's NULLs, its value set, its range), one after
    the other; most of each job's time is fixed cost. So each column's schema is validated on a thread of its
    own, its jobs beside the others', and the reports are merged in the table's column order: the same checks
    and the same report as one schema for all columns.
    """

    def column_errors(name: str) -> dict:
        # a DataFrame object of its own: pandera keeps the report on the object it validated
        checked = pandera_spark_schema(table, [name]).validate(df.select("*"))
        return dict(checked.pandera.errors or {})

    with ThreadPoolExecutor(COLUMN_CHECK_THREADS, thread_name_prefix="pandera") as pool:
        return merge_error_reports(pool.map(column_errors, table.column_names))


def merge_error_reports(reports: Iterable[dict]) -> dict:
    """pandera error reports ({kind: {error type: [errors]}}) as one, the errors in the reports' order."""
    merged: dict = {}
    for report in reports:
        for kind, by_type in report.items():
            for error_type, errors in by_type.items():
                merged.setdefault(kind, {}).setdefault(error_type, []).extend(errors)
    return merged


def small_frame_errors(df: DataFrame, table: TableSpec) -> dict:
    """pandera's error report for a small DataFrame (a few thousand rows at most), in the same form as
    `pandera_errors`: the types compared with the spec, then the rows collected once and checked with
    pandera's pandas API. pandera.pyspark runs a Spark job per check, even for a frame of 25 rows."""
    from pandera.errors import SchemaErrors

    errors: dict = {}
    wrong_types = spark_type_mismatches(df.schema, table)
    if wrong_types:
        errors["SCHEMA"] = {"WRONG_DATATYPE": wrong_types}
    present = [c for c in table.column_names if c in df.columns]
    try:
        pandera_pandas_schema(table, present).validate(df.select(*present).toPandas(), lazy=True)
    except SchemaErrors as exc:
        return merge_error_reports([errors, exc.message])
    return errors


def error_count(errors: dict) -> int:
    return sum(len(items) for by_type in errors.values() for items in by_type.values())
