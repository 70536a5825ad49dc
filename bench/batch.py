"""Batch load benchmark: the same generated CSV and the same PostgreSQL, four ways, and the floor of (c).

    python -m bench.batch [--rows 2000000] [--rss-rows 1000000,4000000] [--skip-jdbc] [--skip-b2] [--skip-floor]
                          [--steps]

(a) floor: psql \\copy of the raw CSV into a 9-column text table;
(b) bare Spark: read.csv with the all-string raw schema + DataFrame.write.format("jdbc"), default options;
(b2) the seed's way of the same job: read.csv with the typed schema (no validation, no quarantine),
    dropDuplicates(), the events and the brand details written with write.format("jdbc"), then the daily and
    hourly KPIs as plain SQL in PostgreSQL over the JDBC-written events table (CREATE TABLE ... AS SELECT);
(c) batch_job end to end (`user-events batch`): validation, de-duplication, Parquet, brand details, six
    tables with indexes, KPIs and the data-quality checks;
(f) the floor of (c): a fresh process that imports what (c) imports, starts Spark the same way and parses +
    validates every row into Spark's no-op sink -- what any run of (c) must at least do, nothing stored.
(b), (b2) and (c) run in fresh processes, so each includes starting Spark; each also reports its own "core"
time (b: read + write; b2: events + brand details, its KPI SQL timed apart; c: the Dagster run). (c)'s run is
recorded in a Dagster instance under .data/bench/dagster_home, whose event log gives the per-step table. PostgreSQL: USER_EVENTS_PG_URL (as `make bench` sets from
.env.services) or the embedded server. Peak RSS: the driver's process tree (Python + the Spark JVM),
sampled every 0.2 s, also per process (the Spark JVM, the Python driver). With USER_EVENTS_SPARK_REMOTE set to
services-up's Spark Connect server (as `make bench` does), (c) and (f) are its clients and that server's JVM
is counted as their Spark JVM; (b) and (b2), the seed's ways, always start Spark in their own process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

from user_events.config import SERVICES_ENV_FILE, settings
from user_events.redaction import redact_url
from user_events.schema import RAW_FIELDS


def bench_dir() -> Path:
    return settings().data_dir / "bench"


def bench_dagster_home() -> Path:
    return bench_dir() / "dagster_home"


SEED = 20191101
JDBC_PACKAGE = "org.postgresql:postgresql:42.7.4"
# \copy cannot take rows with a wrong number of fields: the file keeps every other kind of bad row
BENCH_INVALID_KINDS = (
    "event_time_unparseable",
    "event_time_missing",
    "event_type_invalid",
    "product_id_missing",
    "product_id_not_integer",
    "category_id_not_positive",
    "user_id_out_of_range",
    "user_id_not_positive",
    "price_missing",
    "price_not_number",
    "price_negative",
)


def dataset(rows: int) -> Path:
    from user_events.generator import write_csv

    path = bench_dir() / f"raw_{rows}_{SEED}.csv"
    if not path.exists():
        t = time.monotonic()
        stats = write_csv(path, rows=rows, seed=SEED, invalid_kinds=BENCH_INVALID_KINDS)
        print(f"generated {rows:,} rows ({stats['bytes'] / 1e6:.0f} MB) in {time.monotonic() - t:.1f}s -> {path}")
    return path


def pg_url() -> str:
    url = settings().pg_url
    if url:
        return url.get_secret_value()
    from user_events.warehouse.embedded import EmbeddedPostgres

    return EmbeddedPostgres().start()


def psql_binary() -> str:
    from user_events.warehouse.embedded import bin_dir

    try:
        candidate = bin_dir() / "psql"
        if candidate.exists():
            return str(candidate)
    except Exception:
        pass
    return shutil.which("psql") or "psql"


def psql(url: str, sql: str) -> str:
    """Run SQL with psql (stop at the first error); its unaligned, tuples-only output."""
    done = subprocess.run(
        [psql_binary(), url, "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def process_cpu_seconds(p) -> float:
    import psutil

    try:
        t = p.cpu_times()
    except psutil.Error:  # a backend that just exited: its time moves to the postmaster's children
        return 0.0
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


class ServerCpu:
    """CPU seconds used by the PostgreSQL server (postmaster + its exited backends) listening on a port."""

    def __init__(self, url: str):
        import psutil

        port = urlsplit(url).port or 5432
        self.proc = None
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                self.proc = psutil.Process(conn.pid)
                break

    def total(self) -> float:
        if self.proc is None:
            return float("nan")
        return process_cpu_seconds(self.proc) + sum(process_cpu_seconds(c) for c in self.proc.children())


@dataclass
class TreeRun:
    """A command run to completion: wall seconds, peak RSS of its process tree and per process name (java,
    python, ...), CPU seconds (last sample per process, every 0.2 s), output, and the run's own "core" seconds."""

    wall: float
    peak_rss: int
    peaks: dict[str, int]
    cpu: float
    out: str
    core: float = float("nan")

    def rss_text(self) -> str:
        parts = ", ".join(f"{name} {n / 2**20:,.0f}" for name, n in sorted(self.peaks.items(), key=lambda kv: -kv[1]))
        return f"peak RSS {self.peak_rss / 2**20:,.0f} MiB ({parts})"


