"""Resumable benchmark records: one JSON line per measurement in ``records.jsonl``, and
the report (``summary.md`` + ``results.json``) written beside them."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path


def read_records(path: Path, key: Callable[[dict], Hashable]) -> dict:
    """The records of ``path`` by ``key`` (a rerun's record replaces an earlier one)."""
    if not path.exists():
        return {}
    return {key(r): r for r in map(json.loads, path.read_text().splitlines())}


def append_records(path: Path, records: Iterable[dict]) -> None:
    """Append a finished job's records in one write, so a kill never leaves half a job."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    with open(path, "a") as fh:
        fh.write(text)


def write_report(out: Path, md: str, command: str, records: list[dict]) -> None:
    """``summary.md`` and ``results.json`` (the command and every record) in ``out``."""
    (out / "summary.md").write_text(md)
    (out / "results.json").write_text(json.dumps({"command": command, "records": records},
                                                 indent=1) + "\n")  # fmt: skip
    print(md)
