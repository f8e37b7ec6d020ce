"""CAISO OASIS LMP files (CSV, plain or gzip) → price frames."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from markets.models import Market, MarketRun
from markets.services.readers.common import (
    FRAME_COLUMNS,
    _open_text,
    parse_instant,
    skip_rows,
)
from markets.services.storage import (
    PRICE_VALUES,
)
from twin.ingest.base import ImportFailed, ImportReport

CAISO_RUNS = {"RTPD": MarketRun.REAL_TIME, "RTM": MarketRun.REAL_TIME,
              "HASP": MarketRun.REAL_TIME, "RTD": MarketRun.REAL_TIME,
              "DAM": MarketRun.DAY_AHEAD}
CAISO_COMPONENTS = {"LMP": "lmp_per_mwh", "MCE": "energy_per_mwh", "MCC": "congestion_per_mwh",
                    "MCL": "loss_per_mwh", "MGHG": "ghg_per_mwh"}
CAISO_COLUMNS = ("INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE_ID", "MARKET_RUN_ID",
                 "LMP_TYPE")


def read_caiso(path: Path, market: Market, report: ImportReport, *, ambiguous: str) -> pd.DataFrame:
    """CAISO OASIS LMP CSV (plain or gzip) → price frame, one row per node, run and interval.

    One row per node, interval and ``LMP_TYPE`` (LMP, MCE, MCC, MCL, MGHG; value in ``PRC``,
    or ``MW`` in older reports) is pivoted to one price with its components. ``MARKET_RUN_ID``
    RTPD/RTM/HASP/RTD gives real-time, DAM day-ahead. Times are the ``*_GMT`` columns. Every
    distinct string is parsed once (the columns are read as categories), and the pivot is a
    numpy scatter, so a file of a million rows reads in about the time pandas needs to parse it.
    """
    compression = _open_text(path, path.name)
    try:
        header = pd.read_csv(path, compression=compression, nrows=0).columns
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise ImportFailed(f"{path.name}: could not read the CSV ({exc}); nothing was imported"
                           ) from exc
    value_column = "PRC" if "PRC" in header else "MW"
    missing = [c for c in (*CAISO_COLUMNS, value_column) if c not in header]
    if missing:
        raise ImportFailed(f"{path.name}: missing required column(s): {', '.join(missing)} "
                           f"(not a CAISO OASIS LMP file?); found: {', '.join(header[:20])}")
    frame = None
    for value_type in ("float64", str):  # str only when some value is not a number
        try:
            frame = pd.read_csv(path, compression=compression,
                                usecols=[*CAISO_COLUMNS, value_column],
                                dtype={c: "category" for c in CAISO_COLUMNS}
                                | {value_column: value_type})
            break
        except ValueError as exc:
            if value_type is str or "could not convert" not in str(exc):
                raise ImportFailed(f"{path.name}: could not parse the CSV ({exc}); nothing was "
                                   "imported") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise ImportFailed(f"{path.name}: could not parse the CSV ({exc}); nothing was "
                               "imported") from exc
    report.extra["file_rows"] = len(frame)
    values = pd.to_numeric(frame[value_column], errors="coerce").to_numpy(dtype="float64")
    tz = ZoneInfo(market.time_zone)
    index = np.arange(len(frame))
    ok = np.ones(len(frame), dtype=bool)

    def codes_of(column: str, decode) -> tuple[np.ndarray, list]:
        """Category codes of ``column`` and the decoded categories (None = bad, skipped)."""
        series = frame[column]
        decoded, problems = [], {}
        for text in series.cat.categories:
            value, reason = decode(str(text))
            decoded.append(value)
            if value is None:
                problems[len(decoded) - 1] = reason
        codes = series.cat.codes.to_numpy()
        for code, reason in problems.items():
            hit = ok & (codes == code)
            skip_rows(report, "price", index[hit], f"{column}: {reason}")
            ok[hit] = False
        empty = ok & (codes < 0)
        skip_rows(report, "price", index[empty], f"{column}: empty")
        ok[empty] = False
        return codes, decoded

    def instant(label):
        def decode(text):
            moment, note = parse_instant(text, tz, ambiguous=ambiguous)
            if moment is not None and note:
                report.warn("price", f"{label} {text}", note)
            return moment, note
        return decode

    def lookup(table, what):
        return lambda text: ((table[text], "") if text in table
                             else (None, f"unknown {what} {text!r} (known: {', '.join(table)})"))

    start_codes, starts = codes_of("INTERVALSTARTTIME_GMT", instant("start"))
    end_codes, ends = codes_of("INTERVALENDTIME_GMT", instant("end"))
    run_codes, runs = codes_of("MARKET_RUN_ID", lookup(CAISO_RUNS, "MARKET_RUN_ID"))
    kind_codes, kinds = codes_of("LMP_TYPE", lookup(CAISO_COMPONENTS, "LMP_TYPE"))
    node_codes, nodes = codes_of("NODE_ID", lambda text: (text.strip() or None, "empty"))
    bad = ok & ~np.isfinite(values)
    skip_rows(report, "price", index[bad], f"{value_column} is not a number")
    ok &= ~bad
    start_ns = np.array([s.timestamp() if s else 0 for s in starts] or [0])[start_codes]
    end_ns = np.array([e.timestamp() if e else 0 for e in ends] or [0])[end_codes]
    bad = ok & (end_ns <= start_ns)
    skip_rows(report, "price", index[bad], "interval end is not after its start")
    ok &= ~bad
    # One integer key per node, run and interval start; then one per component of it.
    n_start, n_run = max(len(starts), 1), max(len(runs), 1)
    key = (node_codes.astype("int64") * n_start + start_codes) * n_run + run_codes
    component = np.array([PRICE_VALUES.index(k) if k else 0 for k in kinds] or [0])[kind_codes]
    cell = key * len(PRICE_VALUES) + component
    rows = index[ok]
    dup = pd.Series(cell[rows]).duplicated(keep="first").to_numpy()
    if dup.any():
        first_value = pd.Series(values[rows]).groupby(cell[rows]).transform("first").to_numpy()
        differ = dup & (first_value != values[rows])
        skip_rows(report, "price", rows[differ],
                  "duplicate row (same node, run, interval and LMP_TYPE) with a different "
                  "value; kept the first")
        skip_rows(report, "price", rows[dup & ~differ], "duplicate row; kept the first")
        rows = rows[~dup]
    keys, inverse = np.unique(key[rows], return_inverse=True)
    wide = np.full((len(keys), len(PRICE_VALUES)), np.nan)
    wide[inverse, component[rows]] = values[rows]
    end_of = np.empty(len(keys), dtype="int64")
    end_of[inverse] = end_codes[rows]
    run_of, rest = keys % n_run, keys // n_run
    start_of, node_of = rest % n_start, rest // n_start
    no_lmp = np.isnan(wide[:, 0])
    if no_lmp.any():
        for k in np.flatnonzero(no_lmp)[:10]:
            report.skip("price", f"{nodes[node_of[k]]} {starts[start_of[k]].isoformat()}",
                        "components without an LMP row for this node and interval")
        report.counts["price"]["skipped"] += int(no_lmp.sum()) - min(10, int(no_lmp.sum()))
        keep = ~no_lmp
        wide, end_of, run_of = wide[keep], end_of[keep], run_of[keep]
        start_of, node_of = start_of[keep], node_of[keep]
    as_objects = np.empty(len(starts), dtype=object)
    as_objects[:] = starts
    out = pd.DataFrame({
        "code": pd.Categorical.from_codes(node_of, categories=[n or "" for n in nodes]),
        "run": pd.Categorical.from_codes(run_of, categories=[str(r or "") for r in runs]),
        "interval_start": pd.to_datetime(pd.Series(as_objects[start_of]), utc=True),
        "interval_end": pd.to_datetime(pd.Series(np.array(ends, dtype=object)[end_of]), utc=True),
    })
    for i, name in enumerate(PRICE_VALUES):
        out[name] = wide[:, i]
    out["code"] = out["code"].astype(str)
    out["run"] = out["run"].astype(str)
    return out[list(FRAME_COLUMNS)]


