-- One row of metrics per period of {groups}, a relation of (period, user_id, user_session) groups with their
-- events, purchases, revenue, has_purchase, has_cart; the CTEs end in {rows}.
-- Hash aggregates only (no count(DISTINCT), which sorts). The totals are summed per period straight from the
-- groups, not carried through the per-user aggregate: its hash table (one entry per user) stays narrow.
{sessions} AS (
    SELECT period,
           count(*) AS sessions,
           count(*) FILTER (WHERE has_purchase) AS orders,
           count(*) FILTER (WHERE has_cart) AS cart_sessions,
           count(*) FILTER (WHERE has_cart AND has_purchase) AS cart_purchase_sessions
    FROM (SELECT period, user_session, bool_or(has_purchase) AS has_purchase, bool_or(has_cart) AS has_cart
          FROM {groups} WHERE user_session IS NOT NULL GROUP BY 1, 2) per_session
    GROUP BY 1
),
{users} AS (
    SELECT period,
           count(*) AS users,
           count(*) FILTER (WHERE n_sessions >= 2) AS returning_users,
           count(*) FILTER (WHERE n_purchase_sessions >= 2) AS repeat_customers,
           count(*) FILTER (WHERE has_purchase) AS customers
    FROM (SELECT period, user_id,
                 count(user_session) AS n_sessions,
                 count(user_session) FILTER (WHERE has_purchase) AS n_purchase_sessions,
                 bool_or(has_purchase) AS has_purchase
          FROM {groups} GROUP BY 1, 2) per_user
    GROUP BY 1
),
{totals} AS (
    SELECT period, sum(events)::bigint AS events, sum(purchases)::bigint AS purchases,
           coalesce(sum(revenue), 0) AS revenue
    FROM {groups} GROUP BY 1
),
{rows} AS (
    SELECT t.period,
           t.events, u.users, coalesce(s.sessions, 0) AS sessions, t.purchases,
           coalesce(s.orders, 0) AS orders,
           t.revenue::{money} AS revenue,
           s.orders::float8 / NULLIF(s.sessions, 0) AS conversion_rate,
           CASE WHEN s.cart_sessions > 0 THEN 1 - s.cart_purchase_sessions::float8 / s.cart_sessions END
               AS cart_abandonment_rate,
           u.returning_users::float8 / NULLIF(u.users, 0) AS returning_user_rate,
           u.repeat_customers::float8 / NULLIF(u.customers, 0) AS repeat_customer_rate,
           (t.revenue / NULLIF(s.orders, 0))::float8 AS avg_order_value
    FROM {totals} t
    JOIN {users} u USING (period)
    LEFT JOIN {sessions} s USING (period)
)
