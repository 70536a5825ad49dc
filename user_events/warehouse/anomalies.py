"""KPI anomalies: a loaded hour or day against the same hour of the day before and of the week before.

Three metrics are compared (conversion rate, revenue, events). A comparison counts only when both periods
hold at least `min_events` events and the earlier value is above zero; it breaches when the relative change
exceeds `max_change` either way. The checks that use this warn (severity WARN): a load never fails for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import dagster as dg

from user_events.config import settings
from user_events.schema import TableSpec
from user_events.warehouse import kpis

COMPARED_METRICS = ("conversion_rate", "revenue", "events")
BASELINES = {"day_before": timedelta(days=1), "week_before": timedelta(days=7)}


@dataclass(frozen=True)
class Thresholds:
    max_change: float
    min_events: int

    @classmethod
    def from_settings(cls) -> Thresholds:
        s = settings()
        return cls(max_change=s.anomaly_max_change, min_events=s.anomaly_min_events)


@dataclass(frozen=True)
class Change:
    period: str
    metric: str
    baseline: str
    value: float
    baseline_value: float
    change: float  # (value - baseline_value) / baseline_value


def baseline_periods(periods: Iterable[date | datetime]) -> set:
    return {p - shift for p in periods for shift in BASELINES.values()}


def changes(rows: Mapping, periods: Sequence, thresholds: Thresholds) -> list[Change]:
    """Every comparison of `periods` with their baselines that counts (see the module's doc), in order.
    `rows`: period -> KPI row (dict), holding the periods and whichever baselines exist."""
    out = []
    for period in sorted(periods):
        current = rows.get(period)
        if current is None or current["events"] < thresholds.min_events:
            continue
        for baseline, shift in BASELINES.items():
            before = rows.get(period - shift)
            if before is None or before["events"] < thresholds.min_events:
                continue
            for metric in COMPARED_METRICS:
                value, base = current[metric], before[metric]
                if value is None or base is None or base <= 0:
                    continue
                change = (float(value) - float(base)) / float(base)
                out.append(Change(str(period), metric, baseline, float(value), float(base), change))
    return out


def breaches(found: Iterable[Change], thresholds: Thresholds) -> list[Change]:
    return [c for c in found if abs(c.change) > thresholds.max_change]


def anomaly_result(found: list[Change], thresholds: Thresholds, periods: int) -> dg.AssetCheckResult:
    """WARN when a comparison breaches; metadata: the breaches with both values and the change, the largest
    change as a number (plotted), and with one period its own comparisons as numbers."""
    bad = breaches(found, thresholds)
    largest = max(found, key=lambda c: abs(c.change), default=None)
    metadata: dict = {
        "periods_checked": periods,
        "comparisons": len(found),
        "breaches": len(bad),
        "max_change_allowed": thresholds.max_change,
        "min_events": thresholds.min_events,
        "breached": dg.MetadataValue.json([asdict(c) for c in bad]),
    }
    if largest is not None:
        metadata["largest_change"] = largest.change
    if periods == 1:
        for c in found:
            metadata[f"{c.metric}.{c.baseline}"] = c.baseline_value
            metadata[f"{c.metric}.{c.baseline}.change"] = c.change
    description = (
        "; ".join(
            f"{c.metric} {c.period}: {c.value:g} against {c.baseline_value:g} the {c.baseline.replace('_', ' ')} "
            f"({c.change:+.0%})"
            for c in bad[:5]
        )
        if bad
        else f"no KPI changed by more than {thresholds.max_change:.0%} against the day or the week before"
    )
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.WARN, description=description, metadata=metadata
    )


def check_anomalies(conn, schema: str, table: TableSpec, periods: Sequence) -> dg.AssetCheckResult:
    """The anomaly check of `periods` (hours of kpi_hourly, or days of kpi_daily) as the warehouse holds them."""
    thresholds = Thresholds.from_settings()
    wanted = set(periods) | baseline_periods(periods)
    key = table.columns[0].name
    rows = {r[key]: r for r in kpis.read_kpis(conn, schema, table, sorted(wanted))}
    return anomaly_result(changes(rows, periods, thresholds), thresholds, len(periods))


def combined(*results: dg.AssetCheckResult) -> dg.AssetCheckResult:
    """One check of several tables' anomaly results (the hours and their days): failed if any failed."""
    metadata: dict = {}
    for result, prefix in zip(results, ("hourly", "daily"), strict=False):
        metadata.update({f"{prefix}.{k}": v for k, v in result.metadata.items()})
    failed = [r for r in results if not r.passed]
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(r.description for r in (failed or results[:1]) if r.description),
        metadata=metadata,
    )
