"""Local Parquet/directory helpers shared by the batch and lake paths: whole directories replaced by renames."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

# Readers (the COPY loads) decode a whole row group at a time: small files keep their memory flat.
MAX_ROWS_PER_FILE = 250_000


def write_parquet(df, path: Path) -> None:
    """Write a DataFrame as Parquet at `path`, replacing what was there only once the write succeeded."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    df.write.mode("overwrite").option("maxRecordsPerFile", MAX_ROWS_PER_FILE).parquet(str(tmp))
    replace_dir(tmp, path)


def replace_dir(new: Path, target: Path) -> None:
    """Put directory `new` at `target` by renames, dropping the old `target`; a missing `new` just removes it."""
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(old)
    if new.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