def _process_name(p) -> str:
    name = p.name()
    return "java" if name == "java" else "python" if name.startswith("python") else name


def _name_or_none(p) -> str | None:
    import psutil

    try:
        return _process_name(p)
    except psutil.Error:
        return None


def spark_connect_server():
    """services-up's Spark Connect server (a psutil.Process) when USER_EVENTS_SPARK_REMOTE is its URL, else None."""
    import psutil

    from user_events.devservices.core import State
    from user_events.devservices.spark import SparkConnect

    local = SparkConnect(State())
    pid = local.process.pid()
    if pid is None or settings().spark_remote != local.url():
        return None
    return psutil.Process(pid)


def run_tree(
    cmd: list[str], env_vars: dict | None = None, core_pattern: str | None = None, spark_connect: bool = False
) -> TreeRun:
    """Run a command, sampling its process tree; `core_pattern` (a regex with one number) reads `core` from
    the output. `spark_connect`: the command's Spark is services-up's Spark Connect server when
    USER_EVENTS_SPARK_REMOTE names it; its JVM is then sampled as the run's."""
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env_vars or {})}
    )
    root = psutil.Process(proc.pid)
    server = spark_connect_server() if spark_connect else None
    peak = 0
    peaks: dict[str, int] = {}
    cpu: dict[int, float] = {}
    # the server's CPU seconds count from its start: only what it spends during this run is the run's
    server_cpu_before = sum(server.cpu_times()[:2]) if server is not None else 0.0
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            total = 0
            tree = [root] + root.children(recursive=True)
            java = {p.pid for p in tree if _name_or_none(p) == "java"}
            if server is not None:  # the warm Spark Connect server this run's sessions use (outside the tree)
                tree.append(server)
            for p in tree:
                try:
                    name = _process_name(p)
                    if p.ppid() in java and name != "python":
                        continue  # a helper the JVM forks to run a command: shares the JVM's pages until exec
                    rss = p.memory_info().rss
                    times = p.cpu_times()
                except psutil.Error:
                    continue
                total += rss
                peaks[name] = max(peaks.get(name, 0), rss)
                cpu[p.pid] = times.user + times.system
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.2)
    reader.join()
    out = "".join(chunks)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{out[-3000:]}")
    run = TreeRun(time.monotonic() - started, peak, peaks, sum(cpu.values()) - server_cpu_before, out)
    if core_pattern:
        run.core = float(re.search(core_pattern, out).group(1))
    return run


