import dagster as dg

from user_events.lake.resources import S3Storage

defs = dg.Definitions(
    resources={
        "s3": S3Storage(),
    },
)
