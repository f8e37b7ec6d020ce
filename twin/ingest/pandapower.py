"""Import a pandapower network: its buses as substations and its lines with their electrical parameters.

The network is a pandapower JSON file (``pandapower.from_json``) or the name of a network
function in :mod:`pandapower.networks` (``mv_oberrhein``). It is stored as:

* every bus → a :class:`~twin.models.Substation` (``source="pandapower"``,
  ``source_id="pp:<network>:bus/<index>"``) at the point in ``net.bus.geo`` (a GeoJSON string),
  with ``voltages_kv=[vn_kv]``; a bus without coordinates is skipped (the twin is geographic);
* every line → a :class:`~twin.models.Line` (``pp:<network>:line/<index>``) with its geometry
  from ``net.line.geo`` (else straight between its buses), ``r_ohm_per_km``, ``x_ohm_per_km``,
  ``c_nf_per_km``, ``max_i_ka`` and ``circuits`` (``parallel``) as in the model, ``kind`` cable
  for ``type`` ``cs``, and ``from_substation``/``to_substation`` from ``from_bus``/``to_bus``.
  The model's electrical length ``length_km`` is kept in ``tags["pp:length_km"]``; the twin's
  ``length_m`` is the geometry's, as for every line;
* then, inside the same transaction, :data:`twin.ingest.signals.network_imported` is sent with
  the stored buses; the markets app answers it with a market named after the network and one
  pricing node per bus, where an OPF run publishes its locational prices (the twin itself
  knows nothing of markets).

Transformers, switches, loads, generators and the other element tables are **not stored**; the
report counts them under ``not_stored``.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import re
from pathlib import Path

from django.contrib.gis.geos import GEOSException, GEOSGeometry, LineString
from django.db.models import Q

from twin.ingest.base import (
    ImportFailed,
    ImportReport,
    import_transaction,
    sync_records,
    valid_records,
)
from twin.ingest.signals import network_imported
from twin.ingest.sources import (
    ProgressFn,
    extent,
    finish_region,
    job_options,
    no_progress,
)
from twin.jobs import JobParameterError, Progress
from twin.models import Line, Region, Substation

NOT_STORED = (
    "trafo",
    "trafo3w",
    "switch",
    "load",
    "sgen",
    "gen",
    "ext_grid",
    "storage",
    "shunt",
    "impedance",
    "dcline",
    "ward",
    "xward",
    "motor",
    "asymmetric_load",
    "asymmetric_sgen",
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _networks_module():
    import pandapower.networks as networks  # slow to import (~2 s): only when needed

    return networks


def network_names() -> list[str]:
    """Names of the network functions in :mod:`pandapower.networks` (``mv_oberrhein`` …)."""
    networks = _networks_module()
    return sorted(
        name
        for name, fn in vars(networks).items()
        if _NAME.match(name) and inspect.isfunction(fn) and fn.__module__.startswith("pandapower.networks")
    )


def slug(text: str) -> str:
    """A network key for ids and names: ``"MV Oberrhein"`` → ``"mv_oberrhein"``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def check_network_name(name: str) -> None:
    """Raise :class:`ImportFailed` (with close matches) unless ``name`` is a
    :mod:`pandapower.networks` function name."""
    names = network_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "e.g. mv_oberrhein, lv_schutterwald, case9 — or give a JSON file"
        )
        raise ImportFailed(f"unknown pandapower network {name!r}: {hint}")


