"""What the price readers share: local times to UTC under a DST policy, skipped-row reports,
file opening and duplicate rows.

Each reader turns its file into a frame of :data:`FRAME_COLUMNS` (``code``, ``run``,
``interval_start``, ``interval_end`` in UTC and the per-MWh values).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from markets.services.storage import (
    PRICE_VALUES,
)
from twin.ingest.base import ImportFailed, ImportReport

AMBIGUOUS_POLICIES = ("reject", "earlier", "later")


def localize(naive: datetime, tz: ZoneInfo, *, ambiguous: str = "reject") -> tuple[datetime | None,
                                                                                   str]:
    """A local wall-clock time in ``tz`` as a UTC datetime, saying what was decided.

    Returns ``(utc, "")`` for an ordinary time, ``(None, reason)`` for a time that does not
    exist (skipped by a spring-forward gap) or that is ambiguous (repeated by a fall-back hour)
    under ``ambiguous="reject"``, and ``(utc, note)`` when an ambiguous time was resolved to the
    ``earlier`` or ``later`` of its two instants.
    """
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None, f"local time {naive.isoformat()} does not exist in {tz.key} (DST gap)"
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC), ""
    if ambiguous == "reject":
        return None, (f"local time {naive.isoformat()} is ambiguous in {tz.key} (DST fall-back); "
                      "give a UTC offset or choose --ambiguous earlier|later")
    chosen = first if ambiguous == "earlier" else second
    utc = chosen.astimezone(UTC)
    return utc, f"ambiguous local time {naive.isoformat()} taken as {utc.isoformat()} ({ambiguous})"


def parse_instant(text: str, tz: ZoneInfo, *, ambiguous: str = "reject") -> tuple[datetime | None,
                                                                                 str]:
    """An ISO 8601 time (``Z`` or offset; without one, local time in ``tz``) as UTC.

    Returns ``(utc, note)`` or ``(None, reason)`` like :func:`localize`.
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"unparsable timestamp {value[:40]!r} (expected ISO 8601, e.g. " \
                     "2022-09-01T07:00:00-00:00)"
    if parsed.utcoffset() is None:
        return localize(parsed, tz, ambiguous=ambiguous)
    return parsed.astimezone(UTC), ""


def _row_refs(index: Iterable[int], *, limit: int = 10) -> str:
    """File line numbers (header = line 1) of some data rows, abbreviated."""
    lines = [int(i) + 2 for i in index]
    shown = ", ".join(map(str, lines[:limit]))
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def skip_rows(report: ImportReport, kind: str, index, reason: str) -> None:
    """Record ``len(index)`` skipped rows sharing one reason as one report entry."""
    index = list(index)
    if not index:
        return
    report.skip(kind, _row_refs(index), f"{reason} ({len(index)} row{'s' * (len(index) > 1)})")
    report.counts[kind]["skipped"] += len(index) - 1




FRAME_COLUMNS = ("code", "run", "interval_start", "interval_end", *PRICE_VALUES)


def _open_text(path: Path, label: str):
    """``path`` for pandas: checked to exist; gzip is recognised by its magic bytes."""
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(2)
    if not magic:
        raise ImportFailed(f"{label}: the file is empty; nothing was imported")
    return "gzip" if magic == b"\x1f\x8b" else None


def _parse_times(values: pd.Series, tz: ZoneInfo, *, ambiguous: str, report: ImportReport,
                 label: str) -> tuple[pd.Series, dict[str, str]]:
    """Parse each distinct timestamp string once; returns (UTC series with NaT, problems)."""
    problems: dict[str, str] = {}
    parsed: dict[str, datetime | None] = {}
    for text in pd.unique(values):
        moment, note = parse_instant(str(text), tz, ambiguous=ambiguous)
        parsed[text] = moment
        if moment is None:
            problems[text] = note
        elif note:
            report.warn("price", f"{label} {text}", note)
    return pd.to_datetime(values.map(parsed), utc=True), problems



def _without_duplicates(frame: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """The price frame's columns with one row per node, run and interval (the first; the
    others reported)."""
    key = ["code", "run", "interval_start"]
    dup = frame.duplicated(key, keep="first")
    if dup.any():
        _report_duplicates(frame, key, dup, report)
        frame = frame[~dup]
    return frame[list(FRAME_COLUMNS)]


def _report_duplicates(frame: pd.DataFrame, key: list[str], dup: pd.Series,
                       report: ImportReport) -> None:
    """Report duplicated keys (keeping the first row), and whether their values disagree."""
    firsts = frame[frame.duplicated(key, keep=False) & ~dup]
    merged = frame[dup].merge(firsts, on=key, suffixes=("", "_first"))
    value_cols = [c for c in frame.columns if c not in key and f"{c}_first" in merged]
    differs = np.zeros(len(merged), dtype=bool)
    for c in value_cols:
        a, b = merged[c], merged[f"{c}_first"]
        differs |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
    same_rows = frame.index[dup][~differs] if len(merged) == int(dup.sum()) else frame.index[dup]
    if len(merged) == int(dup.sum()):
        skip_rows(report, "price", frame.index[dup][differs],
                  "duplicate row with different values; kept the first")
        skip_rows(report, "price", same_rows, "duplicate row; kept the first")
    else:
        skip_rows(report, "price", same_rows, "duplicate row; kept the first")


