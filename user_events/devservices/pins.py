"""The releases the Docker stack pins, read from its files, so the local services run the same ones and each
version is written once: the `apache/kafka` image tag in docker/compose.yaml, the `apache/superset` base image
tag in docker/superset/Dockerfile."""

from __future__ import annotations

import functools
import re

import yaml

from user_events.config import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker" / "compose.yaml"
SUPERSET_DOCKERFILE = PROJECT_ROOT / "docker" / "superset" / "Dockerfile"


@functools.cache
def compose_image_tag(service: str) -> str:
    """The tag of a service's image in docker/compose.yaml (`apache/kafka:4.3.1` -> `4.3.1`)."""
    image = yaml.safe_load(COMPOSE_FILE.read_text())["services"][service]["image"]
    name, _, tag = image.rpartition(":")
    if not name:
        raise ValueError(f"{COMPOSE_FILE}: the {service} image {image!r} pins no tag")
    return tag


@functools.cache
def dockerfile_base_tag(image: str, dockerfile=SUPERSET_DOCKERFILE) -> str:
    """The tag of the `FROM <image>:<tag>` line of a Dockerfile."""
    found = re.findall(rf"^FROM\s+{re.escape(image)}:(\S+)", dockerfile.read_text(), re.M)
    if len(found) != 1:
        raise ValueError(f"{dockerfile}: expected one `FROM {image}:<tag>` line, found {len(found)}")
    return found[0]


def kafka_version() -> str:
    return compose_image_tag("kafka")


def superset_version() -> str:
    return dockerfile_base_tag("apache/superset")
