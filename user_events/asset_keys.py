"""The asset keys that several domains name: one home, so lineage edges across domains never drift.

Domains never import each other's asset modules; a domain that reads another's data declares a dependency
on the key from here (for example the dashboards on the warehouse tables and the MongoDB collections).
"""

import dagster as dg

WAREHOUSE_PREFIX = "warehouse"
MONGO_PREFIX = "mongo"
KAFKA_PREFIX = "kafka"


def warehouse_table(name: str) -> dg.AssetKey:
    """The asset of one PostgreSQL warehouse table (`user_events`, `kpi_daily`, …)."""
    return dg.AssetKey([WAREHOUSE_PREFIX, name])


def mongo_collection(name: str) -> dg.AssetKey:
    """The asset of one MongoDB collection written by the MongoDB sink (`events`, `events_per_minute`, …)."""
    return dg.AssetKey([MONGO_PREFIX, name])


def kafka_topic(name: str = "events") -> dg.AssetKey:
    """The asset of a Kafka topic of the pipeline (`events` is USER_EVENTS_TOPIC, whatever its name)."""
    return dg.AssetKey([KAFKA_PREFIX, name])


# the batch path's typed events (ingest), which the warehouse loads and checks read
TYPED_EVENTS = dg.AssetKey("typed_events")
LAKE_EVENTS_HOURLY = dg.AssetKey("lake_events_hourly")
HOURLY_TYPED_EVENTS = dg.AssetKey("hourly_typed_events")
# the hourly loads into the warehouse tables: the tables' assets name them as upstreams, so the lineage shows
# both paths (batch and lake) feeding each table
HOURLY_USER_EVENTS = dg.AssetKey("hourly_user_events")
HOURLY_KPIS = dg.AssetKey("hourly_kpis")
