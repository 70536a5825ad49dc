"""user_events: a Dagster asset-based analytics platform for e-commerce user events."""

__version__ = "0.1.0"
