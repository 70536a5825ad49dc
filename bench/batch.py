"""Batch load benchmark: the same generated CSV and the same PostgreSQL, three ways, and the floor of the third.

    python -m bench.batch [--rows 2000000] [--rss-rows 1000000,4000000] [--skip-jdbc] [--skip-floor] [--steps]

(a) floor: psql \\copy of the raw CSV into a 9-column text table;
(b) the seed's approach: Spark read.csv with a schema + DataFrame.write.format("jdbc"), default options;
(c) batch_job end to end (`user-events batch`): validation, de-duplication, Parquet, brand details, five
    tables with indexes, KPIs and the data-quality checks;
(f) the floor of (c): a fresh process that imports what (c) imports, starts Spark the same way and parses +
    validates every row into Spark's no-op sink -- what any run of (c) must at least do, nothing stored.
(b) and (c) run in fresh processes, so both include starting Spark; each also reports its own "core" time
(b: read + write; c: the Dagster run). PostgreSQL: USER_EVENTS_PG_URL (as `make bench` sets from
.env.services) or the embedded server. Peak RSS: the driver's process tree (Python + the Spark JVM),
sampled every 0.2 s, also per process (the Spark JVM, the Python driver).
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

from user_events.config import DATA_DIR, PROJECT_ROOT, env, load_env_file, redact_url
from user_events.schema import RAW_FIELDS

BENCH_DIR = DATA_DIR / "bench"
SEED = 20191101
JDBC_PACKAGE = "org.postgresql:postgresql:42.7.4"
# \copy cannot take rows with a wrong number of fields: the file keeps every other kind of bad row
BENCH_INVALID_KINDS = (
    "event_time_unparseable", "event_time_missing", "event_type_invalid", "product_id_missing",
    "product_id_not_integer", "category_id_not_positive", "user_id_out_of_range", "user_id_not_positive",
    "price_missing", "price_not_number", "price_negative",
)  # fmt: skip


def dataset(rows: int) -> Path:
    from user_events.generator import write_csv

    path = BENCH_DIR / f"raw_{rows}_{SEED}.csv"
    if not path.exists():
        t = time.monotonic()
        stats = write_csv(path, rows=rows, seed=SEED, invalid_kinds=BENCH_INVALID_KINDS)
        print(f"generated {rows:,} rows ({stats['bytes'] / 1e6:.0f} MB) in {time.monotonic() - t:.1f}s -> {path}")
    return path


def pg_url() -> str:
    url = env("USER_EVENTS_PG_URL")
    if url:
        return url
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


def _cpu(p) -> float:
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
        return _cpu(self.proc) + sum(_cpu(c) for c in self.proc.children())


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


def run_tree(cmd: list[str], env_vars: dict | None = None, core_pattern: str | None = None) -> TreeRun:
    """Run a command, sampling its process tree; `core_pattern` (a regex with one number) reads `core` from
    the output."""
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env_vars or {})}
    )
    root = psutil.Process(proc.pid)
    peak = 0
    peaks: dict[str, int] = {}
    cpu: dict[int, float] = {}
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            total = 0
            tree = [root] + root.children(recursive=True)
            java = {p.pid for p in tree if _name_or_none(p) == "java"}
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
    run = TreeRun(time.monotonic() - started, peak, peaks, sum(cpu.values()), out)
    if core_pattern:
        run.core = float(re.search(core_pattern, out).group(1))
    return run


def bench_copy(url: str, path: Path) -> float:
    psql = psql_binary()
    ddl = "DROP TABLE IF EXISTS bench_raw_copy; CREATE TABLE bench_raw_copy (" + ", ".join(
        f"{c} text" for c in RAW_FIELDS
    ) + ")"
    subprocess.run([psql, url, "-q", "-v", "ON_ERROR_STOP=1", "-c", ddl], check=True, capture_output=True)
    started = time.monotonic()
    subprocess.run(
        [psql, url, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy bench_raw_copy FROM '{path}' WITH (FORMAT csv, HEADER true)"],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


JDBC_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from user_events.spark import get_spark
    from user_events.schema import raw_spark_schema
    path, jdbc_url, user, password, package, ivy = sys.argv[1:7]
    spark = get_spark("local[*]", with_s3=False, extra={"spark.jars.packages": package, "spark.jars.ivy": ivy})
    t = time.monotonic()
    df = spark.read.csv(path, header=True, schema=raw_spark_schema())
    props = {"driver": "org.postgresql.Driver", "user": user}
    if password:
        props["password"] = password
    df.write.format("jdbc").options(url=jdbc_url, dbtable="bench_raw_jdbc", **props).mode("overwrite").save()
    print(f"CORE_SECONDS={time.monotonic() - t:.3f}")
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
        {"USER_EVENTS_SPARK_MASTER": env("USER_EVENTS_SPARK_MASTER") or "local[*]"},
        CORE_SECONDS,
    )


def bench_jdbc(url: str, path: Path) -> TreeRun:
    parts = urlsplit(url)
    jdbc_url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path or '/postgres'}"
    return run_tree(
        [sys.executable, "-c", JDBC_SCRIPT, str(path), jdbc_url, parts.username or "postgres", parts.password or "",
         JDBC_PACKAGE, str(DATA_DIR / "ivy")],
        core_pattern=CORE_SECONDS,
    )  # fmt: skip


def bench_batch(url: str, path: Path, schema: str) -> TreeRun:
    return run_tree(
        [str(Path(sys.executable).parent / "user-events"), "batch", "--keep-pg"],
        {
            "USER_EVENTS_RAW_CSV": str(path),
            "USER_EVENTS_PG_URL": url,
            "USER_EVENTS_PG_SCHEMA": schema,
            "USER_EVENTS_BATCH_DIR": str(BENCH_DIR / "batch"),
            "USER_EVENTS_SPARK_MASTER": env("USER_EVENTS_SPARK_MASTER") or "local[*]",
        },
        r"batch_job finished in ([0-9.]+)s",
    )


def progress_lines(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if re.match(r"^\d\d:\d\d:\d\d  ", line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rss-rows", default="1000000,4000000", help="extra row counts to run (c) at for peak RSS")
    parser.add_argument("--skip-jdbc", action="store_true")
    parser.add_argument("--skip-floor", action="store_true", help="skip (f), the parse-and-validate floor of (c)")
    parser.add_argument("--steps", action="store_true", help="print the batch run's progress lines")
    args = parser.parse_args(argv)
    load_env_file(PROJECT_ROOT / ".env.services")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
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
    print(f"(a) psql \\copy raw CSV -> 9 text columns      {a:8.1f}s  {rows / a:>12,.0f} rows/s   CPU: server {a_cpu:.1f}s")
    if not args.skip_jdbc:
        s0 = server.total()
        b = bench_jdbc(url, path)
        b_cpu = (b.cpu, server.total() - s0)
        results.update(b_wall_seconds=b.wall, b_core_seconds=b.core, b_peak_rss=b.peak_rss, b_cpu=b_cpu)
        print(
            f"(b) Spark read.csv + write.jdbc (process)      {b.wall:8.1f}s  {rows / b.wall:>12,.0f} rows/s"
            f"   core {b.core:.1f}s, {b.rss_text()}, CPU: client {b_cpu[0]:.1f}s + server {b_cpu[1]:.1f}s"
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
            f"{sum(c_cpu) / sum(b_cpu):.2f} (CPU seconds)   goal <= 0.75"
        )
        if not args.skip_floor:
            print(f"f/b = {f.wall / b.wall:.2f} (process): the share of (b) that (c) spends before doing any of its own work")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work skews wall times)")
    for extra in [int(x) for x in args.rss_rows.split(",") if x.strip()]:
        if extra == rows:
            continue
        e = bench_batch(url, dataset(extra), "bench_batch")
        results[f"c_{extra}"] = {"wall": e.wall, "core": e.core, "peak_rss": e.peak_rss, "peak_rss_by_process": dict(e.peaks)}
        print(f"(c) at {extra:,} rows: {e.wall:.1f}s process, {e.core:.1f}s core, {e.rss_text()}")
    (BENCH_DIR / f"batch_{rows}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
