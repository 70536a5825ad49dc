"""Secrets kept out of logs: passwords inside URLs, the AWS secret and any secret value a caller names."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from user_events.config import ConfigError, settings

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


def _aws_secret() -> str | None:
    try:
        secret = settings().aws_secret_access_key
    except ConfigError:  # redaction runs in error paths: another variable's bad value must not hide the secret
        secret = SecretStr(os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    return secret.get_secret_value() if secret else None


def redact_text(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """Text safe to log: passwords inside URLs and any of the given secret values removed."""
    out = _SECRET_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    for extra in secrets + (_aws_secret(),):
        if extra and len(extra) >= 4:
            out = out.replace(extra, "***")
    return out
