"""Finding and vetting the raw CSV input before Spark reads it.

Spark silently takes a header-less file's first row as a header, reads a binary file as garbage rows and
turns a missing path into a Java stack trace; these checks turn each of those into one clear message that
names the file and the variable to fix (USER_EVENTS_RAW_CSV). For local files a fast byte scan also counts
records and tells whether any quoted field spans lines: if none does, Spark may split the file across
cores (line mode) and still parse it exactly as the multi-line CSV parser would.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from user_events.config import ConfigError
from user_events.redaction import redact_url
from user_events.schema import RAW_HEADER

RAW_CSV_VAR = "USER_EVENTS_RAW_CSV"
_SCAN_CHUNK = 16 << 20
_BINARY_PROBE = 64 << 10
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")


class InputError(ConfigError):
    """The raw input is missing or unusable; the message says which file and what to change."""


@dataclass(frozen=True)
class InputFile:
    uri: str  # as Spark names it (and as `source` in rejected_events)
    bytes: int
    records: int | None = None  # data records (header excluded), when scanned
    multiline: bool = True  # some quoted field spans lines (or unknown): parse with multiLine


def is_remote(spec: str) -> bool:
    """A URI Spark's Hadoop file system reads (s3a://, hdfs://, ...), not a local path or file: URI."""
    spec = spec.strip()
    return "://" in spec and not spec.startswith("file:")


def _local_uri(path: str) -> str:
    # the form Spark's _metadata.file_path uses for local files
    from pathlib import PurePosixPath
    from urllib.parse import quote

    return "file:" + quote(str(PurePosixPath(os.path.abspath(path))), safe="/")


def list_local(spec: str) -> list[str]:
    p = os.path.expanduser(spec)
    if os.path.isdir(p):
        return sorted(str(f) for f in Path(p).glob("*.csv"))
    if any(ch in p for ch in "*?["):
        return sorted(f for f in glob.glob(p) if os.path.isfile(f))
    return [p] if os.path.isfile(p) else []


def scan_local(path: str) -> InputFile:
    """Vet one local file (exists, not empty, not binary, header first) and scan its records."""
    size = os.path.getsize(path)
    if size == 0:
        raise InputError(f"raw CSV {path} is empty (0 bytes); point {RAW_CSV_VAR} at a CSV with the header and rows")
    with open(path, "rb") as fh:
        head = fh.read(_BINARY_PROBE)
        if b"\x00" in head:
            raise InputError(f"raw CSV {path} looks binary (NUL bytes), not a UTF-8 CSV; check {RAW_CSV_VAR}")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the probe's end is fine
                raise InputError(f"raw CSV {path} is not UTF-8 text (byte {exc.start}); check {RAW_CSV_VAR}") from None
        first = head.split(b"\n", 1)[0].rstrip(b"\r").lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace").strip()
        if first != RAW_HEADER:
            shown = first if len(first) <= 120 else first[:120] + "..."
            raise InputError(
                f"raw CSV {path} does not start with the header line '{RAW_HEADER}' (found '{shown}'); "
                f"add the header or fix {RAW_CSV_VAR}"
            )
        fh.seek(0)
        records, multiline = _count_records(fh)
    if records <= 0:
        raise InputError(f"raw CSV {path} has the header but no data rows; check {RAW_CSV_VAR}")
    return InputFile(_local_uri(path), size, records, multiline)


def _count_records(fh) -> tuple[int, bool]:
    """(data records excluding the header, whether a quoted field holds a line break).

    A record ends at a line break outside quotes; doubled quotes inside a quoted field toggle the
    state twice, so counting quote characters per line is enough. Blank lines are not records.
    """
    records = 0
    in_quotes = False
    multiline = False
    carry = b""
    while True:
        chunk = fh.read(_SCAN_CHUNK)
        if not chunk:
            break
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        body, carry = data[: cut + 1], data[cut + 1 :]
        if b"\r" in body and b"\r" in body.replace(b"\r\n", b""):
            multiline = True  # a bare CR: let the multi-line parser decide what a line is
        n, in_quotes, spans = _count_body(body, in_quotes)
        records += n
        multiline = multiline or spans
    if carry.strip(b"\r\n"):
        records += 1
    return records - 1, multiline  # minus the header


