"""The check bodies fail on bad data (and pass on good): pandera, uniqueness, reject rate, brand and KPI rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from user_events.ingest.checks import brand_details_inconsistencies
from user_events.quality.reports import error_count, pandera_errors, small_frame_errors
from user_events.quality.results import check_event_id_unique, check_reject_rate, check_schema
from user_events.schema import BRAND_DETAILS, KPI_DAILY, USER_EVENTS, spark_schema
from user_events.warehouse.checks import check_kpis, kpi_dataframe, kpi_rule_violations

T0 = datetime(2019, 11, 1, 0, 0)


def events(spark, rows):
    return spark.createDataFrame(rows, spark_schema(USER_EVENTS))


def ev(event_id="a" * 32, event_type="view", price="1.00", product_id=1):
    return (event_id, T0, event_type, product_id, 2, None, "b", Decimal(price), 3, "s", T0, T0.date())


def test_schema_check_reports_pandera_errors(spark):
    assert check_schema(events(spark, [ev()])).passed
    bad = check_schema(events(spark, [ev(event_type="click"), ev("b" * 32, price="-1.00", product_id=0)]))
    assert not bad.passed
    failed = {(e["column"], e["check"]) for e in bad.metadata["errors"].value["DATA"]["DATAFRAME_CHECK"]}
    assert {c for c, _ in failed} == {"event_type", "price", "product_id"}
    assert bad.metadata["error_count"].value == 3


def test_the_per_column_pandera_report_is_pandera_s_report_for_the_whole_schema(spark):
    """pandera_errors validates each column on its own thread and merges the reports; one pandera.pyspark
    schema of all columns, validated at once (the second method), gives the same report, in the same order."""
    from pyspark.sql import functions as F

    from user_events.schema import pandera_spark_schema

    rows = [ev(event_type="click"), ev("b" * 32, price="-1.00", product_id=0), ev("c" * 32, price="-2.00")]
    bad = events(spark, rows).withColumn(  # a NULL where the table allows none
        "event_id", F.when(F.col("event_id") != "c" * 32, F.col("event_id"))
    )
    retyped = bad.withColumn("user_id", F.col("user_id").cast("string")).drop("brand")
    for df in (bad, retyped):
        whole = dict(pandera_spark_schema(USER_EVENTS).validate(df).pandera.errors or {})
        assert error_count(whole) >= 4
        assert pandera_errors(df, USER_EVENTS) == whole


def test_uniqueness_check(spark):
    assert check_event_id_unique(events(spark, [ev("a" * 32), ev("b" * 32)])).passed
    result = check_event_id_unique(events(spark, [ev("a" * 32), ev("a" * 32), ev("b" * 32)]))
    assert not result.passed and result.metadata["duplicate_event_ids"].value == 1
    assert result.metadata["sample"].value == ["a" * 32]


def test_reject_rate_threshold(monkeypatch):
    assert check_reject_rate(5, 100).passed  # default 0.05
    assert not check_reject_rate(6, 100).passed
    monkeypatch.setenv("USER_EVENTS_MAX_REJECT_RATE", "0.1")
    assert check_reject_rate(10, 100).passed and not check_reject_rate(11, 100).passed
    assert check_reject_rate(0, 0).passed


def test_brand_and_kpi_rules(spark):
    typed = events(spark, [ev("a" * 32, "view"), ev("b" * 32, "purchase", price="5.00")])
    good = spark.createDataFrame([("b", 3.0, 1, 0, 1, Decimal("5.00"), 1, 1, 1.0)], spark_schema(BRAND_DETAILS))
    assert brand_details_inconsistencies(good, typed) == {}
    bad = spark.createDataFrame([("b", 3.0, 1, 0, 0, Decimal("5.00"), 0, 1, 0.5)], spark_schema(BRAND_DETAILS))
    assert set(brand_details_inconsistencies(bad, typed)) == {
        "revenue_without_purchases",
        "rate_without_sessions",
        "purchases_total",
        "brand_counts_mismatch",
    }
    row = dict(
        zip(
            KPI_DAILY.column_names,
            (date(2019, 11, 1), 10, 3, 2, 1, 3, Decimal("5.00"), 1.5, None, 0.1, None, None),
            strict=False,
        )
    )
    kpi = kpi_dataframe(spark, [row], KPI_DAILY)
    assert kpi_rule_violations(kpi) == {"orders_above_sessions": 1, "orders_above_purchases": 1}
    bad_kpis = check_kpis(kpi, KPI_DAILY)
    assert not bad_kpis.passed
    failed = [(e["column"], e["check"]) for e in bad_kpis.metadata["errors"].value["DATA"]["DATAFRAME_CHECK"]]
    assert [c for c, _ in failed] == ["conversion_rate"]  # 1.5 > 1
    ok = dict(
        zip(
            KPI_DAILY.column_names,
            (date(2019, 11, 1), 10, 3, 2, 1, 1, Decimal("5.00"), 0.5, None, 0.1, None, 5.0),
            strict=False,
        )
    )
    good_kpis = check_kpis(kpi_dataframe(spark, [ok], KPI_DAILY), KPI_DAILY)
    assert good_kpis.passed and kpi_rule_violations(kpi_dataframe(spark, [ok], KPI_DAILY)) == {}
    assert not check_kpis(kpi_dataframe(spark, [], KPI_DAILY), KPI_DAILY).passed  # no KPI rows at all


def _reported(errors: dict) -> set[tuple[str, str, str]]:
    return {
        (kind, e["column"], e["check"]) for by_type in errors.values() for kind, items in by_type.items() for e in items
    }


def test_small_frames_get_the_same_pandera_report_as_pandera_pyspark(spark):
    """Brand details and KPI rows are checked on the driver with pandera's pandas API; pandera.pyspark over
    the same frames (the second method) finds the same failures."""
    brands = spark.createDataFrame(
        [
            ("ok", 3.0, 1, 0, 1, Decimal("5.00"), 1, 1, 1.0),
            ("neg", 3.0, -1, 0, 1, Decimal("-5.00"), 1, 1, 1.5),
            (None, 3.0, 1, 0, 1, Decimal("5.00"), 1, 1, None),
        ],
        spark_schema(BRAND_DETAILS),
    )
    kpi_rows = [
        dict(
            zip(
                KPI_DAILY.column_names,
                (date(2019, 11, 1), 10, 3, 2, 1, 1, Decimal("5.00"), v, None, 0.1, None, None),
                strict=False,
            )
        )
        for v in (0.5, 1.5, -0.2)
    ]
    for df, table in ((brands, BRAND_DETAILS), (kpi_dataframe(spark, kpi_rows, KPI_DAILY), KPI_DAILY)):
        small, by_spark = small_frame_errors(df, table), pandera_errors(df, table)
        assert _reported(small) and _reported(small) == _reported(by_spark), (small, by_spark)
    assert small_frame_errors(kpi_dataframe(spark, kpi_rows[:1], KPI_DAILY), KPI_DAILY) == {}


def test_a_small_frame_with_a_wrong_column_type_is_reported(spark):
    from pyspark.sql.types import StringType, StructField, StructType

    fields = [
        StructField(f.name, StringType()) if f.name == "avg_price" else f for f in spark_schema(BRAND_DETAILS).fields
    ]
    wrong = spark.createDataFrame([("b", "3.0", 1, 0, 1, Decimal("5.00"), 1, 1, 1.0)], StructType(fields))
    errors = small_frame_errors(wrong, BRAND_DETAILS)
    assert [e["column"] for e in errors["SCHEMA"]["WRONG_DATATYPE"]] == ["avg_price"]