def bench_copy(url: str, path: Path) -> float:
    psql(
        url,
        "DROP TABLE IF EXISTS bench_raw_copy; CREATE TABLE bench_raw_copy ("
        + ", ".join(f"{c} text" for c in RAW_FIELDS)
        + ")",
    )
    started = time.monotonic()
    psql(url, f"\\copy bench_raw_copy FROM '{path}' WITH (FORMAT csv, HEADER true)")
    return time.monotonic() - started


# What (b) and (b2) share: argv, the session (built like (c)'s, plus the JDBC driver) and a default JDBC write.
JDBC_PREAMBLE = textwrap.dedent(
    """
    import sys, time
    from user_events.spark import get_spark
    path, jdbc_url, user, password, package, ivy = sys.argv[1:7]
    # the seed's way: Spark in its own process (remote="": never services-up's Spark Connect server)
    spark = get_spark(
        "local[*]", with_s3=False, extra={"spark.jars.packages": package, "spark.jars.ivy": ivy}, remote=""
    )
    props = {"driver": "org.postgresql.Driver", "user": user}
    if password:
        props["password"] = password

    def write_jdbc(df, table):
        df.write.format("jdbc").options(url=jdbc_url, dbtable=table, **props).mode("overwrite").save()
    """
)

JDBC_SCRIPT = JDBC_PREAMBLE + textwrap.dedent(
    """
    from user_events.schema import raw_spark_schema
    t = time.monotonic()
    write_jdbc(spark.read.csv(path, header=True, schema=raw_spark_schema()), "bench_raw_jdbc")
    print(f"CORE_SECONDS={time.monotonic() - t:.3f}")
    """
)

B2_EVENTS_TABLE = "bench_b2_events"
B2_BRANDS_TABLE = "bench_b2_brand_details"
B2_KPI_TABLES = {"day": ("kpi_daily_b2", "date"), "hour": ("kpi_hourly_b2", "timestamptz")}  # period: table, type

# (b2), as the seed's notebooks do it: typed read, no validation, no caching (the brand details read the CSV again)
B2_SCRIPT = JDBC_PREAMBLE + textwrap.dedent(
    f"""
    from pyspark.sql import functions as F
    from user_events.schema import RAW_FIELDS, USER_EVENTS, spark_schema
    t = time.monotonic()
    schema = spark_schema(USER_EVENTS, RAW_FIELDS)
    events = spark.read.csv(path, header=True, schema=schema, timestampFormat="yyyy-MM-dd HH:mm:ss 'UTC'")
    events = events.dropDuplicates()
    write_jdbc(events, "{B2_EVENTS_TABLE}")
    t_events = time.monotonic()

    def of_type(event_type, value):
        return F.when(F.col("event_type") == event_type, value)

    brands = events.groupBy("brand").agg(
        F.avg("price").alias("avg_price"),
        F.count(of_type("view", 1)).alias("views"),
        F.count(of_type("cart", 1)).alias("carts"),
        F.count(of_type("purchase", 1)).alias("purchases"),
        F.coalesce(F.sum(of_type("purchase", F.col("price"))), F.lit(0)).alias("revenue"),
        F.countDistinct("user_session").alias("sessions"),
        F.countDistinct("user_id").alias("users"),
        (F.countDistinct(of_type("purchase", F.col("user_session"))) / F.countDistinct("user_session"))
        .alias("conversion_rate"),
    )
    write_jdbc(brands, "{B2_BRANDS_TABLE}")
    t_brands = time.monotonic()
    print(f"EVENTS_SECONDS={{t_events - t:.3f}}")
    print(f"BRANDS_SECONDS={{t_brands - t_events:.3f}}")
    print(f"CORE_SECONDS={{t_brands - t:.3f}}")
    """
)


