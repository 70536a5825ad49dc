"""Read-only access to the warehouse: the role the dashboards read it as, and what that role may do.

Runtime code (the dashboards' provisioning) and the dev services both grant it, from here.
"""

from __future__ import annotations

READER_ROLE = "user_events_reader"


def reader_grants(schema: str, reader: str = READER_ROLE, owner: str | None = None) -> list:
    """What the read-only role may do in one warehouse schema, as statements for the schema owner to run:
    USAGE on the schema and SELECT on its tables, including the tables `owner` (default: the role running
    the statements, i.e. the one whose loads create the tables) creates there later. Nothing else is granted
    (no CREATE, no write, no other schema); docker/postgres-init does the same."""
    from psycopg import sql

    s, r = sql.Identifier(schema), sql.Identifier(reader)
    later = (
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            sql.Identifier(owner), s, r
        )
        if owner
        else sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, r)
    )
    return [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        later,
    ]
