"""Import a GridKit-style transmission network: a vertex table and a link table.

GridKit (B. Wiegmans, https://github.com/bdw/GridKit) and the datasets built like it (SciGRID,
the ComplexNetTSP ``Power_grids`` collection, doi:10.5281/zenodo.250427) abstract the
OpenStreetMap power network into *vertices* (substations, plants, joints where lines branch,
merge points) and *links* (a line between two vertices). Both are CSV files — ``#``- or
comma-separated, detected from the header — with the geometry as EWKT in ``wkt_srid_4326``:

* vertices ``v_id, lon, lat, typ, voltage, frequency, name, operator, ref, …`` → one
  :class:`~twin.models.Substation` each, ``source_id="gridkit:<v_id>"``. Joints and merge points
  are stored too (their ``typ`` is kept in ``tags["gridkit:typ"]``): every link ends at a vertex,
  and without them the network would fall apart into pieces.
* links ``l_id, v_id_1, v_id_2, voltage, cables, wires, frequency, name, operator, length_m,
  r_ohmkm, x_ohmkm, c_nfkm, i_th_max_a, …`` → one :class:`~twin.models.Line` each,
  ``source_id="gridkit:link/<l_id>"``, with ``from_substation``/``to_substation`` set from
  ``v_id_1``/``v_id_2`` (the topology comes from the file, not from geometry matching).

Voltages are in volts, several separated by ``;`` (GridKit lists the values of the OSM ways it
merged; ``0`` marks DC or unknown and is dropped). ``circuits`` is the largest ``cables`` value
÷ 3 (three-phase AC), at least 1. The raw cells of every row are kept in ``tags`` (prefixed
``gridkit:``), including GridKit's own ``length_m`` — the length of the OSM ways, longer than a
link's straight geometry; the twin's ``length_m`` is always the stored geometry's.

Electrical parameters come from the link's ``r_ohmkm``/``x_ohmkm``/``c_nfkm``/``i_th_max_a``
where given; otherwise from **defaults by voltage level**, see :data:`OVERHEAD_LINE_TYPES`.
Which one was used is recorded per field in ``tags["electrical"]`` (``file``, ``default`` or
``operator``): a value an operator entered over a default survives re-imports.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import networkx as nx
from django.contrib.gis.geos import GEOSException, GEOSGeometry, LineString, Point
from django.db.models import Q

from twin.ingest.base import (
    ImportFailed,
    ImportReport,
    import_job_path,
    import_transaction,
    read_voltages_kv,
    sync_records,
    valid_records,
)
from twin.ingest.sources import (
    ProgressFn,
    extent,
    finish_region,
    job_options,
    no_progress,
    parse_float,
    read_table,
)
from twin.jobs import Progress
from twin.models import Line, Region, Substation

VERTEX_COLUMNS = ("v_id",)
LINK_COLUMNS = ("l_id", "v_id_1", "v_id_2")
WKT = "wkt_srid_4326"
MAX_ZIP_MEMBER_BYTES = 1 << 30  # a GridKit table of the whole of Europe is ~100 MB
ELECTRICAL_FIELDS = ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka")
#: GridKit link columns holding electrical parameters → (model field, factor to the model's unit)
FILE_ELECTRICAL = {
    "r_ohmkm": ("r_ohm_per_km", 1.0),
    "x_ohmkm": ("x_ohm_per_km", 1.0),
    "c_nfkm": ("c_nf_per_km", 1.0),
    "i_th_max_a": ("max_i_ka", 0.001),
}


@dataclass(frozen=True)
class LineType:
    """Per-circuit positive-sequence parameters of a standard line type (50 Hz)."""

    name: str
    r_ohm_per_km: float
    x_ohm_per_km: float
    c_nf_per_km: float
    max_i_ka: float


#: Default overhead line types by voltage band: ``(highest voltage of the band in kV, type)``.
#:
#: These are **defaults, not data**: common planning values for a line of that voltage level
#: when the source has none, per circuit, at 50 Hz. They are the standard line types of
#: pandapower (``pandapower.std_types``; values from Heuck et al., *Elektrische
#: Energieversorgung*, 8th ed., 2010) and of PyPSA (``pypsa/data/standard_types/line_types.csv``;
#: the bundle types from Oeding & Oswald, *Elektrische Kraftwerke und Netze*, 2011, ch. 9):
#:
#: ========== ==================================== ===== ===== ===== =====
#: up to kV   type (Japanese levels it covers)     r Ω/km x Ω/km c nF/km I kA
#: ========== ==================================== ===== ===== ===== =====
#: 45         243-AL1/39-ST1A 20.0 (22, 33 kV)     0.1188 0.32  11.0  0.645
#: 132        243-AL1/39-ST1A 110.0 (66, 77, 110)  0.1188 0.39  9.0   0.645
#: 250        Al/St 240/40 2-bundle 220.0          0.06   0.301 12.5  1.29
#:            (154, 187, 220 kV)
#: 330        Al/St 240/40 3-bundle 300.0 (275)    0.04   0.265 13.2  1.935
#: above      Al/St 240/40 4-bundle 380.0 (500)    0.03   0.246 13.8  2.58
#: ========== ==================================== ===== ===== ===== =====
#:
#: Reactance is at 50 Hz: multiply ``x`` by 1.2 for a 60 Hz system (western Japan). Real
#: Japanese 275/500 kV lines use 4–8 conductor bundles of 410–810 mm² ACSR, so the ratings
#: above are conservative. DC links (all frequencies 0) get no AC defaults.
OVERHEAD_LINE_TYPES: tuple[tuple[float, LineType], ...] = (
    (45.0, LineType("243-AL1/39-ST1A 20.0", 0.1188, 0.32, 11.0, 0.645)),
    (132.0, LineType("243-AL1/39-ST1A 110.0", 0.1188, 0.39, 9.0, 0.645)),
    (250.0, LineType("Al/St 240/40 2-bundle 220.0", 0.06, 0.301, 12.5, 1.29)),
    (330.0, LineType("Al/St 240/40 3-bundle 300.0", 0.04, 0.265, 13.2, 1.935)),
    (math.inf, LineType("Al/St 240/40 4-bundle 380.0", 0.03, 0.246, 13.8, 2.58)),
)
#: Default underground cable types (pandapower standard types); none above 132 kV.
CABLE_TYPES: tuple[tuple[float, LineType], ...] = (
    (45.0, LineType("NA2XS2Y 1x240 RM/25 12/20 kV", 0.122, 0.112, 304.0, 0.421)),
    (132.0, LineType("N2XS(FL)2Y 1x240 RM/35 64/110 kV", 0.075, 0.149, 135.0, 0.526)),
)


def default_line_type(voltage_kv: float | None, *, kind: str = "line") -> LineType | None:
    """The default line type for a voltage level (see :data:`OVERHEAD_LINE_TYPES`).

    Returns ``None`` when the voltage is unknown or no default applies (cables above 132 kV).
    """
    if not voltage_kv or voltage_kv <= 0:
        return None
    for highest_kv, line_type in CABLE_TYPES if kind == "cable" else OVERHEAD_LINE_TYPES:
        if voltage_kv <= highest_kv:
            return line_type
    return None


def circuits_from_cables(value: str) -> int:
    """Circuits of a link: its largest ``cables`` count ÷ 3 (three-phase AC), at least 1."""
    counts = [parse_float(p) for p in (value or "").split(";")]
    counts = [c for c in counts if c and c > 0]
    return max(1, int(max(counts) // 3)) if counts else 1


def _distinct(value: str, length: int) -> str:
    """A ``;``-joined GridKit list with repeats removed (``"A;A; B"`` → ``"A; B"``)."""
    parts = [p.strip() for p in (value or "").split(";")]
    return "; ".join(dict.fromkeys(p for p in parts if p and p != "''"))[:length]


def _tags(row: dict, exclude: tuple[str, ...]) -> dict[str, str]:
    return {
        f"gridkit:{k}": str(v).strip()
        for k, v in row.items()
        if k not in exclude and str(v).strip() not in ("", "''")
    }


def gridkit_tables(
    path: str | Path, links: str | Path | None = None
) -> tuple[tuple[str, Path | io.BytesIO], tuple[str, Path | io.BytesIO], str]:
    """Find the vertex and link tables: ``(label, source)`` for each, and a default region name.

    ``path`` is a folder or ``.zip`` holding one ``*vertices*.csv`` and one ``*links*.csv``, or the
    vertex CSV itself (the link CSV is then ``links``, or its sibling named with ``links`` in
    place of ``vertices``).
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file or folder")
    if links is not None:
        vertices_path, links_path = path, Path(links)
    elif path.is_dir():
        vertices_path, links_path = (
            _one(path, sorted(p.name for p in path.iterdir()), word) for word in ("vertices", "links")
        )
        vertices_path, links_path = path / vertices_path, path / links_path
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                members = [_one(path, names, w) for w in ("vertices", "links")]
                for name in members:
                    if archive.getinfo(name).file_size > MAX_ZIP_MEMBER_BYTES:
                        raise ImportFailed(
                            f"{path.name}: {name} is larger than "
                            f"{MAX_ZIP_MEMBER_BYTES // 2**20} MB uncompressed"
                        )
                found = [(n, io.BytesIO(archive.read(n))) for n in members]
        except (zipfile.BadZipFile, OSError) as exc:
            raise ImportFailed(f"{path.name}: not a readable zip file ({exc})") from exc
        (vn, vs), (ln, ls) = found
        return (vn, vs), (ln, ls), _region_name(Path(vn).name)
    else:
        vertices_path = path
        links_path = path.with_name(path.name.replace("vertices", "links"))
        if links_path == path:
            raise ImportFailed(
                f"{path.name}: give the link table too (or a folder/zip with both); "
                "the vertex file's name must contain 'vertices' to find its links"
            )
    for p in (vertices_path, links_path):
        if not p.is_file():
            raise ImportFailed(f"{p}: no such file")
    return (
        (vertices_path.name, vertices_path),
        (links_path.name, links_path),
        _region_name(vertices_path.name),
    )


