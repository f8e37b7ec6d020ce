"""Parsing of OpenStreetMap tag values into the twin's typed fields."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kv|v)?\s*$", re.IGNORECASE)


def parse_voltages_kv(value: str | None) -> tuple[list[float], list[str]]:
    """Parse an OSM ``voltage`` tag into kV levels, highest first, and the parts not understood.

    OSM gives volts, several levels separated by ``;`` (``"110000;16000"`` → ``[110.0, 16.0]``).
    Values with an explicit ``kV`` unit are taken as kV. Unparseable parts (``"medium"``) are
    returned in the second list so the caller can report them.

    Examples
    --------
    >>> parse_voltages_kv("220000;110000")
    ([220.0, 110.0], [])
    >>> parse_voltages_kv("20 kV;medium")
    ([20.0], ['medium'])
    """
    levels: set[float] = set()
    rejected: list[str] = []
    for part in (value or "").replace(",", ";").split(";"):
        if not part.strip():
            continue
        match = _NUMBER.match(part)
        if not match:
            rejected.append(part.strip())
            continue
        number, unit = float(match.group(1)), (match.group(2) or "v").lower()
        kv = number if unit == "kv" else number / 1000.0
        if not 0 < kv <= 1500:
            rejected.append(part.strip())
            continue
        levels.add(round(kv, 3))
    return sorted(levels, reverse=True), rejected
