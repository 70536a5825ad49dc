"""The raw-input vetting: globs, directories, multi-line records, encoding errors, record counts."""

from __future__ import annotations

import csv
import io

import pytest

from user_events.ingest.inputs import InputError, resolve_inputs
from user_events.schema import RAW_HEADER

pytestmark = pytest.mark.unit


def test_inputs_glob_directory_and_errors(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(RAW_HEADER + "\n2019-11-01 00:00:00 UTC,view,1,2,,b,5.00,3,s\n")
    assert [f.uri.rsplit("/", 1)[1] for f in resolve_inputs(str(tmp_path / "*.csv"))] == ["a.csv", "b.csv"]
    assert len(resolve_inputs(str(tmp_path))) == 2
    assert resolve_inputs(str(tmp_path / "a.csv"))[0].uri == f"file:{tmp_path}/a.csv"
    quoted = tmp_path / "q" / "quoted.csv"
    quoted.parent.mkdir()
    quoted.write_text(RAW_HEADER + '\n2019-11-01 00:00:00 UTC,view,1,2,,"a\nb",5.00,3,s\n\n')
    f = resolve_inputs(str(quoted))[0]
    assert f.multiline and f.records == 1
    with pytest.raises(InputError, match="USER_EVENTS_RAW_CSV"):
        resolve_inputs(str(tmp_path / "nope*.csv"))
    (tmp_path / "latin1.csv").write_bytes(RAW_HEADER.encode() + b"\n\xe9\xe9\xe9,view\n")
    with pytest.raises(InputError, match="not UTF-8"):
        resolve_inputs(str(tmp_path / "latin1.csv"))


@pytest.mark.parametrize("chunk", [7, 64, 16 << 20])
def test_record_count_matches_the_csv_module(tmp_path, monkeypatch, chunk):
    """Records and multi-line detection of the input scan, against Python's csv reader over the same bytes:
    quoted separators, doubled quotes, line breaks inside quotes, blank lines, CRLF, chunk boundaries."""
    from user_events.ingest import inputs

    row = "2019-11-01 00:00:00 UTC,view,1,2,,{},5.00,3,s"
    lines = [RAW_HEADER] + [row.format(b) for b in ("plain", '"with, comma"', '"say ""hi"""', "b")] * 5
    cases = {
        "no quotes": ("\n".join(row.format("b") for _ in range(20)), False),
        "quotes on one line": ("\n".join(lines[1:]), False),
        "quoted line break": (
            "\n".join(lines[1:6] + [row.format('"two\nlines"'), row.format('"a\n\nb"')] + lines[6:]),
            True,
        ),
        "blank and CRLF lines": ("\r\n".join(lines[1:4] + [""] + lines[4:]) + "\r\n\r\n", False),
    }
    monkeypatch.setattr(inputs, "_SCAN_CHUNK", chunk)
    for name, (body, spans) in cases.items():
        text = RAW_HEADER + "\n" + body + "\n"
        path = tmp_path / "in.csv"
        path.write_bytes(text.encode())
        expected = sum(1 for r in csv.reader(io.StringIO(text, newline="")) if r) - 1
        with path.open("rb") as fh:
            assert inputs._count_records(fh) == (expected, spans), name