def _one(where: Path, names: list[str], word: str) -> str:
    matches = [n for n in names if word in Path(n).name.lower() and n.lower().endswith(".csv")]
    if len(matches) != 1:
        raise ImportFailed(
            f"{where.name}: expected exactly one *{word}*.csv, found "
            f"{len(matches)} ({', '.join(matches) or 'none'})"
        )
    return matches[0]


def _region_name(vertices_name: str) -> str:
    stem = Path(vertices_name).stem
    for suffix in ("_vertices", "-vertices", "vertices"):
        stem = stem.removesuffix(suffix)
    return stem.strip("_-") or "gridkit"


def read_vertices(label: str, source, report: ImportReport) -> list[dict]:
    """Substation records from the vertex table (skipping rows without a usable point)."""
    frame = read_table(source, label=label, required=VERTEX_COLUMNS)
    if WKT not in frame.columns and not {"lon", "lat"} <= set(frame.columns):
        raise ImportFailed(f"{label}: missing required column(s): {WKT} (or lon and lat)")
    records, seen = [], set()
    for row in frame.to_dict("records"):
        ref = f"gridkit:{row['v_id'].strip()}"
        if ref == "gridkit:" or ref in seen:
            report.skip("substation", ref, "duplicate v_id" if ref in seen else "no v_id")
            continue
        seen.add(ref)
        location = _point(row, ref, report)
        if location is None:
            continue
        records.append(
            {
                "name": _distinct(row.get("name", ""), 200),
                "operator": _distinct(row.get("operator", ""), 200),
                "ref": _distinct(row.get("ref", ""), 100),
                "source": "gridkit",
                "source_id": ref,
                "location": location,
                "voltages_kv": read_voltages_kv(
                    row.get("voltage", ""), kind="substation", ref=ref, report=report, ignore_zero=True
                ),
                "tags": _tags(row, ("v_id", "lon", "lat", WKT)),
            }
        )
    return records


