"""gunicorn settings of the local Superset (`make services-up`): Superset is imported once, then forked.

A chart data request is CPU-bound Python (~0.1 s on an idle core, several times that on a loaded machine) and a
dashboard sends one per chart at once: one process (one GIL) serialises them, so the KPI dashboard's twelve
queries queued behind each other. Several worker processes answer them in parallel. `preload_app` imports
Superset in the master before forking, so N workers start as fast as one and share the imported code's
memory pages; each worker then drops the metadata database connections it inherited (SQLite connections
must not cross a fork).

Stopping: SIGTERM lets the workers finish their requests (at most `graceful_timeout`), then each process
ends with `os._exit` once gunicorn has done its own shutdown. Python's normal exit was the slow part: it
tears down the whole preloaded Superset heap, which in a forked worker first copies every shared page back
(copy-on-write), 8-12 s per process with three at once on a loaded machine (py-spy: the main thread busy with
no Python frame left), so a stop sometimes outlasted the 30 s after which `make services-down` SIGKILLs.
Nothing is lost by skipping it: requests have committed their metadata writes, and the log is flushed first.
"""

import os
import sys

workers = int(os.environ.get("USER_EVENTS_SUPERSET_WORKERS", "3"))
threads = int(os.environ.get("USER_EVENTS_SUPERSET_THREADS", "4"))
worker_class = "gthread"
timeout = 120
graceful_timeout = 20  # in-flight requests' time to finish on SIGTERM; the service waits longer (devservices)
preload_app = True
accesslog = "-"
control_socket_disable = True  # its default path is shared by every gunicorn of this user (other checkouts)


def post_fork(server, worker):
    from superset.extensions import db

    with server.app.callable.app_context():
        db.engine.dispose()


def _exit_now(status: int) -> None:
    """End the process at once (see the module's docstring), its output flushed first."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def worker_exit(server, worker):
    # runs in the worker while its SystemExit (with gunicorn's exit status, e.g. 3 for a failed boot) unwinds
    exc = sys.exc_info()[1]
    _exit_now(exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 0)


def on_exit(server):
    # the master, after every worker has exited; inside `except HaltServer` when gunicorn halts on an error
    exc = sys.exc_info()[1]
    _exit_now(getattr(exc, "exit_status", 0))
