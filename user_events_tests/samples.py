"""The real-shaped sample the tests read: which file, and the generated stand-in when the shared one is absent.

In order: the file USER_EVENTS_TEST_SAMPLE names; the shared REES46 sample beside the clone
(`../shared/data/`, real rows, not ours to copy into the repository); otherwise a sample of the same shape
from the project's generator (one seeded file: 9,999 clean rows of 2019-11-01 00:00-00:57 UTC, the nine raw
columns with the ` UTC` suffix, cached under .data/). The tests compute their expected values from whichever
file it is (reference.py), so each source tests as much as the others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from user_events.config import PROJECT_ROOT, settings

SAMPLE_VAR = "USER_EVENTS_TEST_SAMPLE"
SHARED_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "rees46_2019-11-01_sample.csv"
# the shared sample's size and span, so the stand-in exercises the same hours and volumes
SAMPLE_ROWS = 9_999
SAMPLE_SPAN = timedelta(minutes=57)


@dataclass(frozen=True)
class Sample:
    path: Path
    origin: str
    generated: bool = False


class SampleError(RuntimeError):
    pass


def generated_sample_path() -> Path:
    return settings().data_dir / "test-sample" / f"rees46_shaped_{SAMPLE_ROWS}.csv"


def choose_sample(environ: Mapping[str, str] = os.environ, shared: Path = SHARED_SAMPLE) -> Sample:
    named = environ.get(SAMPLE_VAR, "").strip()
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            raise SampleError(f"{SAMPLE_VAR}={named}: no such file")
        return Sample(path, f"{SAMPLE_VAR}")
    if shared.is_file():
        return Sample(shared, "shared REES46 sample")
    return Sample(generated_sample_path(), "generated REES46-shaped sample", generated=True)


def ensure_generated(path: Path) -> Path:
    """Write the generated stand-in once (the generator writes to a temporary name, then renames)."""
    if not path.exists():
        from user_events.generator import write_csv

        write_csv(path, rows=SAMPLE_ROWS, duration=SAMPLE_SPAN, duplicate_rate=0.0, invalid_rate=0.0)
    return path


def sample_file(sample: Sample) -> Path:
    return ensure_generated(sample.path) if sample.generated else sample.path
