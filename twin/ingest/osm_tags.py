"""Reading typed values out of source attributes: voltage levels in OSM tags, GIS cells, CSVs."""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_VOLTAGE_KV = 1500.0
_LEVEL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kv|v)?\s*$", re.IGNORECASE)


def parse_voltages_kv(value: Any, *, default_unit: str = "V", ignore_zero: bool = False,
                      ) -> tuple[list[float], list[str]]:
    """Voltage levels in kV, highest first, and the parts not understood.

    Parameters
    ----------
    value
        Levels separated by ``;`` (OSM's ``"110000;16000"``), each a number with an optional
        ``V`` or ``kV`` unit; a number; a list of either, or a JSON array as text.
    default_unit
        The unit of a bare number: ``"V"`` (OSM, GridKit) or ``"kV"`` (GIS layers).
    ignore_zero
        Drop ``0`` silently (GridKit writes it for DC or unknown levels) instead of rejecting it.

    Returns
    -------
    tuple
        The levels (rounded to 1 V) and the parts rejected: unreadable (``"medium"``), or outside
        0–1500 kV (``"110000"`` read as kV).

    Examples
    --------
    >>> parse_voltages_kv("220000;110000")
    ([220.0, 110.0], [])
    >>> parse_voltages_kv("20 kV;medium")
    ([20.0], ['medium'])
    >>> parse_voltages_kv("110;16", default_unit="kV")
    ([110.0, 16.0], [])
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return [], []
    if hasattr(value, "tolist"):  # numpy arrays and scalars from data frames
        value = value.tolist()
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    parts = value if isinstance(value, list | tuple) else [value]
    levels: set[float] = set()
    rejected: list[str] = []
    for part in parts:
        for piece in part.split(";") if isinstance(part, str) else [part]:
            if isinstance(piece, str) and not piece.strip():
                continue
            kv = _level_kv(piece, default_unit)
            if ignore_zero and kv == 0:
                continue
            if kv is None or not math.isfinite(kv) or not 0 < kv <= MAX_VOLTAGE_KV:
                rejected.append(str(piece).strip())
                continue
            levels.add(round(kv, 3))
    return sorted(levels, reverse=True), rejected


def _level_kv(piece: Any, default_unit: str) -> float | None:
    if isinstance(piece, bool):
        return None
    if isinstance(piece, int | float):
        number, unit = float(piece), default_unit
    else:
        match = _LEVEL.match(str(piece))
        if not match:
            return None
        number, unit = float(match.group(1)), match.group(2) or default_unit
    return number if unit.lower() == "kv" else number / 1000.0
