import dagster as dg

from user_events.streaming.resources import KafkaResource, MongoResource

defs = dg.Definitions(
    resources={
        "kafka": KafkaResource(),
        "mongo": MongoResource(),
    },
)
