"""JEPX spot summaries (Shift_JIS CSV: nine areas and the system price, 48 half-hour slots in
JST, yen/kWh) → price frames in yen/MWh, and the zone nodes of the nine areas."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.contrib.gis.geos import Point

from markets.models import Market, MarketRun, PricingNodeKind
from markets.services.readers.common import (
    _without_duplicates,
    localize,
    skip_rows,
)
from markets.services.storage import (
    PRICE_COMPONENTS,
)
from twin.ingest.base import ImportFailed, ImportReport
from twin.ingest.sources import read_table

# JEPX areas: column suffix → (node code, English name, representative city lon/lat).
JEPX_AREAS = {
    "北海道": ("HOKKAIDO", "Hokkaido", (141.35, 43.06)),
    "東北": ("TOHOKU", "Tohoku", (140.87, 38.27)),
    "東京": ("TOKYO", "Tokyo", (139.69, 35.69)),
    "中部": ("CHUBU", "Chubu", (136.91, 35.18)),
    "北陸": ("HOKURIKU", "Hokuriku", (137.21, 36.70)),
    "関西": ("KANSAI", "Kansai", (135.50, 34.69)),
    "中国": ("CHUGOKU", "Chugoku", (132.46, 34.39)),
    "四国": ("SHIKOKU", "Shikoku", (134.05, 34.34)),
    "九州": ("KYUSHU", "Kyushu", (130.40, 33.59)),
}
JEPX_SYSTEM = "システムプライス(円/kWh)"
JEPX_DATE, JEPX_SLOT = "受渡日", "時刻コード"


def read_jepx(path: Path, market: Market, report: ImportReport, *, ambiguous: str) -> pd.DataFrame:
    """JEPX spot summary (Shift_JIS) → price frame: nine area zones plus the system price.

    Slot ``k`` (1–48) of delivery day ``d`` is ``[d 00:00 + 30 (k−1) min, + 30 min)`` local time
    in the market's time zone (JST), stored in UTC; yen/kWh ×1000 → yen/MWh.
    """
    areas = {f"エリアプライス{jp}(円/kWh)": code for jp, (code, _, _) in JEPX_AREAS.items()}
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    frame = read_table(path, label=path.name, encoding="cp932",
                       required=(JEPX_DATE, JEPX_SLOT, JEPX_SYSTEM, *areas))
    report.extra["file_rows"] = len(frame)
    tz = ZoneInfo(market.time_zone)
    days = pd.to_datetime(frame[JEPX_DATE].str.strip(), format="%Y/%m/%d", errors="coerce")
    slots = pd.to_numeric(frame[JEPX_SLOT].str.strip(), errors="coerce")
    ok = pd.Series(True, index=frame.index)
    for bad, reason in ((days.isna(), f"{JEPX_DATE}: unparsable date (expected YYYY/M/D)"),
                        (~slots.between(1, 48) | (slots % 1 != 0),
                         f"{JEPX_SLOT}: not a half-hour slot 1–48")):
        skip_rows(report, "price", frame.index[bad & ok], reason)
        ok &= ~bad
    local = days[ok] + pd.to_timedelta((slots[ok] - 1) * 30, unit="min")
    starts = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    problems: dict = {}
    converted = {}
    for moment in pd.unique(local):
        naive = pd.Timestamp(moment).to_pydatetime()
        utc, note = localize(naive, tz, ambiguous=ambiguous)
        converted[moment] = utc
        if utc is None:
            problems[moment] = note
        elif note:
            report.warn("price", naive.isoformat(), note)
    starts[ok] = pd.to_datetime(local.map(converted), utc=True)
    for moment, reason in problems.items():
        hit = ok & (days + pd.to_timedelta((slots - 1) * 30, unit="min") == moment)
        skip_rows(report, "price", frame.index[hit], reason)
        ok &= ~hit
    parts = []
    for column, code in ((JEPX_SYSTEM, "SYSTEM"), *areas.items()):
        text = frame[column].str.strip()
        yen_per_kwh = pd.to_numeric(text, errors="coerce")
        bad = ok & (yen_per_kwh.isna() | ~np.isfinite(yen_per_kwh.fillna(0)))
        skip_rows(report, "price", frame.index[bad], f"{code}: price {column} is not a number")
        good = ok & ~bad
        parts.append(pd.DataFrame({
            "code": code, "run": MarketRun.DAY_AHEAD.value,
            "interval_start": starts[good], "interval_end": starts[good] + pd.Timedelta(minutes=30),
            "lmp_per_mwh": yen_per_kwh[good] * 1000.0}))
    out = pd.concat(parts, ignore_index=True)
    for name in PRICE_COMPONENTS:
        out[name] = np.nan
    return _without_duplicates(out, report)


def jepx_nodes() -> dict[str, dict]:
    """The JEPX zone nodes: nine areas (located at a representative city) and the system price."""
    nodes = {code: {"name": f"{english} ({jp})", "kind": PricingNodeKind.ZONE, "area": code,
                    "location": Point(*lonlat, srid=4326),
                    "tags": {"location": "representative city of the area, not a bus"}}
             for jp, (code, english, lonlat) in JEPX_AREAS.items()}
    nodes["SYSTEM"] = {"name": "System price (システムプライス)", "kind": PricingNodeKind.ZONE,
                       "area": "SYSTEM", "tags": {"location": "the whole market: no location"}}
    return nodes