def load_network(network: str | Path):
    """Load a pandapower network; return ``(net, key)``.

    ``network`` is a JSON path (anything ending in ``.json`` or naming an existing file) or a
    :mod:`pandapower.networks` function name. The key is that name, or for a file the slug of
    the network's ``name`` (the file's stem when it has none).

    Raises :class:`ImportFailed` for a missing or unreadable file or an unknown name.
    """
    text = str(network)
    path = Path(text)
    if text.lower().endswith(".json") or path.is_file() or "/" in text:
        if not path.is_file():
            raise ImportFailed(f"{path}: no such file")
        import pandapower as pp

        try:
            net = pp.from_json(str(path))
        except Exception as exc:  # pandapower raises anything from JSON, pandas or its own code
            raise ImportFailed(
                f"{path.name}: not a pandapower network JSON ({type(exc).__name__}: "
                f"{str(exc)[:200]}); nothing was imported"
            ) from exc
        if not hasattr(net, "bus") or not hasattr(net, "line"):
            raise ImportFailed(f"{path.name}: not a pandapower network (no bus/line tables)")
        return net, slug(str(getattr(net, "name", "") or "")) or slug(path.stem) or "network"
    check_network_name(text)
    try:
        net = getattr(_networks_module(), text)()
    except Exception as exc:  # a network function that needs arguments or data it lacks
        raise ImportFailed(
            f"pandapower network {text!r} could not be built ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    return net, text


def _geometry(value, kind: str, ref: str, report: ImportReport) -> GEOSGeometry | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    try:
        geometry = GEOSGeometry(value if isinstance(value, str) else json.dumps(value))
    except (GEOSException, ValueError, TypeError):
        report.warn(kind, ref, f"unreadable geo {str(value)[:60]!r} (ignored)")
        return None
    geometry.srid = geometry.srid or 4326
    return geometry


def _scalar(value):
    """A JSON-safe Python value from a pandas cell (numpy scalars, NaN → None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def network_records(net, key: str, report: ImportReport) -> tuple[list[dict], list[dict]]:
    """Substation records (one per bus) and line records (``_from``/``_to``: bus source ids)."""
    buses, lines = [], []
    geo = net.bus["geo"] if "geo" in net.bus.columns else None
    for index, bus in net.bus.iterrows():
        ref = f"pp:{key}:bus/{index}"
        location = _geometry(geo[index] if geo is not None else None, "substation", ref, report)
        if location is None:
            report.skip("substation", ref, "bus has no coordinates in net.bus.geo")
            continue
        if location.geom_type != "Point":
            location = location.centroid
        name = _scalar(bus.get("name"))
        buses.append(
            {
                "name": str(name)[:200] if name not in (None, "") else f"Bus {index}",
                "source": "pandapower",
                "source_id": ref,
                "location": location,
                "voltages_kv": [float(bus["vn_kv"])] if _scalar(bus["vn_kv"]) is not None else [],
                "tags": {
                    "pp:index": int(index),
                    "pp:type": _scalar(bus.get("type")),
                    "pp:zone": _scalar(bus.get("zone")),
                    "pp:in_service": bool(bus.get("in_service", True)),
                },
                "_index": int(index),
            }
        )
    points = {b["_index"]: b["location"] for b in buses}
    line_geo = net.line["geo"] if "geo" in net.line.columns else None
    straight = 0
    for index, line in net.line.iterrows():
        ref = f"pp:{key}:line/{index}"
        ends = [int(line["from_bus"]), int(line["to_bus"])]
        missing = [e for e in ends if e not in points]
        if missing:
            report.skip(
                "line",
                ref,
                f"bus {', '.join(map(str, missing))} not stored (no coordinates or not in net.bus)",
            )
            continue
        geometry = _geometry(line_geo[index] if line_geo is not None else None, "line", ref, report)
        if geometry is None:
            geometry, straight = (
                LineString(points[ends[0]].coords, points[ends[1]].coords, srid=4326),
                straight + 1,
            )
        vn_kv = _scalar(net.bus.at[ends[0], "vn_kv"])
        name = _scalar(line.get("name"))
        lines.append(
            {
                "name": str(name)[:200] if name not in (None, "") else f"Line {index}",
                "source": "pandapower",
                "source_id": ref,
                "geometry": geometry,
                "kind": "cable" if line.get("type") == "cs" else "line",
                "voltages_kv": [float(vn_kv)] if vn_kv is not None else [],
                "circuits": max(1, int(_scalar(line.get("parallel")) or 1)),
                "r_ohm_per_km": _scalar(line["r_ohm_per_km"]),
                "x_ohm_per_km": _scalar(line["x_ohm_per_km"]),
                "c_nf_per_km": _scalar(line["c_nf_per_km"]),
                "max_i_ka": _scalar(line["max_i_ka"]),
                "tags": {
                    "pp:index": int(index),
                    "pp:std_type": _scalar(line.get("std_type")),
                    "pp:length_km": _scalar(line["length_km"]),
                    "pp:g_us_per_km": _scalar(line.get("g_us_per_km")),
                    "pp:df": _scalar(line.get("df")),
                    "pp:in_service": bool(line.get("in_service", True)),
                },
                "_from": f"pp:{key}:bus/{ends[0]}",
                "_to": f"pp:{key}:bus/{ends[1]}",
            }
        )
    report.extra["lines_drawn_straight"] = straight
    return buses, lines


def import_pandapower(
    network: str | Path,
    *,
    region_name: str | None = None,
    strict: bool = False,
    currency: str | None = None,
    network_name: str | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Import (or re-import) a pandapower network into the twin; return the report.

    Parameters
    ----------
    network
        A pandapower JSON file or a :mod:`pandapower.networks` name (``mv_oberrhein``).
    region_name
        Region of the stored buses and lines; default the network key.
    strict
        Roll everything back on any skipped row or warning.
    currency
        ISO 4217 currency handed to the :data:`~twin.ingest.signals.network_imported` receivers
        (the markets app creates the network's market in it, default EUR; given on a
        re-import, it updates the market's currency).
    network_name
        The key used in source ids and as the market name, instead of the network's own.
    progress
        ``progress(fraction, message)`` callback.

    Raises
    ------
    ImportFailed
        With nothing written: missing or unreadable file, unknown network name, a network
        without bus coordinates, or under ``strict`` any skipped row or warning.
    """
    progress = progress or no_progress
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise ImportFailed(f"currency {currency!r} is not an ISO 4217 code such as EUR or USD")
    progress(0.05, f"loading {network}")
    net, key = load_network(network)
    if network_name:
        key = slug(network_name)
        if not key:
            raise ImportFailed(f"network name {network_name!r} has no letters or digits")
    report = ImportReport(source=str(network))
    buses, lines = network_records(net, key, report)
    if not buses:
        raise ImportFailed(
            f"{key}: none of its {len(net.bus)} buses has coordinates in "
            "net.bus.geo; the twin stores geographic assets only",
            report,
        )
    region_name = region_name or key
    if len(region_name) > 100:
        raise ImportFailed("region name must be at most 100 characters")
    report.extra.update(
        {
            "network": key,
            "network_title": str(getattr(net, "name", "") or ""),
            "f_hz": _scalar(getattr(net, "f_hz", None)),
            "buses": len(net.bus),
            "lines": len(net.line),
            "not_stored": {
                table: len(net[table]) for table in NOT_STORED if table in net and len(net[table])
            },
            "length_km_model": round(float(net.line["length_km"].sum()), 3),
        }
    )
    progress(0.4, "writing buses and lines")
    with import_transaction(report, strict=strict):
        region, _ = Region.objects.get_or_create(name=region_name)
        scope = Q(source="pandapower", source_id__startswith=f"pp:{key}:", region=region)
        subs = sync_records(
            Substation,
            valid_records(Substation, buses, kind="substation", report=report, region=region),
            kind="substation",
            report=report,
            scope=scope,
        )
        linked = []
        for record in lines:
            ends = [subs.get(record["_from"]), subs.get(record["_to"])]
            if None in ends:
                report.skip("line", record["source_id"], "a bus of the line was not stored")
                continue
            record["from_substation_id"], record["to_substation_id"] = (e.pk for e in ends)
            linked.append(record)
        stored = sync_records(
            Line,
            valid_records(Line, linked, kind="line", report=report, region=region),
            kind="line",
            report=report,
            scope=scope,
        )
        report.extra["length_km_geometry"] = round(sum(line.length_m for line in stored.values()) / 1000.0, 3)
        progress(0.8, "handing the network to the other apps (the markets app's pricing nodes)")
        network_imported.send(
            sender="pandapower", network=key, region=region, report=report, currency=currency,
            buses={bus["_index"]: subs[bus["source_id"]] for bus in buses if bus["source_id"] in subs},
        )
        report.extra["region"] = region_name
        finish_region(
            region, source_file=str(network), report=report, bbox=extent(s.location for s in subs.values())
        )
    progress(1.0, "done")
    return report.as_dict()


def import_pandapower_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path": JSON}`` or ``{"network": name}``, plus ``region``, ``strict``,
    ``currency``, ``name`` → :func:`import_pandapower`."""
    options = job_options(parameters, required=[], optional=["path", "network", "currency", "name"])
    source = options.pop("path", None) or parameters.get("network")
    if not source or (parameters.get("path") and parameters.get("network")):
        raise JobParameterError("give either path (a pandapower JSON) or network (a name)")
    return import_pandapower(
        source,
        currency=parameters.get("currency") or None,
        network_name=parameters.get("name") or None,
        progress=progress,
        **options,
    )
