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
    text = path.read_text()
    lines = text.splitlines()
    if lines and not text.endswith("\n"):  # a write cut short by a kill: that job reruns
        lines.pop()
    return {key(r): r for r in map(json.loads, lines)}


def append_records(path: Path, records: Iterable[dict]) -> None:
    """Append a finished job's records in one write; first drop what a kill may have left
    of an earlier write (a last line without its newline), so no line is ever joined."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    with open(path, "a+b") as fh:
        size = fh.seek(0, 2)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                fh.seek(0)
                fh.truncate(fh.read().rfind(b"\n") + 1)
        fh.write(text.encode())


def write_report(out: Path, md: str, command: str, records: list[dict]) -> None:
    """``summary.md`` and ``results.json`` (the command and every record) in ``out``."""
    (out / "summary.md").write_text(md)
    (out / "results.json").write_text(json.dumps({"command": command, "records": records},
                                                 indent=1) + "\n")  # fmt: skip
    print(md)