def _point(row: dict, ref: str, report: ImportReport) -> Point | None:
    text = (row.get(WKT) or "").strip()
    if text:
        try:
            geometry = GEOSGeometry(text)
        except (GEOSException, ValueError):
            report.skip("substation", ref, f"unreadable {WKT}: {text[:80]!r}")
            return None
        geometry.srid = geometry.srid or 4326
        return geometry
    lon, lat = parse_float(row.get("lon")), parse_float(row.get("lat"))
    if lon is None or lat is None:
        report.skip("substation", ref, "no coordinates (lon/lat missing or not numbers)")
        return None
    return Point(lon, lat, srid=4326)


def read_links(label: str, source, vertices: dict[str, Point], report: ImportReport) -> list[dict]:
    """Line records from the link table; ``_v1``/``_v2`` hold the endpoint vertex source ids."""
    frame = read_table(source, label=label, required=LINK_COLUMNS)
    records, seen = [], set()
    for row in frame.to_dict("records"):
        ref = f"gridkit:link/{row['l_id'].strip()}"
        if ref == "gridkit:link/" or ref in seen:
            report.skip("line", ref, "duplicate l_id" if ref in seen else "no l_id")
            continue
        seen.add(ref)
        ends = [f"gridkit:{row['v_id_1'].strip()}", f"gridkit:{row['v_id_2'].strip()}"]
        unknown = [e for e in ends if e not in vertices]
        if unknown:
            report.skip(
                "line",
                ref,
                f"endpoint vertex {', '.join(unknown)} not imported "
                "(missing from the vertex table or skipped)",
            )
            continue
        geometry = _line_geometry(row, ref, [vertices[e] for e in ends], report)
        kind = "cable" if row.get("type", "").strip().lower() == "cable" else "line"
        frequencies = [parse_float(p) for p in row.get("frequency", "").split(";") if p.strip()]
        records.append(
            {
                "name": _distinct(row.get("name", ""), 200),
                "operator": _distinct(row.get("operator", ""), 200),
                "ref": _distinct(row.get("ref", ""), 100),
                "source": "gridkit",
                "source_id": ref,
                "geometry": geometry,
                "kind": kind,
                "voltages_kv": read_voltages_kv(
                    row.get("voltage", ""), kind="line", ref=ref, report=report, ignore_zero=True
                ),
                "circuits": circuits_from_cables(row.get("cables", "")),
                "tags": _tags(row, ("l_id", WKT)),
                "_ends": ends,
                "_row": row,
                "_dc": bool(frequencies) and all(f == 0 for f in frequencies),
            }
        )
    return records