def b2_kpi_sql(period: str) -> str:
    """CREATE TABLE kpi_<period>_b2 AS SELECT ...: the KPIs of docs/reference.md per UTC day or hour, in plain SQL over the
    JDBC-written events (period: "day" or "hour")."""
    table, period_type = B2_KPI_TABLES[period]
    return textwrap.dedent(
        f"""
        SET TIME ZONE 'UTC';
        DROP TABLE IF EXISTS {table};
        CREATE TABLE {table} AS
        WITH ev AS (
            SELECT date_trunc('{period}', event_time) AS period, event_type, price, user_id, user_session
            FROM {B2_EVENTS_TABLE}
        ),
        totals AS (
            SELECT period, count(*) AS events, count(DISTINCT user_id) AS users,
                   count(DISTINCT user_session) AS sessions,
                   count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
                   count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS orders,
                   coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
            FROM ev GROUP BY period
        ),
        carts AS (
            SELECT period, count(*) FILTER (WHERE has_cart) AS cart_sessions,
                   count(*) FILTER (WHERE has_cart AND has_purchase) AS cart_and_purchase_sessions
            FROM (
                SELECT period, user_session, bool_or(event_type = 'cart') AS has_cart,
                       bool_or(event_type = 'purchase') AS has_purchase
                FROM ev WHERE user_session IS NOT NULL GROUP BY period, user_session
            ) s GROUP BY period
        ),
        per_user AS (
            SELECT period, count(*) FILTER (WHERE user_sessions >= 2) AS returning_users,
                   count(*) FILTER (WHERE user_purchases >= 1) AS buyers,
                   count(*) FILTER (WHERE purchase_sessions >= 2) AS repeat_buyers
            FROM (
                SELECT period, user_id, count(DISTINCT user_session) AS user_sessions,
                       count(*) FILTER (WHERE event_type = 'purchase') AS user_purchases,
                       count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS purchase_sessions
                FROM ev GROUP BY period, user_id
            ) u GROUP BY period
        )
        SELECT t.period::{period_type} AS {period}, events, users, sessions,
               purchases, orders, revenue,
               orders::float8 / nullif(sessions, 0) AS conversion_rate,
               1 - cart_and_purchase_sessions::float8 / nullif(cart_sessions, 0) AS cart_abandonment_rate,
               returning_users::float8 / nullif(users, 0) AS returning_user_rate,
               repeat_buyers::float8 / nullif(buyers, 0) AS repeat_customer_rate,
               revenue::float8 / nullif(orders, 0) AS avg_order_value
        FROM totals t LEFT JOIN carts USING (period) LEFT JOIN per_user USING (period)
        ORDER BY 1;
        """
    )


FLOOR_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import dagster, user_events.definitions  # what `user-events batch` imports
    from user_events.spark import get_spark
    from user_events.ingest import transforms as T
    spark = get_spark()
    t = time.monotonic()
    validated = T.validate_raw(T.read_raw_csv(spark, sys.argv[1], multiline=sys.argv[2] == "true"))
    validated.write.format("noop").mode("overwrite").save()
    print(f"CORE_SECONDS={time.monotonic() - t:.3f}")
    """
)


CORE_SECONDS = r"CORE_SECONDS=([0-9.]+)"


def bench_floor(path: Path) -> TreeRun:
    """A lower bound of (c): start the batch process (imports, Spark) and parse + validate every row, nothing
    stored. Whatever else (c) does -- de-duplicate, write Parquet, load, KPIs, checks -- comes on top."""
    from user_events.ingest.inputs import resolve_inputs

    multiline = resolve_inputs(str(path))[0].multiline
    return run_tree(
        [sys.executable, "-c", FLOOR_SCRIPT, str(path), str(multiline).lower()],
        {"USER_EVENTS_SPARK_MASTER": settings().spark_master},
        CORE_SECONDS,
        spark_connect=True,
    )


def jdbc_args(url: str) -> list[str]:
    """JDBC_PREAMBLE's argv after the CSV path: the JDBC URL, user, password, driver package, ivy directory."""
    parts = urlsplit(url)
    jdbc_url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path or '/postgres'}"
    return [
        jdbc_url,
        parts.username or "postgres",
        parts.password or "",
        JDBC_PACKAGE,
        str(settings().data_dir / "ivy"),
    ]


