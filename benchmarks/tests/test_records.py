"""Resumable benchmark records: what a kill can leave behind."""

from __future__ import annotations

from benchmarks.records import append_records, read_records


def test_a_job_cut_short_is_read_as_not_done(tmp_path):
    path = tmp_path / "records.jsonl"
    append_records(path, [{"job": 1, "mae": 0.1}, {"job": 2, "mae": 0.2}])
    append_records(path, [{"job": 3, "mae": 0.3}])
    assert set(read_records(path, lambda r: r["job"])) == {1, 2, 3}
    path.write_text(path.read_text() + '{"job": 4, "ma')  # killed mid-write
    assert set(read_records(path, lambda r: r["job"])) == {1, 2, 3}
    append_records(path, [{"job": 4, "mae": 0.4}, {"job": 1, "mae": 0.5}])  # the rerun
    records = read_records(path, lambda r: r["job"])
    assert {k: r["mae"] for k, r in records.items()} == {1: 0.5, 2: 0.2, 3: 0.3, 4: 0.4}
    assert path.read_text().count("\n") == 5  # the cut line is gone, not joined
