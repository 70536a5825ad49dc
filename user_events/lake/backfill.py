"""`user-events backfill`: a range of lake hours as an asset backfill, the way the UI launches one.

Dagster 1.13's `dagster job backfill` submits one run per hour itself; for these single-run assets the
webserver then treats the backfill as ranged and its page fails (KeyError on the range tags), and the
backfill reads "Success" as soon as the runs were submitted. An asset backfill launched through the
webserver's GraphQL API (`launchPartitionBackfill`, what the UI's "Materialize → range" sends) is executed
by the daemon as one run for the range, and its page shows the real status and duration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from user_events.config import ConfigError, Settings, settings

DEFAULT_DAGSTER_URL = Settings.model_fields["dagster_url"].default
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

# the fields the backfill's Overview page reads (status, timing, per-asset and per-partition counts)
STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on Error { message }
    ... on PartitionBackfill {
      id status isAssetBackfill numPartitions timestamp endTimestamp
      partitionStatusCounts { runStatus count }
      assetBackfillData {
        rootTargetedPartitions { partitionKeys ranges { start end } }
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
  }
}
"""


WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } }
  }
}
"""


class BackfillError(RuntimeError):
    """The webserver refused the backfill, or the backfill did not succeed."""


@dataclass(frozen=True)
class DagsterWebserver:
    url: str

    @classmethod
    def from_env(cls, url: str | None = None) -> DagsterWebserver:
        return cls((url or settings().dagster_url).rstrip("/"))

    def graphql(self, query: str, variables: dict) -> dict:
        try:
            response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        except requests.ConnectionError as exc:
            raise ConfigError(
                f"no Dagster webserver at {self.url} (start one with `make dev`, or set USER_EVENTS_DAGSTER_URL)"
            ) from exc
        if response.status_code != 200:
            raise BackfillError(f"{self.url}/graphql answered {response.status_code}: {response.text[:500]}")
        body = response.json()
        if body.get("errors"):
            raise BackfillError(f"GraphQL errors: {body['errors']}")
        return body["data"]


def hour_keys(first: str, last: str) -> list[str]:
    """The hourly partition keys from `first` to `last`, both included; a clear error for bad keys."""
    from user_events.lake.partitions import HOURLY_PARTITIONS  # Dagster: imported only by this command

    keys = HOURLY_PARTITIONS.get_partition_keys()
    for key in (first, last):
        if key not in keys:
            raise ConfigError(f"{key!r} is not an hourly partition key (format YYYY-MM-DD-HH:00, from {keys[0]})")
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    return keys[keys.index(first) : keys.index(last) + 1]


def wait_for_code_locations(web: DagsterWebserver, timeout: float = 300.0, poll: float = 2.0) -> None:
    """Until the webserver has loaded its code locations (it answers before they are); a clear error for a
    location that failed to load."""
    deadline = time.monotonic() + timeout
    while True:
        entries = web.graphql(WORKSPACE, {})["workspaceOrError"].get("locationEntries") or []
        failed = [e for e in entries if (e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"]
        if failed:
            raise BackfillError(
                f"code location {failed[0]['name']} failed to load: {failed[0]['locationOrLoadError']['message'][:500]}"
            )
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        if time.monotonic() > deadline:
            raise BackfillError(f"the webserver at {web.url} did not load its code locations within {timeout:.0f}s")
        time.sleep(poll)


def lake_load_asset_paths() -> list[dict]:
    """hourly_typed_events, hourly_user_events and hourly_kpis, as the mutation's asset selection (asset_keys
    imports Dagster: only this command does)."""
    from user_events.asset_keys import HOURLY_KPIS, HOURLY_TYPED_EVENTS, HOURLY_USER_EVENTS

    return [{"path": key.path} for key in (HOURLY_TYPED_EVENTS, HOURLY_USER_EVENTS, HOURLY_KPIS)]


def launch(web: DagsterWebserver, first: str, last: str, title: str | None = None) -> str:
    params = {
        "partitionNames": hour_keys(first, last),
        "assetSelection": lake_load_asset_paths(),
        "fromFailure": False,
        "title": title or f"lake hours {first}..{last}",
        "tags": [{"key": "user_events/trigger", "value": "user-events backfill"}],
    }
    result = web.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"backfill refused ({result['__typename']}): {result.get('message', '')}")
    return result["backfillId"]


def status(web: DagsterWebserver, backfill_id: str) -> dict:
    result = web.graphql(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if result["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {result['__typename']}: {result.get('message', '')}")
    return result


def wait(web: DagsterWebserver, backfill_id: str, timeout: float, poll: float = 2.0, report=print) -> dict:
    deadline, last = time.monotonic() + timeout, None
    while True:
        state = status(web, backfill_id)
        if state["status"] != last:
            report(f"backfill {backfill_id}: {state['status']}")
            last = state["status"]
        if state["status"] in FINISHED:
            return state
        if time.monotonic() > deadline:
            raise BackfillError(f"backfill {backfill_id} still {state['status']} after {timeout:.0f}s")
        time.sleep(poll)


def register(subparsers) -> None:
    cmd = subparsers.add_parser(
        "backfill",
        help="load a range of lake hours as one asset backfill (through the Dagster webserver, as the UI does)",
        description="Launch an asset backfill of hourly_typed_events, hourly_user_events and hourly_kpis over "
        "[--from, --to] on a running Dagster webserver + daemon (`make dev`); one run for the range.",
    )
    cmd.add_argument("--from", dest="first", required=True, help="first hour, e.g. 2019-11-01-00:00")
    cmd.add_argument("--to", dest="last", required=True, help="last hour (included)")
    cmd.add_argument(
        "--url", default=None, help=f"webserver (default $USER_EVENTS_DAGSTER_URL or {DEFAULT_DAGSTER_URL})"
    )
    cmd.add_argument("--wait", action="store_true", help="wait until the backfill finished; exit 1 unless it succeeded")
    cmd.add_argument("--timeout", type=float, default=3600.0, help="with --wait: seconds to wait at most")
    cmd.set_defaults(func=run_backfill)


def run_backfill(args) -> int:
    web = DagsterWebserver.from_env(args.url)
    try:
        wait_for_code_locations(web)
        backfill_id = launch(web, args.first, args.last)
        print(f"backfill {backfill_id} launched: {web.url}/runs/b/{backfill_id}")
        if not args.wait:
            return 0
        state = wait(web, backfill_id, args.timeout)
    except (ConfigError, BackfillError) as exc:
        print(f"user-events backfill: {exc}")
        return 1
    took = (state["endTimestamp"] or time.time()) - state["timestamp"]
    print(f"backfill {backfill_id}: {state['status']} after {took:.1f}s")
    return 0 if state["status"] in ("COMPLETED", "COMPLETED_SUCCESS") else 1
