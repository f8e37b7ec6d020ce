"""Import charging stations from an NREL/DOE Alternative Fuels Data Center (AFDC) CSV export.

The station locator (https://afdc.energy.gov/stations) exports one row a station for every
fuel; only electric stations (``Fuel Type Code`` = ``ELEC``) are imported, each as a
:class:`~twin.models.Charger` (an OCPI *Location*) with ``source="afdc"`` and
``source_id="afdc:<ID>"``. Its EVSEs and connectors come from the port counts per charging
level and the station's list of connector types:

* ``EV Level1 EVSE Num`` → EVSEs ``L1-1…``, ``EV Level2 EVSE Num`` → ``L2-1…``,
  ``EV DC Fast Count`` → ``DC-1…`` (one EVSE a port);
* a DC fast EVSE gets every DC connector type the station lists (dual-standard dispensers,
  CHAdeMO + CCS1, are the norm); an AC EVSE gets one connector, the station's AC types of that
  level being dealt out to its ports in turn;
* ``TESLA`` is the Supercharger (DC) when the station has DC ports and the network is ``Tesla``,
  or it lists no other DC type, or it has no Level 2 ports; otherwise a Tesla destination
  (Level 2) connector.

The export has no power rating per port, so each connector gets the typical rating of its kind
(:data:`CONNECTORS`) — defaults, not measurements: Level 1 is 120 V AC, Level 2 is 208/240 V
single-phase AC, as the AFDC defines the levels (https://afdc.energy.gov/fuels/electricity-stations).

Access comes from ``Groups With Access Code`` (public / private; public with
``Restricted Access`` = true, e.g. "for guest use only", is *customers*), opening hours from
``Access Days Time`` ("24 hours daily" → ``24/7``; AFDC's "Mon 5:00am - 10:59pm; …" form →
OSM ``opening_hours`` syntax; anything else is kept as written). ``Status Code`` E (available),
P (planned) and T (temporarily unavailable) map to OCPI statuses ``available``, ``planned``
and ``out_of_order``. Rows without usable coordinates are skipped with their reason.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from django.contrib.gis.geos import Point
from django.db.models import Q

from twin.ingest.base import (
    ImportFailed,
    ImportReport,
    import_transaction,
    sync_evses,
    sync_records,
    valid_records,
)
from twin.ingest.sources import (
    ProgressFn,
    extent,
    finish_region,
    job_options,
    no_progress,
    non_empty,
    parse_float,
    read_table,
)
from twin.jobs import Progress
from twin.models import Charger, Region

REQUIRED_COLUMNS = (
    "Fuel Type Code",
    "ID",
    "Station Name",
    "Latitude",
    "Longitude",
    "Status Code",
    "EV Level1 EVSE Num",
    "EV Level2 EVSE Num",
    "EV DC Fast Count",
    "EV Connector Types",
)
LEVEL_COLUMNS = {"L1": "EV Level1 EVSE Num", "L2": "EV Level2 EVSE Num", "DC": "EV DC Fast Count"}
MAX_PORTS_PER_LEVEL = 200

#: AFDC connector type → level → (OCPI standard, power type, power_kw, voltage_v, current_a).
#: Typical ratings (defaults, the export has none per port): Level 1 on a 120 V circuit
#: (NEMA 5-15 12 A continuous = 1.4 kW, NEMA 5-20 / J1772 16 A = 1.9 kW); Level 2 J1772 on a
#: 240 V 30 A circuit = 7.2 kW (the common public Level 2 station); NEMA 14-50 at 40 A = 9.6 kW;
#: Tesla destination (wall connector) 48 A = 11.5 kW; DC fast CHAdeMO and CCS1 50 kW (the
#: classic DC fast class; Electrify America's network is 150 kW, see DC_NETWORK_KW), Tesla
#: Supercharger (V2) 150 kW. ``TESLA`` is the North American Tesla connector, OCPI ``TESLA_S``
#: (the same plug was standardised as SAE J3400, which newer exports call ``J3400``).
CONNECTORS: dict[str, dict[str, tuple[str, str, float, float | None, float | None]]] = {
    "NEMA515": {"L1": ("OTHER", "AC_1_PHASE", 1.4, 120.0, 12.0)},
    "NEMA520": {"L1": ("OTHER", "AC_1_PHASE", 1.9, 120.0, 16.0)},
    "NEMA1450": {"L2": ("OTHER", "AC_1_PHASE", 9.6, 240.0, 40.0)},
    "J1772": {
        "L1": ("IEC_62196_T1", "AC_1_PHASE", 1.9, 120.0, 16.0),
        "L2": ("IEC_62196_T1", "AC_1_PHASE", 7.2, 240.0, 30.0),
    },
    "TESLA": {"L2": ("TESLA_S", "AC_1_PHASE", 11.5, 240.0, 48.0), "DC": ("TESLA_S", "DC", 150.0, None, None)},
    "J3400": {
        "L2": ("SAE_J3400", "AC_1_PHASE", 11.5, 240.0, 48.0),
        "DC": ("SAE_J3400", "DC", 150.0, None, None),
    },
    "J1772COMBO": {"DC": ("IEC_62196_T1_COMBO", "DC", 50.0, None, None)},
    "CHADEMO": {"DC": ("CHADEMO", "DC", 50.0, None, None)},
}
#: DC fast ratings of networks whose stations are known to be faster than the 50 kW default.
DC_NETWORK_KW = {"Electrify America": {"IEC_62196_T1_COMBO": 150.0}}
#: What a port of a level gets when the station lists no connector type for that level.
LEVEL_FALLBACK = {"L1": "J1772", "L2": "J1772", "DC": "J1772COMBO"}
STATUS = {"E": "available", "P": "planned", "T": "out_of_order"}
_DAYS = {"Mon": "Mo", "Tue": "Tu", "Wed": "We", "Thu": "Th", "Fri": "Fr", "Sat": "Sa", "Sun": "Su"}
_SLOT = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{1,2}):(\d\d) ?(am|pm) - (\d{1,2}):(\d\d) ?(am|pm)", re.IGNORECASE
)


def _clock(hour: str, minute: str, half: str, *, end: bool) -> str:
    h = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    if end and h == 0 and minute == "00":
        return "24:00"
    return f"{h:02d}:{minute}"


def opening_hours(text: str) -> str:
    """AFDC ``Access Days Time`` as an OSM ``opening_hours`` value where it can be read.

    Examples
    --------
    >>> opening_hours("24 hours daily; for guest use only")
    '24/7'
    >>> opening_hours("Mon 5:00am - 10:59pm; Tue 5:00am - 10:59pm; Wed 5:00am - 10:59pm; "
    ...               "Thu 5:00am - 10:59pm; Fri 5:00am - 10:59pm; Sat 5:00am - 10:59pm; "
    ...               "Sun 5:00am - 10:59pm")
    'Mo-Su 05:00-22:59'
    >>> opening_hours("Dealership business hours")
    'Dealership business hours'
    """
    text = (text or "").strip()
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if parts and parts[0].lower() == "24 hours daily":
        return "24/7"
    slots = [_SLOT.fullmatch(p) for p in parts]
    if parts and all(slots):
        rules = [
            (
                _DAYS[m.group(1).title()],
                f"{_clock(*m.group(2, 3, 4), end=False)}-{_clock(*m.group(5, 6, 7), end=True)}",
            )
            for m in slots
        ]
        if [d for d, _ in rules] == list(_DAYS.values()) and len({h for _, h in rules}) == 1:
            return f"Mo-Su {rules[0][1]}"
        return "; ".join(f"{day} {hours}" for day, hours in rules)[:200]
    return text[:200]


def _access(row: dict) -> str | None:
    groups = (row.get("Groups With Access Code") or row.get("Access Code") or "").strip().lower()
    if groups.startswith("private"):
        return "private"
    if groups.startswith("public"):
        restricted = (row.get("Restricted Access") or "").strip().lower() == "true"
        return "customers" if restricted else "public"
    return None


def station_evses(row: dict, *, status: str, ref: str, report: ImportReport) -> list[dict]:
    """EVSE specs (uid, status, connectors) of one AFDC station row; see the module docstring."""
    listed = [t for t in (row.get("EV Connector Types") or "").upper().split() if t]
    for unknown in sorted(set(listed) - set(CONNECTORS)):
        report.warn("charger", ref, f"unknown EV connector type {unknown!r} (not imported)")
    listed = [t for t in dict.fromkeys(listed) if t in CONNECTORS]
    network = (row.get("EV Network") or "").strip()
    dc_types = [t for t in listed if "DC" in CONNECTORS[t] and t not in ("TESLA", "J3400")]
    dc_ports, l2_ports = _ports(row, "DC"), _ports(row, "L2")
    tesla_dc = dc_ports > 0 and (network == "Tesla" or not dc_types or not l2_ports)
    per_level: dict[str, list[str]] = {"L1": [], "L2": [], "DC": []}
    for kind in listed:
        levels = CONNECTORS[kind]
        if kind in ("TESLA", "J3400"):
            per_level["DC" if tesla_dc else "L2"].append(kind)
        elif kind == "J1772":
            per_level["L2"].append(kind)
            per_level["L1"].append(kind)
        else:
            for level in levels:
                per_level[level].append(kind)
    if any(t in per_level["L1"] for t in ("NEMA515", "NEMA520")):
        # Level 1 from a wall outlet: the outlet is the connector (drivers bring their cordset)
        per_level["L1"] = [t for t in per_level["L1"] if t != "J1772"]
    evses = []
    for level, column in LEVEL_COLUMNS.items():
        ports, raw = _ports(row, level), (row.get(column) or "").strip()
        if raw and parse_float(raw) is None:
            report.warn("charger", ref, f"{column} {raw!r} is not a number (taken as 0)")
        if ports > MAX_PORTS_PER_LEVEL:
            report.warn("charger", ref, f"{column} {ports} capped at {MAX_PORTS_PER_LEVEL}")
            ports = MAX_PORTS_PER_LEVEL
        kinds = per_level[level]
        if ports and not kinds:
            kinds = [LEVEL_FALLBACK[level]]
            report.warn(
                "charger",
                ref,
                f"{ports} {level} port(s) but no {level} connector type listed; assumed {kinds[0]}",
            )
        for i in range(ports):
            chosen = kinds if level == "DC" else [kinds[i % len(kinds)]]
            evses.append(
                {
                    "uid": f"{level}-{i + 1}",
                    "status": status,
                    "connectors": [_connector(kind, level, network) for kind in chosen],
                }
            )
    if not evses:
        report.warn("charger", ref, "no EVSE port counts given; stored without EVSEs")
    return evses


def _ports(row: dict, level: str) -> int:
    number = parse_float(row.get(LEVEL_COLUMNS[level]))
    return max(0, int(number)) if number is not None else 0


def _connector(kind: str, level: str, network: str) -> dict:
    standard, power_type, power_kw, voltage_v, current_a = CONNECTORS[kind][level]
    power_kw = DC_NETWORK_KW.get(network, {}).get(standard, power_kw) if level == "DC" else power_kw
    return {
        "standard": standard,
        "power_type": power_type,
        "power_kw": power_kw,
        "voltage_v": voltage_v,
        "current_a": current_a,
    }


def read_afdc(path: Path, report: ImportReport) -> tuple[list[dict], dict]:
    """Charger records (with ``_evses``) from an AFDC CSV, and facts about the file.

    Raises :class:`ImportFailed` for a missing or unreadable file or missing columns.
    """
    frame = read_table(path, label=path.name, required=REQUIRED_COLUMNS, sep=",")
    fuels = Counter(frame["Fuel Type Code"].str.strip())
    electric = frame[frame["Fuel Type Code"].str.strip().str.upper() == "ELEC"]
    records, seen = [], set()
    for index, row in zip(electric.index, electric.to_dict("records"), strict=True):
        station_id = row["ID"].strip()
        ref = f"afdc:{station_id}" if station_id else f"{path.name}: data row {index + 1}"
        if not station_id:
            report.skip("charger", ref, "no station ID")
            continue
        if ref in seen:
            report.skip("charger", ref, "duplicate station ID (the first row was kept)")
            continue
        seen.add(ref)
        record = _charger(row, ref, report)
        if record is not None:
            records.append(record)
    states = sorted({s.strip().upper() for s in electric.get("State", []) if s.strip()})
    facts = {
        "rows": len(frame),
        "rows_by_fuel": dict(fuels.most_common()),
        "electric_rows": len(electric),
        "states": states,
    }
    return records, facts


def _charger(row: dict, ref: str, report: ImportReport) -> dict | None:
    lat_text, lon_text = row["Latitude"].strip(), row["Longitude"].strip()
    lat, lon = parse_float(lat_text), parse_float(lon_text)
    if not lat_text or not lon_text:
        report.skip("charger", ref, "latitude/longitude missing")
        return None
    if lat is None or lon is None:
        report.skip("charger", ref, f"latitude/longitude not numbers: {lat_text!r}, {lon_text!r}")
        return None
    if lat == 0 and lon == 0:
        report.skip("charger", ref, "coordinates are 0,0 (no geocode)")
        return None
    status_code = row["Status Code"].strip().upper()
    status = STATUS.get(status_code)
    if status is None:
        report.warn("charger", ref, f"unknown Status Code {status_code!r} (status unknown)")
        status = "unknown"
    access = _access(row)
    if access is None:
        report.warn(
            "charger",
            ref,
            f"unknown Groups With Access Code {row.get('Groups With Access Code', '')!r} (access unknown)",
        )
        access = "unknown"
    country = (row.get("Country") or "US").strip().upper()
    tags = non_empty(
        row, prefix="afdc:", exclude=("Latitude", "Longitude", "ID", "Station Name", "Fuel Type Code")
    )
    return {
        "name": row["Station Name"].strip()[:200],
        "source": "afdc",
        "source_id": ref,
        "location": Point(lon, lat, srid=4326),
        "tags": tags,
        "network": (row.get("EV Network") or "").strip()[:200],
        "address": (row.get("Street Address") or "").strip()[:300],
        "city": (row.get("City") or "").strip()[:100],
        "postal_code": (row.get("ZIP") or "").strip()[:20],
        "country_code": country if len(country) == 2 else "US",
        "access": access,
        "status": status,
        "opening_hours": opening_hours(row.get("Access Days Time") or ""),
        "_evses": station_evses(row, status=status, ref=ref, report=report),
    }


def import_afdc(
    path: str | Path,
    *,
    region_name: str | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> dict:
    """Import (or re-import) an AFDC station CSV into the twin; return the JSON-ready report.

    Parameters
    ----------
    path
        The CSV as exported by the AFDC station locator (UTF-8, a byte-order mark allowed).
    region_name
        The region the chargers belong to; default ``afdc-<states>`` (e.g. ``afdc-WA``), so that
        a newer export of the same states updates — and marks vanished — the same chargers.
    strict
        Roll everything back on any skipped row or warning.
    progress
        ``progress(fraction, message)`` callback.

    Raises
    ------
    ImportFailed
        With nothing written: missing or unreadable file, missing columns, no electric
        stations, or under ``strict`` any skipped row or warning.
    """
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    progress(0.05, f"reading {path.name}")
    records, facts = read_afdc(path, report)
    if not facts["electric_rows"]:
        raise ImportFailed(
            f"{path.name}: no electric stations (Fuel Type Code ELEC) in "
            f"{facts['rows']} row(s); nothing was imported",
            report,
        )
    region_name = region_name or "afdc-" + ("-".join(facts["states"][:5]) or path.stem)
    if len(region_name) > 100:
        raise ImportFailed("region name must be at most 100 characters")
    report.extra.update(facts)
    progress(0.4, f"writing {len(records)} chargers")
    with import_transaction(report, strict=strict):
        region, _ = Region.objects.get_or_create(name=region_name)
        chargers = sync_records(
            Charger,
            valid_records(Charger, records, kind="charger", report=report, region=region),
            kind="charger",
            report=report,
            scope=Q(source="afdc", region=region),
        )
        progress(0.7, "writing EVSEs and connectors")
        report.extra["chargers_with_new_evses"] = sync_evses(records, chargers)
        report.extra["evses"] = sum(len(r["_evses"]) for r in records if r["source_id"] in chargers)
        report.extra["region"] = region_name
        finish_region(
            region,
            source_file=path.name,
            report=report,
            bbox=extent(r["location"] for r in records if r["source_id"] in chargers),
        )
    progress(1.0, "done")
    return report.as_dict()


def import_afdc_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path": CSV, "region": optional name, "strict": bool}`` → :func:`import_afdc`."""
    options = job_options(parameters, required=["path"], optional=[])
    return import_afdc(options.pop("path"), progress=progress, **options)
