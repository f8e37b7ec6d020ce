"""Build the twin from an OpenStreetMap extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``).

The file is streamed with pyosmium: only power features and charging stations are kept in
memory, node locations live in pyosmium's index. Lines come from ``power=line|minor_line|cable|
minor_cable`` ways, supports from ``power=tower|pole|portal`` nodes (linked to the lines whose
ways hold them), substations from nodes, closed ways and multipolygons (footprint and a point
on it), chargers from ``amenity=charging_station`` (``socket:*`` → EVSEs and connectors). Line
ends are connected to the substation they touch, within a tolerance in metres.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import shapely
from django.contrib.gis.db.models.functions import AsWKB
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import connection
from django.db.models import Q
from shapely import STRtree

from twin.ingest.base import (
    ImportFailed,
    ImportReport,
    import_transaction,
    read_voltages_kv,
    sync_evses,
    sync_records,
    sync_support_lines,
    valid_records,
)
from twin.ingest.sources import extent, finish_region, job_options, keep_source_file
from twin.models import Charger, Line, Region, Road, Substation, Support
from twin.services.geometry import utm_srid

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")
LINE_KINDS = {"line": "line", "minor_line": "minor_line", "cable": "cable", "minor_cable": "cable"}
SUPPORT_KINDS = ("tower", "pole", "portal")
# OSM socket:* keys → (OCPI standard, power type, typical kW when the tag gives none)
SOCKETS = {
    "type2": ("IEC_62196_T2", "AC_3_PHASE", 22.0),
    "type2_cable": ("IEC_62196_T2", "AC_3_PHASE", 22.0),
    "type2_combo": ("IEC_62196_T2_COMBO", "DC", 50.0),
    "type1": ("IEC_62196_T1", "AC_1_PHASE", 7.4),
    "type1_combo": ("IEC_62196_T1_COMBO", "DC", 50.0),
    "chademo": ("CHADEMO", "DC", 50.0),
    "tesla_supercharger": ("TESLA_S", "DC", 150.0),
    "tesla_destination": ("TESLA_S", "AC_3_PHASE", 11.0),
    "nacs": ("SAE_J3400", "DC", 150.0),
    "schuko": ("DOMESTIC_F", "AC_1_PHASE", 3.7),
    "sev1011_t13": ("DOMESTIC_J", "AC_1_PHASE", 2.3),
    "sev1011_t23": ("DOMESTIC_J", "AC_3_PHASE", 11.0),
    "cee_blue": ("OTHER", "AC_1_PHASE", 3.7),
    "cee_red_16a": ("OTHER", "AC_3_PHASE", 11.0),
    "cee_red_32a": ("OTHER", "AC_3_PHASE", 22.0),
}
# OSM highway classes drawn on the offline basemap.
ROAD_KINDS = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "pedestrian", "track", "road", "busway", "footway", "cycleway", "path", "bridleway",
    "steps",
}
KEPT_POWER = {*LINE_KINDS, *SUPPORT_KINDS, "substation"}
ACCESS = {"yes": "public", "public": "public", "permissive": "public", "customers": "customers",
          "destination": "customers", "private": "private", "no": "private"}
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)")


@dataclass
class OsmPower:
    """The power features read from a file, as records ready for :func:`sync_records`."""

    substations: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    supports: list[dict] = field(default_factory=list)
    chargers: list[dict] = field(default_factory=list)
    line_nodes: dict[str, list[int]] = field(default_factory=dict)
    roads: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # kind, name, WKB (hex)
    # closed substation ways, kept until their area is assembled (libosmium refuses invalid ones)
    substation_rings: dict[str, dict] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None


def _number(value: str | None) -> float | None:
    match = _NUMBER.search(value or "")
    return float(match.group(1).replace(",", ".")) if match else None


def _int(value: str | None, default: int) -> int:
    number = _number((value or "").split(";")[0])
    return int(number) if number else default


def _common(tags: dict, source_id: str) -> dict:
    return {"name": tags.get("name", "")[:200], "operator": tags.get("operator", "")[:200],
            "ref": tags.get("ref", "")[:100], "source": "osm", "source_id": source_id,
            "tags": tags}


def charger_evses(tags: dict) -> list[dict]:
    """EVSEs with one connector each from OSM ``socket:*`` counts (``capacity`` when none)."""
    evses = []
    for key, (standard, power_type, default_kw) in SOCKETS.items():
        count = _int(tags.get(f"socket:{key}"), 0) if tags.get(f"socket:{key}") != "yes" else 1
        power_kw = _number(tags.get(f"socket:{key}:output")) or default_kw
        if "W" in tags.get(f"socket:{key}:output", "") and "kW" not in tags[f"socket:{key}:output"]:
            power_kw = power_kw / 1000.0
        for i in range(min(count, 50)):
            evses.append({"uid": f"{key}-{i + 1}", "status": "unknown", "connectors": [
                {"standard": standard, "power_type": power_type, "power_kw": power_kw,
                 "voltage_v": None, "current_a": None}]})
    if not evses:
        for i in range(min(_int(tags.get("capacity"), 0), 50)):
            evses.append({"uid": str(i + 1), "status": "unknown", "connectors": []})
    return evses


def read_osm_power(path: Path, report: ImportReport,
                   progress: Callable[[float, str], None] | None = None) -> OsmPower:
    """Stream ``path`` and return its power features; raise :class:`ImportFailed` if unreadable."""
    name = path.name.lower()
    if not name.endswith(OSM_SUFFIXES):
        raise ImportFailed(f"{path.name}: unknown format; expected one of {', '.join(OSM_SUFFIXES)}")
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    out = OsmPower()
    wkb = osmium.geom.WKBFactory()
    try:
        header = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        box = header.header().box()
        header.close()
        if box.valid():
            out.bbox = (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon,
                        box.top_right.lat)
        processor = (osmium.FileProcessor(str(path)).with_locations().with_areas()
                     .with_filter(osmium.filter.KeyFilter("power", "amenity", "highway")))
        for n, obj in enumerate(processor):
            if progress and n % 5000 == 0:
                progress(0.05, f"reading {path.name}: {n} power objects")
            _collect(obj, obj.tags, out, wkb, report)
        out.substations += out.substation_rings.values()  # areas libosmium could not assemble
    except ImportFailed:
        raise
    except (RuntimeError, OSError, ValueError) as exc:
        raise ImportFailed(f"{path.name}: could not read the OSM file ({exc}); nothing was "
                           "imported") from exc
    return out


def _collect(obj, osm_tags, out: OsmPower, wkb, report: ImportReport) -> None:
    """Keep ``obj`` in ``out`` if it is a power feature, a charger or a road (``osm_tags``: its
    pyosmium tag list, turned into a dict only for the features kept with their tags)."""
    power, amenity, highway = osm_tags.get("power"), osm_tags.get("amenity"), osm_tags.get("highway")
    if highway in ROAD_KINDS and obj.is_way() and len(obj.nodes) >= 2:
        try:
            out.roads[obj.id] = (highway, osm_tags.get("name", "")[:200],
                                 wkb.create_linestring(obj))
        except (osmium.InvalidLocationError, RuntimeError):  # cut by the extract's edge
            report.extra["roads_incomplete"] = report.extra.get("roads_incomplete", 0) + 1
        return
    if power not in KEPT_POWER and amenity != "charging_station":
        return
    tags = dict(osm_tags)
    try:
        if obj.is_node():
            source_id = f"osm:node/{obj.id}"
            if power in SUPPORT_KINDS:
                out.supports.append({**_common(tags, source_id), "kind": power,
                                     "location": _geos(wkb.create_point(obj)),
                                     "height_m": _number(tags.get("height")),
                                     "material": tags.get("material", "")[:50],
                                     "_node": obj.id})
            elif power == "substation":
                out.substations.append({**_common(tags, source_id),
                                        "location": _geos(wkb.create_point(obj)),
                                        "footprint": None,
                                        "voltages_kv": _volts(tags, "substation", source_id, report)})
            elif amenity == "charging_station":
                out.chargers.append(_charger(tags, source_id, _geos(wkb.create_point(obj))))
        elif obj.is_way() and power == "substation" and obj.is_closed() and len(obj.nodes) >= 4:
            source_id = f"osm:way/{obj.id}"
            ring = _geos(wkb.create_linestring(obj))
            out.substation_rings[source_id] = {
                **_common(tags, source_id), "location": None,
                "footprint": Polygon(ring.coords, srid=4326),
                "voltages_kv": _volts(tags, "substation", source_id, report)}
        elif obj.is_way() and power in LINE_KINDS:
            source_id = f"osm:way/{obj.id}"
            nodes = [n.ref for n in obj.nodes]
            if len(nodes) < 2:
                report.skip("line", source_id, "a line needs at least two nodes")
                return
            out.lines.append({**_common(tags, source_id), "kind": LINE_KINDS[power],
                              "geometry": _geos(wkb.create_linestring(obj)),
                              "voltages_kv": _volts(tags, "line", source_id, report),
                              "circuits": _int(tags.get("circuits"), 1)})
            out.line_nodes[source_id] = nodes
        elif obj.is_area() and (power == "substation" or amenity == "charging_station"):
            source_id = f"osm:{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
            footprint = _geos(wkb.create_multipolygon(obj))
            if amenity == "charging_station":
                out.chargers.append(_charger(tags, source_id, footprint.point_on_surface))
            else:
                ring = out.substation_rings.pop(source_id, None)
                out.substations.append({**_common(tags, source_id), "footprint": footprint,
                                        "location": footprint.point_on_surface,
                                        "voltages_kv": ring["voltages_kv"] if ring else
                                        _volts(tags, "substation", source_id, report)})
    except (osmium.InvalidLocationError, RuntimeError) as exc:
        if obj.is_area() and obj.from_way():
            return  # its closed way is in substation_rings: repaired and reported there
        if obj.is_area():
            report.skip("substation", f"osm:relation/{obj.orig_id()}", f"invalid multipolygon: {exc}")
            return
        kind = "line" if obj.is_way() else "substation" if power == "substation" else "feature"
        report.skip(kind, f"osm:{type(obj).__name__.lower()}/{obj.id}",
                    f"incomplete geometry: {exc}")


def _volts(tags: dict, kind: str, source_id: str, report: ImportReport) -> list[float]:
    return read_voltages_kv(tags.get("voltage"), kind=kind, ref=source_id, report=report)


def _geos(wkb_hex: str) -> GEOSGeometry:
    return GEOSGeometry(wkb_hex, srid=4326)


def _charger(tags: dict, source_id: str, location: GEOSGeometry) -> dict:
    address = " ".join(p for p in (tags.get("addr:street"), tags.get("addr:housenumber")) if p)
    return {**_common(tags, source_id), "location": location,
            "network": tags.get("network", "")[:200], "address": address[:300],
            "city": tags.get("addr:city", "")[:100], "postal_code": tags.get("addr:postcode", "")[:20],
            "country_code": tags.get("addr:country", "")[:2].upper(),
            "access": ACCESS.get(tags.get("access", ""), "unknown"),
            "opening_hours": tags.get("opening_hours", "")[:200],
            "_evses": charger_evses(tags)}


def connect_line_ends(lines: list[dict], substations: dict[str, Substation],
                      tolerance_m: float) -> list[str]:
    """Set ``from_substation``/``to_substation`` on line records whose ends touch a substation.

    Distances are measured in the UTM zone of the data (footprints where mapped, else the
    substation's point). Returns the source ids of lines with no substation at either end.
    """
    for line in lines:
        line["from_substation"] = line["to_substation"] = None
    subs = list(substations.values())
    if not lines or not subs:
        return [line["source_id"] for line in lines]
    srid = utm_srid(lines[0]["geometry"].centroid)
    tree = STRtree([shapely.from_wkb(bytes((s.footprint or s.location).transform(srid, clone=True).wkb))
                    for s in subs])
    unconnected = []
    for line in lines:
        geometry = line["geometry"].transform(srid, clone=True)
        parts = [geometry] if geometry.geom_type == "LineString" else list(geometry)
        ends = shapely.points([parts[0].coords[0], parts[-1].coords[-1]])
        found: list[Substation | None] = [None, None]
        for end, sub in zip(*tree.query_nearest(ends, max_distance=tolerance_m), strict=True):
            found[int(end)] = found[int(end)] or subs[int(sub)]
        line["from_substation"], line["to_substation"] = found
        if found == [None, None]:
            unconnected.append(line["source_id"])
    return unconnected


def import_osm(path: str | Path, *, region_name: str | None = None, strict: bool = False,
               tolerance_m: float = 50.0,
               progress: Callable[[float, str], None] | None = None) -> dict:
    """Import (or re-import) an OSM extract into the twin; return the JSON-ready report.

    Raises :class:`ImportFailed` — with nothing written — for an unreadable file, an unknown
    format, or under ``strict`` any skipped row or warning.
    """
    path = Path(path)
    progress = progress or (lambda fraction, message="": None)
    if tolerance_m <= 0 or tolerance_m > 5000:
        raise ImportFailed("tolerance_m must be greater than 0 and at most 5000")
    report = ImportReport(source=str(path))
    osm = read_osm_power(path, report, progress)
    progress(0.6, "writing the twin")
    region_name = region_name or path.name.split(".")[0]
    with import_transaction(report, strict=strict):
        region, _ = Region.objects.get_or_create(name=region_name)
        scope = Q(source="osm", region=region)
        subs = sync_records(Substation, valid_records(
            Substation, osm.substations, kind="substation", report=report, region=region),
            kind="substation", report=report, scope=scope)
        report.extra["lines_without_substation"] = connect_line_ends(
            osm.lines, {k: v for k, v in subs.items() if v.missing_since is None}, tolerance_m)
        lines = sync_records(Line, valid_records(Line, osm.lines, kind="line", report=report,
                                                 region=region), kind="line", report=report,
                             scope=scope)
        progress(0.8, "linking supports to lines")
        supports = sync_records(Support, valid_records(
            Support, osm.supports, kind="support", report=report, region=region),
            kind="support", report=report, scope=scope)
        _link_supports(osm, lines, supports, report)
        chargers = sync_records(Charger, valid_records(
            Charger, osm.chargers, kind="charger", report=report, region=region),
            kind="charger", report=report, scope=scope)
        report.extra["chargers_with_new_evses"] = sync_evses(osm.chargers, chargers)
        _sync_roads(region, osm.roads, report)
        bbox = osm.bbox or extent(
            [r["location"] for r in osm.supports + osm.substations + osm.chargers]
            + [r["geometry"] for r in osm.lines])
        finish_region(region, source_file=keep_source_file(region, path), report=report, bbox=bbox)
    report.extra["region"] = region_name
    progress(1.0, "done")
    return report.as_dict()


def _sync_roads(region: Region, roads: dict[int, tuple[str, str, str]],
                report: ImportReport) -> None:
    """Make the region's basemap roads those of the file: create, update, remove by OSM id.

    Geometries are compared as WKB, so an unchanged road costs no geometry object at all.
    """
    counts = report.counts["road"]
    existing = {osm_id: (pk, kind, name, bytes(geometry)) for pk, osm_id, kind, name, geometry in
                Road.objects.filter(region=region).annotate(wkb=AsWKB("geometry"))
                .values_list("pk", "osm_id", "kind", "name", "wkb")}
    to_create, to_update = [], []
    for osm_id, (kind, name, wkb_hex) in roads.items():
        old = existing.pop(osm_id, None)
        if old is not None and old[1:] == (kind, name, bytes.fromhex(wkb_hex)):
            counts["unchanged"] += 1
        elif old is None:
            to_create.append((osm_id, kind, name, wkb_hex))
        else:
            road = Road(pk=old[0], region=region, osm_id=osm_id, kind=kind, name=name,
                        geometry=_geos(wkb_hex))
            to_update.append(road)
    _create_roads(region, to_create)
    Road.objects.bulk_update(to_update, ["kind", "name", "geometry"], batch_size=2000)
    Road.objects.filter(pk__in=[old[0] for old in existing.values()]).delete()
    counts["created"] += len(to_create)
    counts["updated"] += len(to_update)
    counts["vanished"] += len(existing)  # roads are basemap data: removed, not kept


def _create_roads(region: Region, roads: list[tuple[int, str, str, str]]) -> None:
    """Insert ``(osm_id, kind, name, WKB hex)`` roads: PostgreSQL COPY, else ``bulk_create``.

    COPY takes the geometry as hex EWKB text, so a road never becomes a Python geometry object.
    """
    if connection.vendor != "postgresql":
        Road.objects.bulk_create([Road(region=region, osm_id=osm_id, kind=kind, name=name,
                                       geometry=_geos(wkb_hex))
                                  for osm_id, kind, name, wkb_hex in roads], batch_size=2000)
        return
    columns = ", ".join(f'"{Road._meta.get_field(f).column}"'
                        for f in ("region", "osm_id", "kind", "name", "geometry"))
    with connection.cursor() as cursor, cursor.cursor.copy(
            f'COPY "{Road._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for osm_id, kind, name, wkb_hex in roads:
            copy.write_row((region.pk, osm_id, kind, name, ewkb_hex(wkb_hex, 4326)))


def ewkb_hex(wkb_hex: str, srid: int) -> str:
    """PostGIS extended WKB (hex) of a plain WKB (hex) geometry: the SRID flag and value added."""
    little = wkb_hex[:2] == "01"
    geom_type = int.from_bytes(bytes.fromhex(wkb_hex[2:10]), "little" if little else "big")
    head = (geom_type | 0x20000000).to_bytes(4, "little" if little else "big") + \
        srid.to_bytes(4, "little" if little else "big")
    return wkb_hex[:2] + head.hex() + wkb_hex[10:]


def _link_supports(osm: OsmPower, lines: dict, supports: dict, report: ImportReport) -> None:
    """Each support carries the lines whose ways pass through its node."""
    support_by_node = {r["_node"]: supports[r["source_id"]] for r in osm.supports
                       if r["source_id"] in supports}
    carried: dict[int, set[int]] = {s.pk: set() for s in support_by_node.values()}
    for line_id, nodes in osm.line_nodes.items():
        line = lines.get(line_id)
        for node in nodes if line else ():
            if node in support_by_node:
                carried[support_by_node[node].pk].add(line.pk)
    report.extra["supports_relinked"] = sync_support_lines(carried)
    report.extra["supports_without_line"] = sum(1 for v in carried.values() if not v)


def import_osm_job(parameters: dict, progress) -> dict:
    """Job: ``{"path": …, "region": …, "strict": false, "tolerance_m": 50}``."""
    options = job_options(parameters, required=["path"], optional=["tolerance_m"])
    try:
        tolerance_m = float(parameters.get("tolerance_m", 50.0))
    except (TypeError, ValueError) as exc:
        raise ImportFailed("tolerance_m must be a number of metres") from exc
    return import_osm(options.pop("path"), tolerance_m=tolerance_m, progress=progress, **options)
