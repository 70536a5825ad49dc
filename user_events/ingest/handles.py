"""What the ingest assets hand on (through DataHandleIOManager): small descriptions of the Parquet they
wrote, read by the warehouse assets and the checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from user_events.ingest.inputs import InputFile


@dataclass(frozen=True)
class RawInput:
    spec: str  # redacted USER_EVENTS_RAW_CSV (or the sample path)
    files: tuple[InputFile, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(f.uri for f in self.files)


@dataclass(frozen=True)
class TypedEvents:
    path: str
    rejected_path: str
    hours: tuple[datetime, ...]  # UTC hours present in the accepted events
    sources: tuple[str, ...]  # every input file (rejected rows are replaced per source)
    rows_in: int
    rows_out: int
    rejected: int
    duplicates: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BrandDetailsData:
    path: str
    rows: int
