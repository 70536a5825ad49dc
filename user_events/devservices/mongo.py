"""A MongoDB-wire-compatible server: SecantusDB (PyPI, WiredTiger storage) in its own virtualenv.

Why not FerretDB v1.24.2 (the first choice): see docs/services.md — with its SQLite backend an upsert
slows to ~15/s at 17k documents, a $group with two $sum accumulators silently returns 0 for the second,
and $avg/$min/$max/$first/$push are not implemented. SecantusDB passed every operation the sinks and
tests use (bulk upserts, unique compound indexes, sort/limit, $group with several accumulators).

The server runs from .data/services/mongo/venv (its dependencies never touch the project's .venv).
"""

from __future__ import annotations

import os
import uuid

from user_events.config import settings

from .base import Service
from .core import LOOPBACK, ServiceError

HEALTH_DB = "_user_events_health"


class Mongo(Service):
    name = "mongo"
    health_timeout = 60.0

    def __init__(self, state):
        super().__init__(state)
        self.venv = self.dir / "venv"

    def install(self) -> None:
        self.install_venv(self.venv, [settings().secantus_requirement], "secantusd-py", prerelease=True)

    def start(self) -> None:
        port = self.port(env_var="USER_EVENTS_MONGO_PORT")
        self.data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.venv / "bin" / "python"),
            str(self.venv / "bin" / "secantusd-py"),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--storage-path",
            str(self.data),
            "--cache-size",
            settings().mongo_cache,
            "--log-level",
            "WARNING",
        ]
        self.process.start(argv, self.log, cwd=self.dir, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def uri(self) -> str:
        return f"mongodb://{LOOPBACK}:{self.port()}/"

    def check(self) -> None:
        from pymongo import MongoClient

        with MongoClient(self.uri(), serverSelectionTimeoutMS=3000, connectTimeoutMS=3000) as client:
            client.admin.command("ping")
            col = client[HEALTH_DB]["ping"]
            token = uuid.uuid4().hex
            col.insert_one({"_id": token})
            found = col.find_one({"_id": token})
            col.delete_one({"_id": token})
        if not found:
            raise ServiceError("mongo: inserted a document but could not read it back")

    def env(self) -> dict[str, str]:
        return {"USER_EVENTS_MONGO_URI": self.uri(), "USER_EVENTS_MONGO_DB": "user_events"}
