"""The two Superset dashboards as assets, downstream of the tables and collections they read.

Materialising `superset_dashboards` provisions both from the YAML bundle (idempotent: fixed UUIDs,
overwrite) and refreshes every dataset's column metadata from its database, which also starts Superset's
result cache afresh. It first makes sure the read-only role may read the configured warehouse schema (the
grants of docs/dashboards.md; a no-op when they are in place).

Nobody has to run it after a load: the KPI dashboard's automation condition requests it once a load updated
any of the warehouse tables it reads (`dashboards_automation`, definitions.py, evaluates it).
"""

import dagster as dg

from user_events.asset_keys import mongo_collection, warehouse_table
from user_events.dashboards.provision import Placement, provision
from user_events.dashboards.resources import SupersetResource
from user_events.schema import WAREHOUSE_TABLES
from user_events.streaming.collections import EVENTS_PER_MINUTE, SINK_DELAY_PER_MINUTE, SINK_STATUS
from user_events.warehouse.access import READER_ROLE, reader_grants
from user_events.warehouse.resources import PostgresResource

GROUP = "dashboards"
PREFIX = "dashboards"
KPIS_READS = [warehouse_table(t.name) for t in WAREHOUSE_TABLES]  # the KPI dashboard reads every table
LIVE_READS = [mongo_collection(c) for c in (EVENTS_PER_MINUTE, SINK_DELAY_PER_MINUTE, SINK_STATUS)]

# Once per load, after it finished: a batch load materialises these tables, an hourly lake load logs their
# materialisations. Not `eager()`: its "no dependency missing" would wait for brand_details, which only the
# batch path loads, and its "newly missing" is `make services-up`'s first provisioning. The live dashboard has
# no condition: its charts read MongoDB directly, and the sink materialises its collections all the time.
AFTER_A_WAREHOUSE_LOAD = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after a warehouse load")

KPIS_DASHBOARD = dg.AssetSpec(
    key=[PREFIX, "kpis"],
    deps=KPIS_READS,
    automation_condition=AFTER_A_WAREHOUSE_LOAD,
    group_name=GROUP,
    kinds={"superset"},
    description="Superset dashboard 'E-commerce KPIs' (slug kpis): KPI tiles of the latest day with the change "
    "against the day before, daily and hourly trends, the funnel, the brand leaderboard, rejected rows.",
    metadata={"slug": "kpis"},
)
LIVE_DASHBOARD = dg.AssetSpec(
    key=[PREFIX, "live"],
    deps=LIVE_READS,
    group_name=GROUP,
    kinds={"superset", "mongodb"},
    description="Superset dashboard 'Live events' (slug live) over MongoDB's per-minute documents, refreshing "
    "every 10 s: events and revenue per minute, purchases per view, the sinks' delay p50/p95.",
    metadata={"slug": "live"},
)


def grant_reader(warehouse: PostgresResource, log) -> None:
    """The reader's SELECT on the configured schema (incl. later tables); skipped, saying so, without the role."""
    from psycopg import sql

    with warehouse.connect(autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,)).fetchone():
            log.warning(
                f"role {READER_ROLE} does not exist in the warehouse: create it (docs/dashboards.md), "
                "else the KPI dashboard cannot read anything"
            )
            return
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(warehouse.pg_schema)))
        for statement in reader_grants(warehouse.pg_schema):
            conn.execute(statement)


@dg.multi_asset(specs=[KPIS_DASHBOARD, LIVE_DASHBOARD], name="superset_dashboards", can_subset=False)
def superset_dashboards(context: dg.AssetExecutionContext, superset: SupersetResource, warehouse: PostgresResource):
    client = superset.client()  # fails saying "Superset is not configured" when it is not
    grant_reader(warehouse, context.log)
    # the warehouse the `warehouse` resource points at (host, port, database, schema; never its password)
    placement = Placement.from_env(
        {
            **superset.mongo_placement(),
            "USER_EVENTS_PG_URL": warehouse.resolved_url(),
            "USER_EVENTS_PG_SCHEMA": warehouse.pg_schema,
        }
    )
    dashboards = provision(client, placement)
    counts = {r: len(client.list_all(r, ("id",))) for r in ("chart", "dataset", "database")}
    context.log.info(f"provisioned {sorted(dashboards)} on {superset.display_url()} ({counts})")
    for spec in (KPIS_DASHBOARD, LIVE_DASHBOARD):
        dash = dashboards[spec.metadata["slug"]]
        yield dg.MaterializeResult(
            asset_key=spec.key,
            metadata={
                "url": dg.MetadataValue.url(dash["url"]),
                "title": dash["title"],
                "superset_id": dash["id"],
                "charts_in_superset": counts["chart"],
                "datasets_in_superset": counts["dataset"],
                "warehouse_schema": placement.pg_schema,
            },
        )


DASHBOARD_ASSETS = [superset_dashboards]
