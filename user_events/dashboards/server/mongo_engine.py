"""An empty MongoDB result is an empty table, not an error, in Superset's MongoDB engine (pymongosql 0.7).

In "superset mode" pymongosql fetches a virtual dataset's inner SELECT from MongoDB, loads the documents
into an in-memory SQLite table named after the query's alias (`virtual_table`) and runs Superset's outer
query there. With no documents (a collection not written yet, or no document in the chart's time window)
it creates no table at all, and the chart shows "no such table: virtual_table". An empty result has no
columns to copy, so the table is made with the columns the outer query asks for, learnt from SQLite's own
"no such table" / "no such column" errors; the query then answers with no rows, as on any other database.

Loaded by superset_config.py inside Superset's process (it imports pymongosql, not user_events).
"""

from __future__ import annotations

import re
import sqlite3

from pymongosql.executor import ExecutionPlanFactory
from pymongosql.superset_mongodb.executor import SupersetExecution
from pymongosql.superset_mongodb.query_db_sqlite import QueryDBSQLite

MISSING = re.compile(r"no such (table|column): (?:\w+\.)?\"?(\w+)\"?")
MAX_MISSING_COLUMNS = 200  # a guard against looping on an error this does not understand


class QueryDBWithEmptyTables(QueryDBSQLite):
    """pymongosql's SQLite stage, where loading no records still leaves a (column-less until asked) table."""

    def __init__(self) -> None:
        super().__init__()
        self._empty_tables: set[str] = set()

    def insert_records(self, table_name, records, schema=None) -> int:
        if not records and table_name not in self._tables:
            self._empty_tables.add(table_name)
        return super().insert_records(table_name, records, schema)

    def execute_query(self, query: str):
        self._complete_empty_tables(query)
        return super().execute_query(query)

    def execute_query_cursor(self, query: str):
        self._complete_empty_tables(query)
        return super().execute_query_cursor(query)

    def _complete_empty_tables(self, query: str) -> None:
        """Create each empty table with the columns `query` names (untyped: they hold no value)."""
        if not self._empty_tables:
            return
        conn = self._ensure_connection()
        for _ in range(MAX_MISSING_COLUMNS):
            try:
                conn.execute(f"EXPLAIN {query}")  # compiles the query, reads nothing
                return
            except sqlite3.OperationalError as exc:
                missing = MISSING.search(str(exc))
                if not missing or not self._empty_tables:
                    return  # not ours: let the real query raise it
                kind, name = missing.groups()
                if kind == "table" and name in self._empty_tables:
                    conn.execute(f'CREATE TABLE "{name}" ("_no_documents" NULL)')
                    self._tables[name] = {"_no_documents": "NULL"}
                elif kind == "column":
                    table = next(iter(self._empty_tables & set(self._tables)), None)
                    if table is None:
                        return
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}"')
                    self._tables[table][name] = "NULL"
                else:
                    return


def install() -> None:
    """Make the registered superset-mode strategy use the SQLite stage above."""
    for strategy in ExecutionPlanFactory._strategies:
        if isinstance(strategy, SupersetExecution):
            strategy._query_db_factory = QueryDBWithEmptyTables
