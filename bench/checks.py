"""The small-frame pandera checks side by side: pandera.pyspark (the baseline: a Spark job per check) vs
the frame collected once and checked with pandera's pandas API (`small_frame_errors`), on the same frames.

    python -m bench.checks [--brand-details DIR] [--runs 5]

Frames: `brand_details` Parquet written by a batch run (default: the bench's 2M run,
.data/bench/batch2m/brand_details, see docs/batch.md), and KPI rows (24 hourly + 1 daily, as the warehouse
checks read them; generated). Prints the median seconds of each way, their ratio, and whether both found
the same failures. Needs no services (a local Spark session).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from decimal import Decimal

from user_events.config import settings


def kpi_rows(n: int) -> list[dict]:
    from user_events.schema import KPI_DAILY

    values = (date(2019, 11, 1), 1000, 300, 200, 10, 8, Decimal("500.00"), 0.05, 0.4, 0.1, 0.02, 62.5)
    return [dict(zip(KPI_DAILY.column_names, values, strict=True)) for _ in range(n)]


def median_seconds(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brand-details", default=str(settings().data_dir / "bench" / "batch2m" / "brand_details"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)

    from user_events.quality.reports import pandera_errors, small_frame_errors
    from user_events.schema import BRAND_DETAILS, KPI_DAILY
    from user_events.spark import get_spark
    from user_events.warehouse.checks import kpi_dataframe

    spark = get_spark()
    frames = [("kpi rows (25)", kpi_dataframe(spark, kpi_rows(25), KPI_DAILY), KPI_DAILY)]
    try:
        details = spark.read.parquet(args.brand_details).cache()
        frames.append((f"brand_details ({details.count():,} rows)", details, BRAND_DETAILS))
    except Exception as exc:  # the bench runs on what is there
        print(f"brand_details: skipped ({type(exc).__name__}: {str(exc)[:120]}); run the 2M batch first")
    for label, df, table in frames:
        pandera_errors(df, table)  # warm-up: Spark's first jobs and pandera's imports
        small_frame_errors(df, table)
        spark_s, by_spark = median_seconds(lambda df=df, table=table: pandera_errors(df, table), args.runs)
        small_s, small = median_seconds(lambda df=df, table=table: small_frame_errors(df, table), args.runs)
        same = "same failures" if small == by_spark else f"DIFFERENT: {small} vs {by_spark}"
        print(
            f"{label}: pandera.pyspark {spark_s:.3f}s, on the driver (pandas) {small_s:.3f}s, "
            f"ratio {small_s / spark_s:.2f}; {same}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
