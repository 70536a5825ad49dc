"""Local Parquet/directory helpers shared by the batch and lake paths: whole directories replaced by renames."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

# Readers (the COPY loads) decode a whole row group at a time: small files keep their memory flat.
MAX_ROWS_PER_FILE = 250_000
# Every Parquet file here is written once and read back by the next step or two. Dictionary encoding costs
# more to write than it saves (files somewhat larger, read back as fast; measured in docs/batch.md).
PARQUET_WRITE_OPTIONS = {"maxRecordsPerFile": str(MAX_ROWS_PER_FILE), "parquet.enable.dictionary": "false"}


def write_parquet(df, path: Path) -> None:
    """Write a DataFrame as Parquet at `path`, replacing what was there only once the write succeeded."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    df.write.mode("overwrite").options(**PARQUET_WRITE_OPTIONS).parquet(str(tmp))
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


def join_line_files(paths: list[Path], name: str) -> list[Path]:
    """The line-oriented files in `paths` appended into one file `name` per directory (in `paths`' order, each
    part ending with a line break, so no line runs into the next file's first), the parts deleted.

    Spark splits one big file across its cores by itself, while each small file costs it an open and a
    task slot: an hour's objects read faster as one file (docs/lake.md).
    """
    by_dir: dict[Path, list[Path]] = {}
    for p in paths:
        by_dir.setdefault(p.parent, []).append(p)
    joined = []
    for directory, parts in by_dir.items():
        target = directory / name
        with target.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                    if src.tell() and not _ends_with_newline(part):
                        out.write(b"\n")
                part.unlink()
        joined.append(target)
    return joined


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"