def _line_geometry(row: dict, ref: str, ends: list[Point], report: ImportReport) -> GEOSGeometry:
    text = (row.get(WKT) or "").strip()
    if text:
        try:
            geometry = GEOSGeometry(text)
            geometry.srid = geometry.srid or 4326
            return geometry
        except (GEOSException, ValueError):
            report.warn("line", ref, f"unreadable {WKT} {text[:60]!r}; drawn straight between its vertices")
    return LineString(ends[0].coords, ends[1].coords, srid=4326)


def electrical_fields(record: dict, existing: Line | None) -> dict:
    """Electrical parameters for a line record: from the file, else defaults by voltage level.

    A field an operator changed away from the default written last time is left out (so it is
    kept); ``tags["electrical"]`` says per field where the value came from and
    ``tags["electrical_defaults"]`` records the default type and values offered.
    """
    row, fields, origin = record["_row"], {}, {}
    for column, (name, factor) in FILE_ELECTRICAL.items():
        value = parse_float(row.get(column))
        if value is not None and value >= 0:
            fields[name], origin[name] = value * factor, "file"
    voltage_kv = max(record["voltages_kv"], default=None)
    line_type = None if record["_dc"] else default_line_type(voltage_kv, kind=record["kind"])
    if line_type is not None:
        offered = {k: v for k, v in asdict(line_type).items() if k in ELECTRICAL_FIELDS}
        previous = (existing.tags.get("electrical_defaults", {}) if existing else {}) or {}
        for name in ELECTRICAL_FIELDS:
            if name in fields:
                continue
            current = getattr(existing, name) if existing else None
            last_default = previous.get(name)
            if current is None or (last_default is not None and math.isclose(current, last_default)):
                fields[name], origin[name] = offered[name], "default"
            else:
                origin[name] = "operator"
        record["tags"]["electrical_defaults"] = {"type": line_type.name, **offered}
    if origin:
        record["tags"]["electrical"] = origin
    return fields


