-- Inserts kpi_hourly's rows for the hours in %(hours)s and kpi_daily's for the days in %(days)s (those hours'
-- days), returning (hourly rows, daily rows). The days' events are read once, grouped per (hour, day, user,
-- session); the hours' groups are a subset of those, and the days' groups are those summed per day.
WITH hour_groups AS MATERIALIZED (
    SELECT event_hour, event_date, user_id, user_session,
           count(*) AS events,
           count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
           sum(price) FILTER (WHERE event_type = 'purchase') AS revenue,
           bool_or(event_type = 'purchase') AS has_purchase,
           bool_or(event_type = 'cart') AS has_cart
    FROM {events}
    -- the days' rows, found through the event_hour index, then exactly the days by event_date
    WHERE event_hour >= (SELECT min(d) FROM unnest(%(days)s::date[]) d)::timestamp AT TIME ZONE 'UTC'
      AND event_hour < ((SELECT max(d) FROM unnest(%(days)s::date[]) d) + 1)::timestamp AT TIME ZONE 'UTC'
      AND event_date = ANY(%(days)s)
    GROUP BY 1, 2, 3, 4
),
hourly_groups AS (
    SELECT event_hour AS period, user_id, user_session, events, purchases, revenue, has_purchase, has_cart
    FROM hour_groups WHERE event_hour = ANY(%(hours)s)
),
daily_groups AS (
    SELECT event_date AS period, user_id, user_session,
           sum(events) AS events, sum(purchases) AS purchases, sum(revenue) AS revenue,
           bool_or(has_purchase) AS has_purchase, bool_or(has_cart) AS has_cart
    FROM hour_groups GROUP BY 1, 2, 3
),
{hourly_metrics},
{daily_metrics},
hourly_inserted AS (INSERT INTO {kpi_hourly} ({kpi_hourly_columns}) SELECT * FROM hourly_rows RETURNING 1),
daily_inserted AS (INSERT INTO {kpi_daily} ({kpi_daily_columns}) SELECT * FROM daily_rows RETURNING 1)
SELECT (SELECT count(*) FROM hourly_inserted), (SELECT count(*) FROM daily_inserted)
