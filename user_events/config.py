"""Environment configuration: the contract's variables, their defaults, and safe display of secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("USER_EVENTS_DATA_DIR", PROJECT_ROOT / ".data"))

DEFAULTS: dict[str, str] = {
    "USER_EVENTS_PG_SCHEMA": "public",
    "USER_EVENTS_SPARK_MASTER": "local[*]",
    "USER_EVENTS_KAFKA_BOOTSTRAP": "localhost:9092",
    "USER_EVENTS_TOPIC": "user_activity",
    "USER_EVENTS_MONGO_URI": "mongodb://localhost:27017",
    "USER_EVENTS_MONGO_DB": "user_events",
    "USER_EVENTS_S3_BUCKET": "ecom-user-events",
}


class ConfigError(RuntimeError):
    """A configuration problem a user fixes by changing an environment variable or an input."""


def env(name: str, default: str | None = None) -> str | None:
    """The variable's value, its contract default, or `default`; an empty string counts as unset."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return DEFAULTS.get(name, default)
    return value


def load_env_file(path: str | os.PathLike = PROJECT_ROOT / ".env.services", override: bool = False) -> dict[str, str]:
    """Read KEY=value lines (as written by `make services-up`) into os.environ; returns what was read."""
    values: dict[str, str] = {}
    p = Path(path)
    if not p.exists():
        return values
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return values


_SECRET_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@", re.I)


def redact_url(url: str | None) -> str:
    """A URL safe to log: the password (if any) replaced by ***."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))
    except ValueError:
        return redact_text(url)


def redact_text(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """Text safe to log: passwords inside URLs and any of the given secret values removed."""
    out = _SECRET_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    for extra in secrets + (os.environ.get("AWS_SECRET_ACCESS_KEY"),):
        if extra and len(extra) >= 4:
            out = out.replace(extra, "***")
    return out