def bench_jdbc(url: str, path: Path) -> TreeRun:
    return run_tree([sys.executable, "-c", JDBC_SCRIPT, str(path), *jdbc_args(url)], core_pattern=CORE_SECONDS)


@dataclass
class B2Run:
    """(b2): the Spark process (events + brand details) and the KPI SQL after it."""

    spark: TreeRun
    events: float
    brands: float
    kpi_daily: float
    kpi_hourly: float
    counts: dict[str, int]

    @property
    def kpis(self) -> float:
        return self.kpi_daily + self.kpi_hourly

    @property
    def wall(self) -> float:
        return self.spark.wall + self.kpis


def timed_psql(url: str, sql: str) -> float:
    started = time.monotonic()
    psql(url, sql)
    return time.monotonic() - started


def bench_b2(url: str, path: Path) -> B2Run:
    spark = run_tree([sys.executable, "-c", B2_SCRIPT, str(path), *jdbc_args(url)], core_pattern=CORE_SECONDS)
    daily, hourly = timed_psql(url, b2_kpi_sql("day")), timed_psql(url, b2_kpi_sql("hour"))
    tables = (B2_EVENTS_TABLE, B2_BRANDS_TABLE, *(table for table, _ in B2_KPI_TABLES.values()))
    counts = {t: int(psql(url, f"SELECT count(*) FROM {t}")) for t in tables}
    seconds = {k: float(re.search(rf"{k}=([0-9.]+)", spark.out).group(1)) for k in ("EVENTS_SECONDS", "BRANDS_SECONDS")}
    return B2Run(spark, seconds["EVENTS_SECONDS"], seconds["BRANDS_SECONDS"], daily, hourly, counts)


def bench_batch(url: str, path: Path, schema: str) -> TreeRun:
    bench_dagster_home().mkdir(parents=True, exist_ok=True)
    return run_tree(
        [str(Path(sys.executable).parent / "user-events"), "batch", "--keep-pg"],
        {
            "USER_EVENTS_RAW_CSV": str(path),
            "USER_EVENTS_PG_URL": url,
            "USER_EVENTS_PG_SCHEMA": schema,
            "USER_EVENTS_BATCH_DIR": str(bench_dir() / "batch"),
            "USER_EVENTS_SPARK_MASTER": settings().spark_master,
            "DAGSTER_HOME": str(bench_dagster_home()),
        },
        r"batch_job finished in ([0-9.]+)s",
        spark_connect=True,
    )


@dataclass
class StepRow:
    """One line of (c)'s per-step table: a step, or an asset / check it produced (seconds since the step's
    previous asset or check, or its start)."""

    name: str
    start: float  # seconds after the first step started
    seconds: float
    is_step: bool


def run_id_of(out: str) -> str:
    return re.search(r"batch_job finished in [0-9.]+s \(run ([0-9a-f-]+)\)", out).group(1)


def _output_name(event) -> str | None:
    if event.event_type_value == "ASSET_MATERIALIZATION":
        return "asset " + event.asset_key.to_user_string()
    if event.event_type_value == "ASSET_CHECK_EVALUATION":
        check = event.asset_check_evaluation_data
        return f"check {check.asset_key.to_user_string()}:{check.check_name}"
    return None


