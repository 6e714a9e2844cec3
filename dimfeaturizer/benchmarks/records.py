"""Resumable benchmark records: one JSON line per measurement in ``records.jsonl``, and
the report (``summary.md`` + ``results.json``) written beside them."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from pathlib import Path


def read_records(path: Path, key: Callable[[dict], Hashable]) -> dict:
    """The records of ``path`` by ``key`` (a rerun's record replaces an earlier one)."""
    if not path.exists():
        return {}
    return {key(r): r for r in map(json.loads, path.read_text().splitlines())}


def append_record(path: Path, record: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def write_report(out: Path, md: str, command: str, records: list[dict]) -> None:
    """``summary.md`` and ``results.json`` (the command and every record) in ``out``."""
    (out / "summary.md").write_text(md)
    (out / "results.json").write_text(json.dumps({"command": command, "records": records},
                                                 indent=1) + "\n")  # fmt: skip
    print(md)
