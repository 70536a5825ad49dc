"""gunicorn settings of the local Superset (`make services-up`): Superset is imported once, then forked.

A chart data request is CPU-bound Python (~0.1 s on an idle core, several times that on a loaded machine) and a
dashboard sends one per chart at once: one process (one GIL) serialises them, so the KPI dashboard's twelve
queries queued behind each other. Several worker processes answer them in parallel. `preload_app` imports
Superset in the master before forking, so N workers start as fast as one and share the imported code's
memory pages; each worker then drops the metadata database connections it inherited (SQLite connections
must not cross a fork).
"""

import os

workers = int(os.environ.get("USER_EVENTS_SUPERSET_WORKERS", "3"))
threads = int(os.environ.get("USER_EVENTS_SUPERSET_THREADS", "4"))
worker_class = "gthread"
timeout = 120
preload_app = True
accesslog = "-"
control_socket_disable = True  # its default path is shared by every gunicorn of this user (other checkouts)


def post_fork(server, worker):
    from superset.extensions import db

    with server.app.callable.app_context():
        db.engine.dispose()
