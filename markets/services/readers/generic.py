"""The generic long price CSV (``node_id, interval_start, interval_end, run, lmp`` and optional
components) → price frames."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from markets.models import Market, MarketRun
from markets.services.readers.common import (
    _open_text,
    _parse_times,
    _without_duplicates,
    skip_rows,
)
from twin.ingest.base import ImportReport
from twin.ingest.sources import read_table

RUNS = frozenset(MarketRun.values)
GENERIC_COLUMNS = ("node_id", "interval_start", "interval_end", "run", "lmp")
GENERIC_OPTIONAL = {"energy": "energy_per_mwh", "congestion": "congestion_per_mwh",
                    "loss": "loss_per_mwh", "ghg": "ghg_per_mwh"}


def read_generic(path: Path, market: Market, report: ImportReport, *,
                 ambiguous: str) -> pd.DataFrame:
    """The generic long CSV → price frame (see README "Prices and carbon")."""
    compression = _open_text(path, path.name)
    if compression:
        import gzip

        with gzip.open(path, "rb") as handle:
            frame = read_table(handle, label=path.name, required=GENERIC_COLUMNS)
    else:
        frame = read_table(path, label=path.name, required=GENERIC_COLUMNS)
    report.extra["file_rows"] = len(frame)
    tz = ZoneInfo(market.time_zone)
    starts, bad_start = _parse_times(frame["interval_start"], tz, ambiguous=ambiguous,
                                     report=report, label="interval_start")
    ends, bad_end = _parse_times(frame["interval_end"], tz, ambiguous=ambiguous, report=report,
                                 label="interval_end")
    ok = pd.Series(True, index=frame.index)
    for problems, column in ((bad_start, "interval_start"), (bad_end, "interval_end")):
        for text, reason in problems.items():
            hit = frame[column] == text
            skip_rows(report, "price", frame.index[hit & ok], f"{column}: {reason}")
            ok &= ~hit
    runs = frame["run"].str.strip().str.lower()
    out = pd.DataFrame({"code": frame["node_id"].str.strip(), "run": runs,
                        "interval_start": starts, "interval_end": ends})
    numbers = {"lmp_per_mwh": frame["lmp"]} | {
        name: frame[column] if column in frame else pd.Series("", index=frame.index)
        for column, name in GENERIC_OPTIONAL.items()}
    for name, column in numbers.items():
        text = column.str.strip()
        value = pd.to_numeric(text, errors="coerce")
        bad = (value.isna() & (text != "")) | ~np.isfinite(value.fillna(0))
        if name == "lmp_per_mwh":
            bad |= text == ""
        rows = frame.index[bad & ok]
        skip_rows(report, "price", rows, f"{name.removesuffix('_per_mwh')}: not a number")
        ok &= ~bad
        out[name] = value
    for bad, reason in ((out["code"] == "", "empty node_id"),
                        (~runs.isin(list(RUNS)), f"run must be one of {', '.join(sorted(RUNS))}"),
                        (ends <= starts, "interval_end is not after interval_start")):
        skip_rows(report, "price", frame.index[bad & ok], reason)
        ok &= ~bad
    out = out[ok]
    return _without_duplicates(out, report)


