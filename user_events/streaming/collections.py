"""The MongoDB collections the streaming domain writes, and the one format of their minute ids.

Other domains (the live dashboard) read these names from here or from docs/streaming.md; nothing else spells them.
"""

from __future__ import annotations

from datetime import UTC, datetime

EVENTS = "events"
EVENTS_PER_MINUTE = "events_per_minute"
SINK_DELAY_PER_MINUTE = "sink_delay_per_minute"
SINK_STATUS = "sink_status"
COLLECTIONS = (EVENTS, EVENTS_PER_MINUTE, SINK_DELAY_PER_MINUTE, SINK_STATUS)

MINUTE_ID_FORMAT = "%Y-%m-%dT%H:%MZ"


def minute_id(minute: datetime, suffix: str) -> str:
    """`<YYYY-MM-DDTHH:MMZ>|<suffix>` (UTC), the `_id` of a per-minute document: suffix = the event type in
    `events_per_minute`, the sink in `sink_delay_per_minute`."""
    return f"{minute.astimezone(UTC).strftime(MINUTE_ID_FORMAT)}|{suffix}"


def status_id(group: str, instance_id: str) -> str:
    """`<consumer group>|<group.instance.id>`, the `_id` of a sink's `sink_status` document."""
    return f"{group}|{instance_id}"