def import_gridkit(
    path: str | Path,
    links: str | Path | None = None,
    *,
    region_name: str | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> dict:
    """Import (or re-import) a GridKit vertex/link pair into the twin; return the report.

    Parameters
    ----------
    path
        A folder or ``.zip`` with ``*vertices*.csv`` and ``*links*.csv``, or the vertex CSV.
    links
        The link CSV, when ``path`` is the vertex CSV and the names do not pair up.
    region_name
        Region of the imported assets; default the vertex file's name without ``_vertices``
        (``japan_highvoltage``). GridKit ids are unique only within one dataset, so ids already
        held by another region are refused rather than taken over.
    strict
        Roll everything back on any skipped row or warning.
    progress
        ``progress(fraction, message)`` callback.

    Raises
    ------
    ImportFailed
        With nothing written, for missing or unreadable files, missing columns, ids of another
        region, or under ``strict`` any skipped row or warning.
    """
    progress = progress or no_progress
    (vertex_label, vertex_source), (link_label, link_source), default_region = gridkit_tables(path, links)
    report = ImportReport(source=f"{vertex_label} + {link_label}")
    progress(0.05, f"reading {vertex_label}")
    substations = read_vertices(vertex_label, vertex_source, report)
    points = {r["source_id"]: r["location"] for r in substations}
    progress(0.2, f"reading {link_label}")
    lines = read_links(link_label, link_source, points, report)
    region_name = region_name or default_region
    if len(region_name) > 100:
        raise ImportFailed("region name must be at most 100 characters")
    report.extra.update(
        {
            "vertex_types": dict(
                Counter(r["tags"].get("gridkit:typ", "") for r in substations).most_common()
            ),
            "length_km_in_file": round(
                sum(parse_float(r["_row"].get("length_m")) or 0.0 for r in lines) / 1000.0, 1
            ),
            "dc_links": sorted(r["source_id"] for r in lines if r["_dc"]),
        }
    )
    progress(0.3, "writing substations")
    with import_transaction(report, strict=strict):
        region, _ = Region.objects.get_or_create(name=region_name)
        _refuse_foreign_ids(region, Substation, [r["source_id"] for r in substations])
        _refuse_foreign_ids(region, Line, [r["source_id"] for r in lines])
        scope = Q(source="gridkit", region=region)
        subs = sync_records(
            Substation,
            valid_records(Substation, substations, kind="substation", report=report, region=region),
            kind="substation",
            report=report,
            scope=scope,
        )
        progress(0.6, "writing lines")
        existing = {
            o.source_id: o for o in Line.objects.filter(source_id__in=[r["source_id"] for r in lines])
        }
        linked = []
        for record in lines:
            ends = [subs.get(e) for e in record["_ends"]]
            if None in ends:  # the vertex row was read but could not be stored
                report.skip(
                    "line",
                    record["source_id"],
                    f"endpoint vertex {record['_ends'][ends.index(None)]} was not stored (see its skip)",
                )
                continue
            record["from_substation_id"], record["to_substation_id"] = (e.pk for e in ends)
            record.update(electrical_fields(record, existing.get(record["source_id"])))
            linked.append(record)
        stored = sync_records(
            Line,
            valid_records(Line, linked, kind="line", report=report, region=region),
            kind="line",
            report=report,
            scope=scope,
        )
        report.extra["electrical_parameters"] = dict(
            Counter(
                ",".join(sorted(set(r["tags"].get("electrical", {}).values()))) or "none"
                for r in linked
                if r["source_id"] in stored
            ).most_common()
        )
        report.extra["length_km_geometry"] = round(sum(line.length_m for line in stored.values()) / 1000.0, 1)
        report.extra["topology"] = _topology(subs, stored)
        report.extra["region"] = region_name
        finish_region(
            region, source_file=report.source, report=report, bbox=extent(s.location for s in subs.values())
        )
    progress(1.0, "done")
    return report.as_dict()


def _refuse_foreign_ids(region: Region, model, ids: list[str]) -> None:
    taken = model.objects.filter(source_id__in=ids).exclude(region=region).exclude(region=None)
    clash = taken.select_related("region").first()
    if clash is not None:
        raise ImportFailed(
            f"{taken.count()} {model._meta.verbose_name} id(s) of this file (e.g. {clash.source_id}) "
            f"belong to region {clash.region.name!r}; GridKit ids are unique only within one "
            f"dataset: re-import it as region {clash.region.name!r}, or remove that region first"
        )


def _topology(subs: dict[str, Substation], lines: dict[str, Line]) -> dict:
    graph = nx.Graph()
    graph.add_nodes_from(s.pk for s in subs.values())
    graph.add_edges_from(
        (line.from_substation_id, line.to_substation_id)
        for line in lines.values()
        if line.from_substation_id and line.to_substation_id
    )
    components = sorted((len(c) for c in nx.connected_components(graph)), reverse=True)
    return {
        "components": len(components),
        "largest_component_substations": components[0] if components else 0,
        "isolated_substations": sum(1 for n in graph.nodes if graph.degree(n) == 0),
    }


def import_gridkit_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path": folder/zip/vertex CSV, "links": optional CSV, "region", "strict"}``."""
    options = job_options(parameters, required=["path"], optional=["links"])
    links = import_job_path(parameters["links"]) if parameters.get("links") else None
    return import_gridkit(options.pop("path"), links, progress=progress, **options)
