"""Operations domain: the alert sensor, which tells a webhook what broke and what works again."""

import dagster as dg

from user_events.operations.sensors import alert_sensor

defs = dg.Definitions(sensors=[alert_sensor])