def _count_body(body: bytes, in_quotes: bool) -> tuple[int, bool, bool]:
    """(records ending in `body`, whole lines; the quote state after it; whether a quoted field spans a line).

    Only the lines holding a quote are looked at one by one (a few in a real file): the lines between them
    are counted in bulk, as records when outside a quoted field.
    """
    records, multiline, pos = 0, False, 0
    quote = body.find(b'"')
    while quote >= 0:
        start = body.rfind(b"\n", 0, quote) + 1
        end = body.find(b"\n", quote) + 1  # body ends with a line break
        if not in_quotes:
            records += _plain_records(body[pos:start])
        line = body[start : end - 1]
        if line.count(b'"') % 2:
            in_quotes = not in_quotes
            multiline = multiline or in_quotes
        if not in_quotes and line.strip(b"\r"):
            records += 1
        pos = end
        quote = body.find(b'"', end)
    if not in_quotes:
        records += _plain_records(body[pos:])
    return records, in_quotes, multiline


def _plain_records(lines: bytes) -> int:
    """Records among whole lines without quotes (outside a quoted field): the lines that are not blank."""
    return lines.count(b"\n") - len(_BLANK_LINE.findall(lines)) - (1 if lines[:1] in (b"\n", b"\r") else 0)


def resolve_inputs(spec: str, spark=None) -> list[InputFile]:
    """The input files named by a path, directory, glob or URI (s3a://, file:), vetted.

    Remote files are listed through Spark's Hadoop file system (needs `spark`); their content is vetted
    by reading the first line only, and they are parsed in multi-line mode.
    """
    spec = spec.strip()
    if not is_remote(spec):
        local = spec[len("file:") :] if spec.startswith("file:") else spec
        local = unquote(urlsplit(spec).path) if spec.startswith("file://") else local
        paths = list_local(local)
        if not paths:
            raise InputError(f"no raw CSV found at {spec!r}; set {RAW_CSV_VAR} to an existing file, directory or glob")
        return [scan_local(p) for p in paths]
    if spark is None:
        raise ValueError("listing remote input needs a SparkSession")
    return _resolve_remote(spec, spark)


def _list_remote(spec: str, spark) -> list[tuple[str, int]]:
    """(URI, size) of the files a remote spec names, sorted: a file, or a glob; a directory (or a glob
    matching one) gives the .csv files in it. Listed by Spark's file index (binaryFile, content not read), so
    in process and through Spark Connect alike."""
    try:
        found = spark.read.format("binaryFile").load(spec).select("path", "length").collect()
    except Exception as exc:  # Spark's error (Py4J or Spark Connect); keep its first line only
        if "PATH_NOT_FOUND" in str(exc):
            return []
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot list raw CSV at {redact_url(spec)}: {first[:300]}; check {RAW_CSV_VAR} and the S3 settings"
        ) from None
    named = spec.rstrip("/")
    # a file the spec names itself (or its glob matches) counts whatever its name; one inside a directory
    # only when it is a .csv
    return sorted(
        (r.path, int(r.length)) for r in found if r.path.endswith(".csv") or fnmatch.fnmatchcase(r.path, named)
    )


def _resolve_remote(spec: str, spark) -> list[InputFile]:
    files = _list_remote(spec, spark)
    if not files:
        raise InputError(
            f"no raw CSV found at {redact_url(spec)}; set {RAW_CSV_VAR} to an existing file, directory or glob"
        )
    out = []
    for uri, size in files:
        if size == 0:
            raise InputError(f"raw CSV {redact_url(uri)} is empty (0 bytes); check {RAW_CSV_VAR}")
        first_rows = spark.read.text(uri).limit(1).collect()
        first = first_rows[0][0].lstrip("\ufeff").strip() if first_rows else ""
        if "\x00" in first:
            raise InputError(f"raw CSV {redact_url(uri)} looks binary (NUL bytes); check {RAW_CSV_VAR}")
        if first != RAW_HEADER:
            raise InputError(
                f"raw CSV {redact_url(uri)} does not start with the header line '{RAW_HEADER}'; check {RAW_CSV_VAR}"
            )
        out.append(InputFile(uri, size))
    return out
