"""Superset's configuration, for the local service (`make services-up`) and the Docker image alike.

Loaded by Superset through SUPERSET_CONFIG_PATH inside Superset's own virtualenv: it imports no user_events
package, only reads the reader role's name from `user_events/warehouse/access.py`. It holds no secret: the SECRET_KEY, the metadata database and the warehouse reader's password
come from the Superset process's environment, never from a file of the repository or Superset's metadata.
"""

import importlib.util
import os
import sys
from pathlib import Path

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_URI"]


def reader_role() -> str:
    """READER_ROLE of user_events/warehouse/access.py, its one home, loaded as a file: it is above this file
    in the repository and in the image (docker/superset/Dockerfile copies it beside the server files)."""
    here = Path(__file__).resolve()
    for root in here.parents:
        path = root / "user_events" / "warehouse" / "access.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("user_events_warehouse_access", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.READER_ROLE
    raise RuntimeError(f"no user_events/warehouse/access.py above {here}")


READER_USER = reader_role()


def password_from_environment(url):
    """The database connections' passwords: the warehouse reader's from the environment, nothing stored.

    Superset asks this for every connection, so the imported database definitions carry URIs without a
    password and the password never enters Superset's metadata database or its `logs` table.
    """
    if url.username == READER_USER:
        return os.environ.get("USER_EVENTS_SUPERSET_READER_PASSWORD")
    return None


SQLALCHEMY_CUSTOM_PASSWORD_STORE = password_from_environment

# Anonymous viewers see nothing unless USER_EVENTS_SUPERSET_PUBLIC=true opens read-only public dashboards.
if os.environ.get("USER_EVENTS_SUPERSET_PUBLIC", "").lower() in ("1", "true", "yes"):
    PUBLIC_ROLE_LIKE = "Gamma"

# Loopback / behind a proxy of the operator's: no forced HTTPS, no examples, no telemetry.
TALISMAN_ENABLED = False
SUPERSET_LOAD_EXAMPLES = False
SQLALCHEMY_EXAMPLES_URI = None
SCARF_ANALYTICS = False
# Template processing: the live datasets put their chart's time window into the query sent to MongoDB
# ({{ from_dttm }} in datasets/live/*.yaml), so only that window's per-minute documents are fetched.
FEATURE_FLAGS = {"DASHBOARD_NATIVE_FILTERS": True, "ENABLE_TEMPLATE_PROCESSING": True}
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Chart results of the warehouse, kept in files shared by the gunicorn workers: a repeated open of the KPI
# dashboard skips its SQL (the funnel's count over `user_events` most of all). The key of a cached result
# includes its dataset's `changed_on`, which every provisioning (the `superset_dashboards` asset) moves, so
# materialising the dashboards after a load shows the new rows at once; without that, at most
# USER_EVENTS_SUPERSET_CACHE_SECONDS late (0: no cache). The live database's cache_timeout of -1
# (databases/live.yaml) keeps the live charts uncached: each refresh shows the newest minute.
_CACHE_DIR = os.environ.get("SUPERSET_DATA_CACHE_DIR")
_CACHE_SECONDS = int(os.environ.get("USER_EVENTS_SUPERSET_CACHE_SECONDS") or 300)
if _CACHE_DIR and _CACHE_SECONDS > 0:
    DATA_CACHE_CONFIG = {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": _CACHE_DIR,
        "CACHE_DEFAULT_TIMEOUT": _CACHE_SECONDS,
        "CACHE_THRESHOLD": 2000,
        "CACHE_KEY_PREFIX": "user_events_data_",
    }
else:
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# The MongoDB engine answers an empty result with an empty table, not "no such table" (see mongo_engine.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import mongo_engine
except ImportError:  # pymongosql missing: no MongoDB connection can work, nothing to adjust
    pass
else:
    mongo_engine.install()
