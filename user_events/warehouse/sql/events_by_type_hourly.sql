-- events per (hour, event type) of the hours in %(hours)s, as user_events holds them now
INSERT INTO {target} (hour, event_type, events)
SELECT event_hour, event_type, count(*) FROM {events} WHERE event_hour = ANY(%(hours)s) GROUP BY 1, 2
