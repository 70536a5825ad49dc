-- Dagster instance storage (runs, event log, schedules) lives next to the warehouse, in its own database.
CREATE DATABASE dagster OWNER user_events;
