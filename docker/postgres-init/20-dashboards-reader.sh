#!/bin/sh
# The dashboards' read-only login (Superset): SELECT on the warehouse schema only, including tables created
# later; no CREATE, no write, no access to the Dagster database. Same grants as `make services-up`
# (user_events/devservices/postgres.py). The password comes from docker/.env, never from a file here.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader_password="$USER_EVENTS_PG_READER_PASSWORD" -v schema="${USER_EVENTS_PG_SCHEMA:-public}" <<'EOSQL'
CREATE ROLE user_events_reader LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION user_events;
GRANT USAGE ON SCHEMA :"schema" TO user_events_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO user_events_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE user_events IN SCHEMA :"schema" GRANT SELECT ON TABLES TO user_events_reader;
REVOKE CONNECT, TEMPORARY ON DATABASE dagster FROM PUBLIC;
EOSQL
