"""Pure test: the import graph of user_events/ follows the floor plan of docs/architecture.md.

Rooms: foundations (every top-level module and package that is not named below), the domains, the top
(the compositions and the console entry) and dev tooling. Imports are read with `ast` (those inside
functions too); nothing is imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from user_events.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

PACKAGE = PROJECT_ROOT / "user_events"
DOMAINS = ("ingest", "warehouse", "streaming", "lake", "dashboards", "operations")
TOP = ("definitions", "batch", "batch_cli", "cli")  # compositions of domains and the console entry
DEV_TOOLING = ("devservices",)
# a domain's modules that no other domain may import: what Dagster or a shell runs, not what others reuse
PRIVATE_TO_DOMAIN = ("assets", "sensors", "cli", "definitions", "checks")
ARCHITECTURE_DOC = PROJECT_ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """The user_events modules a file imports (absolute or relative, at any depth of the file)."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if is_module(sub) else base)
    return {m for m in out if m == "user_events" or m.startswith("user_events.")}


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "foundations"
    if parts[1] in DOMAINS or parts[1] in DEV_TOOLING:
        return parts[1]
    if parts[1] in TOP:
        return "top"
    return "foundations"


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


GRAPH = import_graph()


def test_the_graph_is_read():
    # the reader sees relative imports, imports inside functions and `from package import module`
    assert "user_events.devservices.core" in GRAPH["user_events.devservices.postgres"]
    assert "user_events.ingest.transforms" in GRAPH["user_events.lake.assets"]
    assert "user_events.batch" in GRAPH["user_events.batch_cli"]  # imported inside a function
    assert {"user_events.ingest", "user_events.warehouse"} <= {m.rpartition(".")[0] for m in GRAPH["user_events.batch"]}


def edges() -> set[tuple[str, str]]:
    """Every (importing module, imported module) pair."""
    return {(module, imported) for module, imported_set in GRAPH.items() for imported in imported_set}


def test_foundations_import_no_domain_top_or_dev_tooling():
    bad = {(m, i) for m, i in edges() if room_of(m) == "foundations" and room_of(i) != "foundations"}
    assert bad == set()


def test_a_domain_never_imports_another_domains_private_modules():
    bad = {
        (m, i)
        for m, i in edges()
        if room_of(m) in DOMAINS
        and room_of(i) in DOMAINS
        and room_of(i) != room_of(m)
        and i.split(".")[-1] in PRIVATE_TO_DOMAIN
    }
    assert bad == set()


def test_domains_import_nothing_above_them():
    bad = {(m, i) for m, i in edges() if room_of(m) in DOMAINS and room_of(i) in ("top", *DEV_TOOLING)}
    assert bad == set()


def test_only_dev_tooling_imports_dev_tooling():
    bad = {(m, i) for m, i in edges() if room_of(i) in DEV_TOOLING and room_of(m) not in DEV_TOOLING}
    assert bad == set()


def test_definitions_is_the_only_top_module_importing_every_domain():
    def domains_imported(module: str) -> set[str]:
        return {room_of(m) for m in GRAPH[module]} & set(DOMAINS)

    assert [m for m in GRAPH if domains_imported(m) == set(DOMAINS)] == ["user_events.definitions"]


def room_edges() -> set[tuple[str, str]]:
    return {(room_of(m), room_of(i)) for m, i in edges() if room_of(m) != room_of(i)}


def documented_edges() -> set[tuple[str, str]]:
    """`a --> b` lines of the mermaid diagram in docs/architecture.md."""
    text = ARCHITECTURE_DOC.read_text()
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return {(a, b) for a, b in re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, re.M)}


def test_the_architecture_diagram_is_the_import_graph():
    assert documented_edges() == room_edges()
