"""Run tags more than one domain reads (the sinks' keep-alive sensors set it; the alert sensor reads it)."""

SINK_TAG = "user_events/sink"