def step_rows(run_id: str, home: Path | None = None) -> list[StepRow]:
    """(c)'s steps in the order they started, each followed by the assets and checks it produced, from the
    run's event log (STEP_START, STEP_SUCCESS / STEP_FAILURE, ASSET_MATERIALIZATION, ASSET_CHECK_EVALUATION)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home or bench_dagster_home())) as instance:
        entries = [e for e in instance.all_logs(run_id) if e.dagster_event is not None and e.step_key]
    starts = {e.step_key: e.timestamp for e in entries if e.dagster_event.event_type_value == "STEP_START"}
    if not starts:
        return []
    t0 = min(starts.values())
    rows: list[StepRow] = []
    for step, started in sorted(starts.items(), key=lambda kv: kv[1]):
        step_entries = [e for e in entries if e.step_key == step]
        ends = [
            e.timestamp for e in step_entries if e.dagster_event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE")
        ]
        rows.append(StepRow(step, started - t0, (max(ends) if ends else float("nan")) - started, True))
        previous = started
        for e in step_entries:
            name = _output_name(e.dagster_event)
            if name:
                rows.append(StepRow(name, e.timestamp - t0, e.timestamp - previous, False))
                previous = e.timestamp
    return rows


def step_table(rows: list[StepRow], core: float) -> str:
    width = max([len(r.name) + 2 for r in rows] + [24])
    lines = [f"{'step / asset or check it produced':<{width}}  {'start':>8}  {'seconds':>7}"]
    for r in rows:
        name = r.name if r.is_step else "  " + r.name
        start = f"+{r.start:.1f}" if r.is_step else ""
        lines.append(f"{name:<{width}}  {start:>8}  {r.seconds:7.1f}")
    in_steps = sum(r.seconds for r in rows if r.is_step)
    lines.append(f"{'(all steps)':<{width}}  {'':>8}  {in_steps:7.1f}   of the run's {core:.1f}s (the rest: run setup)")
    return "\n".join(lines)


def progress_lines(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if re.match(r"^\d\d:\d\d:\d\d  ", line))


def c_over_f_goal(rows: int) -> float:
    """Issue 13's goal for c/f: <= 1.6 at 2M rows, <= 2 at 200k (fixed costs weigh more on small inputs)."""
    return 2.0 if rows <= 200_000 else 1.6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rss-rows", default="1000000,4000000", help="extra row counts to run (c) at for peak RSS")
    parser.add_argument("--skip-jdbc", action="store_true", help="skip (b), bare Spark read + JDBC write")
    parser.add_argument("--skip-b2", action="store_true", help="skip (b2), the seed's way of the same job")
    parser.add_argument("--skip-floor", action="store_true", help="skip (f), the parse-and-validate floor of (c)")
    parser.add_argument("--steps", action="store_true", help="print the batch run's progress lines")
    args = parser.parse_args(argv)
    load_dotenv(SERVICES_ENV_FILE, interpolate=False)
    bench_dir().mkdir(parents=True, exist_ok=True)
    url = pg_url()
    print(f"PostgreSQL: {redact_url(url)}   cores: {os.cpu_count()}")
    path = dataset(args.rows)
    rows = args.rows
    results: dict = {"rows": rows}

    server = ServerCpu(url)
    s0 = server.total()
    a = bench_copy(url, path)
    a_cpu = server.total() - s0
    results.update(a_copy_seconds=a, a_server_cpu=a_cpu)
    print(
        f"(a) psql \\copy raw CSV -> 9 text columns      {a:8.1f}s  {rows / a:>12,.0f} rows/s   CPU: server {a_cpu:.1f}s"
    )
    if not args.skip_jdbc:
        s0 = server.total()
        b = bench_jdbc(url, path)
        b_cpu = (b.cpu, server.total() - s0)
        results.update(b_wall_seconds=b.wall, b_core_seconds=b.core, b_peak_rss=b.peak_rss, b_cpu=b_cpu)
        print(
            f"(b) Spark read.csv + write.jdbc (process)      {b.wall:8.1f}s  {rows / b.wall:>12,.0f} rows/s"
            f"   core {b.core:.1f}s, {b.rss_text()}, CPU: client {b_cpu[0]:.1f}s + server {b_cpu[1]:.1f}s"
        )
    if not args.skip_b2:
        s0 = server.total()
        b2 = bench_b2(url, path)
        b2_cpu = (b2.spark.cpu, server.total() - s0)
        results.update(
            b2_wall_seconds=b2.wall,
            b2_events_seconds=b2.events,
            b2_brands_seconds=b2.brands,
            b2_kpi_seconds=b2.kpis,
            b2_peak_rss=b2.spark.peak_rss,
            b2_cpu=b2_cpu,
            b2_counts=b2.counts,
        )
        print(
            f"(b2) the seed's way: typed read, dedup, JDBC, SQL KPIs {b2.wall:8.1f}s  {rows / b2.wall:>12,.0f} rows/s"
            f"   CPU: client {b2_cpu[0]:.1f}s + server {b2_cpu[1]:.1f}s, {b2.spark.rss_text()}\n"
            f"      Spark process {b2.spark.wall:.1f}s (events read + dropDuplicates + JDBC write {b2.events:.1f}s,"
            f" brand details {b2.brands:.1f}s, the rest Spark start); KPI SQL {b2.kpis:.1f}s"
            f" (daily {b2.kpi_daily:.1f}s, hourly {b2.kpi_hourly:.1f}s)\n"
            f"      rows: "
            + ", ".join(f"{t} {n:,}" for t, n in b2.counts.items())
            + " (no validation: the events are every distinct row parsed, bad fields as NULL)"
        )
    s0 = server.total()
    c = bench_batch(url, path, "bench_batch")
    c_cpu = (c.cpu, server.total() - s0)
    results.update(c_wall_seconds=c.wall, c_core_seconds=c.core, c_peak_rss=c.peak_rss, c_cpu=c_cpu)
    print(
        f"(c) batch_job end to end (process)            {c.wall:8.1f}s  {rows / c.wall:>12,.0f} rows/s"
        f"   core {c.core:.1f}s, {c.rss_text()}, CPU: client {c_cpu[0]:.1f}s + server {c_cpu[1]:.1f}s"
    )
    results["c_peak_rss_by_process"] = dict(c.peaks)
    steps = step_rows(run_id_of(c.out))
    results["c_steps"] = [vars(r) for r in steps]
    print(textwrap.indent(step_table(steps, c.core), "      "))
    if not args.skip_floor:
        f = bench_floor(path)
        results.update(f_wall_seconds=f.wall, f_core_seconds=f.core, f_cpu=f.cpu)
        print(
            f"(f) floor of (c): start + parse + validate only {f.wall:8.1f}s  {rows / f.wall:>12,.0f} rows/s"
            f"   core {f.core:.1f}s, CPU {f.cpu:.1f}s (nothing stored: a lower bound of (c))"
        )
    if args.steps:
        print(textwrap.indent(progress_lines(c.out), "      "))
    print(f"c/a = {c.wall / a:.2f} (process), {c.core / a:.2f} (core)")
    if not args.skip_jdbc:
        print(
            f"c/b = {c.wall / b.wall:.2f} (process), {c.core / b.core:.2f} (core), "
            f"{sum(c_cpu) / sum(b_cpu):.2f} (CPU seconds)"
        )
    if not args.skip_b2:
        print(f"c/b2 = {c.wall / b2.wall:.2f} (process), {sum(c_cpu) / sum(b2_cpu):.2f} (CPU seconds)   goal <= 0.75")
    if not args.skip_floor:
        print(f"c/f = {c.wall / f.wall:.2f} (process)   goal <= {c_over_f_goal(rows):g} at {rows:,} rows")
        if not args.skip_jdbc:
            print(
                f"f/b = {f.wall / b.wall:.2f} (process): the share of (b) that (c) spends before doing any of its own work"
            )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work skews wall times)"
    )
    for extra in [int(x) for x in args.rss_rows.split(",") if x.strip()]:
        if extra == rows:
            continue
        e = bench_batch(url, dataset(extra), "bench_batch")
        results[f"c_{extra}"] = {
            "wall": e.wall,
            "core": e.core,
            "peak_rss": e.peak_rss,
            "peak_rss_by_process": dict(e.peaks),
        }
        print(f"(c) at {extra:,} rows: {e.wall:.1f}s process, {e.core:.1f}s core, {e.rss_text()}")
    (bench_dir() / f"batch_{rows}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
