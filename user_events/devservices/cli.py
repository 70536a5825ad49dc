"""Start, stop and inspect the local services (no Docker): `python -m user_events.devservices up|down|status`.

`up` installs what is missing (first run: Kafka jars, the MongoDB-wire server's virtualenv, Spark's s3a
jars, a PostgreSQL cluster), starts every service that is not running, health-checks all of them with a
real round trip, writes `.env.services` and provisions the Superset dashboards. A second `up` only re-checks
health (and provisions again only when the dashboards' bundle or where they read changed, or they are gone).
`down` stops the processes recorded in .data/services/*.pid, after checking each pid is still the process we
started.
`purge` (`make clean`) stops them all and removes what they keep outside .data/services.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from user_events.config import PROJECT_ROOT, SERVICES_ENV_FILE

from .base import Service
from .core import ServiceError, State, say, services_dir, services_lock, wait_healthy, write_private
from .kafka import Kafka
from .mongo import Mongo
from .postgres import Postgres
from .s3 import SeaweedS3
from .spark import SparkConnect
from .sparkjars import ensure_s3a_jars
from .superset import Superset

SERVICE_CLASSES = (Postgres, Kafka, Mongo, SeaweedS3, SparkConnect, Superset)
ENV_ORDER = (
    "USER_EVENTS_PG_URL",
    "USER_EVENTS_PG_SCHEMA",
    "USER_EVENTS_KAFKA_BOOTSTRAP",
    "USER_EVENTS_MONGO_URI",
    "USER_EVENTS_MONGO_DB",
    "USER_EVENTS_S3_ENDPOINT",
    "USER_EVENTS_S3_BUCKET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "USER_EVENTS_DAGSTER_PG_URL",
    "USER_EVENTS_SPARK_REMOTE",
    "USER_EVENTS_SUPERSET_URL",
    "USER_EVENTS_SUPERSET_USER",
    "USER_EVENTS_SUPERSET_PASSWORD",
)


def services(state: State, only: list[str] | None = None) -> list[Service]:
    chosen = [cls(state) for cls in SERVICE_CLASSES]
    return [s for s in chosen if not only or s.name in only]


def services_env(svcs: list[Service]) -> dict[str, str]:
    values: dict[str, str] = {}
    for svc in svcs:
        values.update(svc.env())
    return values


def write_env_file(svcs: list[Service]) -> None:
    values = services_env(svcs)
    keys = [k for k in ENV_ORDER if k in values] + sorted(k for k in values if k not in ENV_ORDER)
    body = "# Written by `make services-up` (user_events/devservices); local services on loopback.\n"
    body += "".join(f"{k}={values[k]}\n" for k in keys)
    write_private(SERVICES_ENV_FILE, body)


def up(only: list[str] | None = None) -> int:
    t0 = time.monotonic()
    with services_lock():
        state = State()
        svcs = services(state, only)
        for svc in svcs:
            svc.install()
        if not only:
            ensure_s3a_jars(services_dir() / "spark-jars.log")
        started = []
        for svc in svcs:
            if svc.running():
                continue
            say(
                f"{svc.name}: starting (log: {svc.log.relative_to(PROJECT_ROOT) if svc.log.is_relative_to(PROJECT_ROOT) else svc.log})"
            )
            svc.start()
            started.append(svc.name)

        def check(svc: Service) -> tuple[str, float]:
            return svc.name, wait_healthy(svc.name, svc.check, svc.health_timeout, svc.log, svc.process)

        with ThreadPoolExecutor(max_workers=len(svcs)) as pool:
            futures = [pool.submit(check, svc) for svc in svcs]
            errors = []
            for fut in futures:
                try:
                    name, took = fut.result()
                    say(f"{name}: healthy ({took:.1f}s)")
                except ServiceError as exc:
                    errors.append(str(exc))
        if errors:
            for err in errors:
                print(f"services: FAILED {err}", file=sys.stderr, flush=True)
            return 1
        write_env_file(services(state))
        provision_dashboards(svcs, services_env(services(state)))
    what = f"started {', '.join(started)}" if started else "all already running"
    say(f"up in {time.monotonic() - t0:.1f}s ({what}); settings in {SERVICES_ENV_FILE.name}")
    return 0


def provision_dashboards(svcs: list[Service], env: dict[str, str]) -> None:
    """After the health checks: provisioning needs Superset and the warehouse both answering."""
    for svc in svcs:
        if isinstance(svc, Superset):
            svc.provision_dashboards(env)


def down(only: list[str] | None = None) -> int:
    with services_lock():
        state = State()
        svcs = services(state, only)
        stopping = [(svc, svc.process.send_stop(svc.stop_signal)) for svc in svcs]
        if all(pid is None for _, pid in stopping):
            say("nothing of ours is running")
        for svc, pid in stopping:
            if pid is None:
                continue
            clean = svc.process.wait_stopped(pid, svc.stop_timeout)
            say(
                f"{svc.name}: stopped (pid {pid}{'' if clean else ', killed after ' + str(int(svc.stop_timeout)) + 's'})"
            )
    return 0


def purge() -> int:
    """Stop every service and remove what they keep outside .data/services (`make clean`, before rm -rf .data)."""
    down()
    with services_lock():
        for svc in services(State()):
            svc.purge()
    return 0


def status() -> int:
    state = State()
    code = 0
    for svc in services(state):
        pid = svc.process.pid()
        if pid is None:
            print(f"{svc.name:9} stopped")
            code = 3
            continue
        try:
            svc.check()
            health = "healthy"
        except Exception as exc:
            health = f"UNHEALTHY ({type(exc).__name__}: {exc})"
            code = 1
        print(f"{svc.name:9} running  pid {pid:<8} port {svc.port():<6} {health}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m user_events.devservices", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "purge"])
    parser.add_argument("services", nargs="*", help="only these (postgres, kafka, mongo, s3, superset); default all")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(args.services)
        if args.command == "down":
            return down(args.services)
        if args.command == "purge":
            return purge()
        return status()
    except ServiceError as exc:
        print(f"services: FAILED {exc}", file=sys.stderr, flush=True)
        return 1
