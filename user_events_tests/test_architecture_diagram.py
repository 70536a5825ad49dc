"""Pure test: the mermaid graph of docs/architecture.md is the import graph of user_events/, room to room.

The rules themselves are import-linter contracts in pyproject.toml (`lint-imports`, run by `make lint`); what
they cannot say is whether the diagram shows exactly the arrows the code has. The graph is grimp's (the one
import-linter reads): relative imports and imports inside functions included.
"""

from __future__ import annotations

import functools
import re

import grimp
import pytest

from user_events.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

DOMAINS = ("ingest", "warehouse", "streaming", "lake", "dashboards", "operations")
TOP = ("definitions", "batch", "batch_cli", "cli")  # compositions of domains and the console entry
DEV_TOOLING = ("devservices",)
ARCHITECTURE_DOC = PROJECT_ROOT / "docs" / "architecture.md"


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in DOMAINS + DEV_TOOLING:
        return parts[1]
    if len(parts) > 1 and parts[1] in TOP:
        return "top"
    return "foundations"


@functools.cache
def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph("user_events", cache_dir=None)


def room_edges() -> set[tuple[str, str]]:
    """(room a, room b) for every module of room a that imports a module of another room b."""
    graph = import_graph()
    return {
        (room_of(module), room_of(imported))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if room_of(module) != room_of(imported)
    }


def documented_edges() -> set[tuple[str, str]]:
    """`a --> b` lines of the mermaid diagram in docs/architecture.md."""
    diagram = ARCHITECTURE_DOC.read_text().split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, re.M))


def test_the_graph_is_read():
    # grimp sees an import inside a function (batch_cli imports batch there) and relative imports
    graph = import_graph()
    assert "user_events.batch" in graph.find_modules_directly_imported_by("user_events.batch_cli")
    assert "user_events.devservices.core" in graph.find_modules_directly_imported_by("user_events.devservices.base")
    assert ("top", "ingest") in room_edges()


def test_the_architecture_diagram_is_the_import_graph():
    assert documented_edges() == room_edges()
