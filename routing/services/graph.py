"""The flight graph of a region: roads (drones follow roads) plus power-line corridors.

:func:`build_flight_graph` reads the region's local OSM file (never the network), keeps its
highway ways, and lets osmnx build the road graph from them (``ox.graph_from_xml`` on a filtered
``.osm`` file, bidirectional: a drone ignores one-way streets). The graph is projected to the
region's UTM zone. The twin's overhead lines become corridor edges (the "drone highway"), split
at every vertex (the towers) and at each span's midpoint, and joined to the nearest road node
within ``connect_radius_m`` of each tower. Every edge carries

* ``geometry`` — a shapely LineString in metres, oriented from ``u`` to ``v``;
* ``length`` — its geometry's length in metres (so a path's length is the sum of its edges);
* ``kind`` — ``road``, ``corridor`` or ``connector``;
* ``cost`` — ``length`` (× ``corridor_weight`` on corridors; < 1 prefers corridors), plus
  ``climb_weight`` × metres climbed when a DEM gives node elevations.

The built graph is pickled under the graph folder and recorded as a
:class:`~routing.models.FlightGraph` whose ``inputs_digest`` hashes every input (the OSM file,
the lines' geometry, the options, the DEM): a build with unchanged inputs reuses the cached
file, any change builds anew. No-fly zones are applied when planning (see
:mod:`routing.services.airspace`), so editing a zone never needs a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import shapely
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from pyproj import Transformer
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from routing.models import FlightGraph
from routing.services.errors import RoutingInputError
from twin.jobs import check_parameters
from twin.models import Line, LineKind, Region
from twin.services.geometry import utm_srid

logger = logging.getLogger(__name__)

GRAPH_VERSION = 3
ProgressFn = Callable[[float, str], None]
# highway values that are no way to follow (plans, areas, inside buildings)
HIGHWAY_SKIP = {"proposed", "construction", "platform", "abandoned", "razed", "disused",
                "bus_stop", "elevator", "corridor", "rest_area", "services"}
DEFAULT_OPTIONS = {
    "corridor_weight": 0.7,
    "connect_radius_m": 150.0,
    "climb_weight": 2.0,
    "dem_path": None,
}


def _no_progress(fraction: float, message: str = "") -> None:
    """Progress callback used when the caller passes none."""


def graph_dir() -> Path:
    """Where built graphs are cached: ``settings.ROUTING_GRAPH_DIR`` or ``MEDIA_ROOT/routing/graphs``."""
    folder = Path(getattr(settings, "ROUTING_GRAPH_DIR", None)
                  or Path(settings.MEDIA_ROOT) / "routing" / "graphs")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def get_region(name_or_region: str | Region) -> Region:
    """The region named ``name`` (case-insensitive), or a clear error naming the known ones."""
    if isinstance(name_or_region, Region):
        return name_or_region
    region = Region.objects.filter(name__iexact=str(name_or_region)).first()
    if region is None:
        known = ", ".join(Region.objects.values_list("name", flat=True)) or "none"
        raise RoutingInputError(f"unknown region {name_or_region!r} (known: {known})")
    return region


def region_osm_file(region: Region, osm_path: str | Path | None = None) -> Path:
    """The local OSM extract a region was imported from.

    ``Region.source_file`` holds the region's own copy of it, relative to ``MEDIA_ROOT`` (kept
    there by ``import_osm``, see :func:`twin.ingest.sources.keep_source_file`); for a region
    imported before copies were kept, it holds the file's name, looked up under
    ``settings.IMPORT_ROOTS``. Nothing outside those folders is read unless ``osm_path`` (the
    command line's choice) names it.
    """
    if osm_path:
        path = Path(osm_path)
        if not path.is_file():
            raise RoutingInputError(f"{path}: no such OSM file")
        return path
    if not region.source_file:
        raise RoutingInputError(f"region {region.name!r} has no source OSM file recorded; "
                                "import it with import_osm first")
    media = Path(settings.MEDIA_ROOT).resolve()
    kept = (media / region.source_file).resolve()
    if kept.is_relative_to(media) and kept.is_file():
        return kept
    name = Path(region.source_file).name
    for root in settings.IMPORT_ROOTS if name else []:
        for candidate in sorted(Path(root).rglob(name)):
            if candidate.is_file():
                return candidate
    raise RoutingInputError(f"the OSM file {region.source_file!r} of region {region.name!r} "
                            f"was not found under {', '.join(map(str, settings.IMPORT_ROOTS))}; "
                            f"import it again (python manage.py import_osm FILE --region "
                            f"{region.name})")


def _file_identity(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def corridor_lines(region: Region) -> list[tuple[int, shapely.Geometry]]:
    """The region's overhead lines (id, shapely geometry in EPSG:4326); cables are not flown."""
    rows = (Line.objects.filter(region=region, missing_since__isnull=True)
            .exclude(kind=LineKind.CABLE).order_by("id").values_list("id", "geometry"))
    return [(pk, shapely.from_wkb(bytes(geom.wkb))) for pk, geom in rows]


def inputs_digest(region: Region, options: dict, osm_file: Path) -> str:
    """A digest of everything the graph of ``region`` is built from."""
    h = hashlib.sha256()
    dem = options.get("dem_path")
    h.update(json.dumps({
        "version": GRAPH_VERSION, "osm": _file_identity(osm_file),
        "options": {k: options[k] for k in sorted(options)},
        "dem": _file_identity(Path(dem)) if dem else None,
    }, sort_keys=True, default=str).encode())
    for pk, geom in corridor_lines(region):
        h.update(str(pk).encode())
        h.update(shapely.to_wkb(geom))
    return h.hexdigest()


def check_graph_options(options: dict) -> dict:
    """The graph build options with their defaults; raises on an unknown or bad one."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise RoutingInputError(f"unknown graph option(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(sorted(DEFAULT_OPTIONS))}")
    merged = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if v is not None}}
    try:
        merged["corridor_weight"] = float(merged["corridor_weight"])
        merged["connect_radius_m"] = float(merged["connect_radius_m"])
        merged["climb_weight"] = float(merged["climb_weight"])
    except (TypeError, ValueError) as exc:
        raise RoutingInputError("corridor_weight, connect_radius_m and climb_weight must be "
                                "numbers") from exc
    if not 0 < merged["corridor_weight"] <= 10:
        raise RoutingInputError("corridor_weight must be greater than 0 and at most 10")
    if not 0 < merged["connect_radius_m"] <= 5000:
        raise RoutingInputError("connect_radius_m must be greater than 0 and at most 5000")
    if merged["climb_weight"] < 0:
        raise RoutingInputError("climb_weight must not be negative")
    if merged["dem_path"]:
        dem = Path(str(merged["dem_path"]))
        if not dem.is_file():
            raise RoutingInputError(f"{dem}: no such DEM file")
        merged["dem_path"] = str(dem.resolve())
    return merged


# --- roads ------------------------------------------------------------------------------------


def _write_highway_xml(osm_file: Path, out: Path) -> int:
    """Write the highway ways of ``osm_file`` and their nodes as ``.osm`` XML; return the way count."""
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    needed: set[int] = set()
    for way in osmium.FileProcessor(str(osm_file), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")):
        tags = way.tags
        if tags.get("highway") in HIGHWAY_SKIP or tags.get("area") == "yes":
            continue
        refs = [n.ref for n in way.nodes]
        if len(refs) < 2:
            continue
        ways.append((way.id, refs, {k: tags[k] for k in ("highway", "name") if k in tags}))
        needed.update(refs)
    with out.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for node in osmium.FileProcessor(str(osm_file), osmium.osm.NODE):
            if node.id in needed and node.location.valid():
                f.write(f'<node id="{node.id}" lat="{node.location.lat:.7f}" '
                        f'lon="{node.location.lon:.7f}"/>\n')
        for way_id, refs, tags in ways:
            f.write(f'<way id="{way_id}">')
            f.write("".join(f'<nd ref="{r}"/>' for r in refs))
            f.write("".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()))
            f.write("</way>\n")
        f.write("</osm>\n")
    return len(ways)


def read_road_graph(osm_file: Path, progress: ProgressFn = _no_progress) -> nx.MultiDiGraph:
    """The osmnx road graph (EPSG:4326, bidirectional, simplified) of an OSM extract.

    Cached on disk by the file's identity (path, size, modification time).
    """
    key = hashlib.sha256(json.dumps([GRAPH_VERSION, _file_identity(osm_file)]).encode()).hexdigest()
    cached = graph_dir() / f"roads-{key[:20]}.pickle"
    if cached.is_file():
        with cached.open("rb") as f:
            return pickle.load(f)
    progress(0.05, "reading highway ways")
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "highways.osm"
        if _write_highway_xml(osm_file, xml) == 0:
            raise RoutingInputError(f"{osm_file.name} has no highway ways to build a graph from")
        progress(0.15, "building the road graph (osmnx)")
        graph = ox.graph_from_xml(xml, bidirectional=True, simplify=True, retain_all=True)
    tmp_path = cached.with_suffix(".tmp")
    with tmp_path.open("wb") as f:
        pickle.dump(graph, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp_path.replace(cached)
    return graph


# --- assembling the flight graph --------------------------------------------------------------


def _road_edges(roads: nx.MultiDiGraph, flight: nx.MultiDiGraph) -> None:
    for node, data in roads.nodes(data=True):
        flight.add_node(node, x=float(data["x"]), y=float(data["y"]),
                        lon=float(data["lon"]), lat=float(data["lat"]), kind="road")
    for u, v, data in roads.edges(data=True):
        geom = data.get("geometry")
        if geom is None:
            geom = LineString([(flight.nodes[u]["x"], flight.nodes[u]["y"]),
                               (flight.nodes[v]["x"], flight.nodes[v]["y"])])
        highway = data.get("highway", "")
        if isinstance(highway, list):
            highway = highway[0]
        _add_edge(flight, u, v, geom, kind="road", weight=1.0, highway=highway)


def _add_edge(graph: nx.MultiDiGraph, u, v, geom: LineString, *, kind: str, weight: float,
              **extra) -> None:
    length = float(geom.length)
    graph.add_edge(u, v, geometry=geom, length=length, cost=length * weight, kind=kind, **extra)


def _corridor_edges(graph: nx.MultiDiGraph, lines: list[tuple[int, shapely.Geometry]],
                    to_utm: Transformer, to_wgs: Transformer, weight: float) -> list:
    """Add corridor nodes and edges (both ways); return the tower/vertex node ids."""
    index: dict[tuple[int, int], int] = {}
    next_id = [-1]

    def node_at(x: float, y: float, kind: str) -> int:
        key = (round(x * 100), round(y * 100))
        if key not in index:
            lon, lat = to_wgs.transform(x, y)
            index[key] = next_id[0]
            graph.add_node(next_id[0], x=x, y=y, lon=lon, lat=lat, kind=kind)
            next_id[0] -= 1
        return index[key]

    vertices: set[int] = set()
    for line_id, geom in lines:
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            xs, ys = to_utm.transform(*np.asarray(part.coords)[:, :2].T)
            for i in range(len(xs) - 1):
                a, b = (float(xs[i]), float(ys[i])), (float(xs[i + 1]), float(ys[i + 1]))
                if a == b:
                    continue
                mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
                na, nm, nb = node_at(*a, "corridor"), node_at(*mid, "span"), node_at(*b, "corridor")
                vertices.update((na, nb))
                for p, q, pp, qq in ((na, nm, a, mid), (nm, nb, mid, b)):
                    _add_edge(graph, p, q, LineString([pp, qq]), kind="corridor", weight=weight,
                              line_id=line_id)
                    _add_edge(graph, q, p, LineString([qq, pp]), kind="corridor", weight=weight,
                              line_id=line_id)
    return sorted(vertices)


def _connect(graph: nx.MultiDiGraph, corridor_nodes: list[int], radius_m: float) -> int:
    """Join each corridor vertex to its nearest road node within ``radius_m``; return the count."""
    road_nodes = [n for n, k in graph.nodes(data="kind") if k == "road"]
    if not road_nodes or not corridor_nodes:
        return 0
    road_xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in road_nodes])
    tree = cKDTree(road_xy)
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in corridor_nodes])
    dist, idx = tree.query(xy, distance_upper_bound=radius_m)
    count = 0
    for node, d, i in zip(corridor_nodes, dist, idx, strict=True):
        if not np.isfinite(d):
            continue
        road = road_nodes[i]
        a, b = (graph.nodes[node]["x"], graph.nodes[node]["y"]), tuple(road_xy[i])
        if d == 0:
            b = (b[0] + 0.01, b[1])  # coincident: keep a non-degenerate 1 cm hop
        _add_edge(graph, node, road, LineString([a, b]), kind="connector", weight=1.0)
        _add_edge(graph, road, node, LineString([b, a]), kind="connector", weight=1.0)
        count += 1
    return count


def add_elevations(graph: nx.MultiDiGraph, dem_path: str | Path, *, climb_weight: float) -> dict:
    """Sample a DEM GeoTIFF at every node (``elevation_m``) and add climb cost to the edges.

    The DEM may be in any CRS (nodes are transformed to it). Nodes outside the raster or on
    nodata get no elevation, and their edges no climb cost. Returns counts for the graph's stats.
    """
    import rasterio

    nodes = list(graph.nodes)
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes])
    with rasterio.open(dem_path) as dem:
        to_dem = Transformer.from_crs(graph.graph["crs"], dem.crs, always_xy=True)
        dx, dy = to_dem.transform(xy[:, 0], xy[:, 1])
        values = np.array([v[0] for v in dem.sample(zip(dx, dy, strict=True))], dtype=float)
        left, bottom, right, top = dem.bounds
        outside = (dx < left) | (dx > right) | (dy < bottom) | (dy > top)
        if dem.nodata is not None:
            outside |= values == dem.nodata
    values[outside] = np.nan
    sampled = 0
    for node, value in zip(nodes, values, strict=True):
        if np.isfinite(value):
            graph.nodes[node]["elevation_m"] = float(value)
            sampled += 1
    for u, v, data in graph.edges(data=True):
        zu, zv = graph.nodes[u].get("elevation_m"), graph.nodes[v].get("elevation_m")
        if zu is not None and zv is not None:
            data["climb_m"] = max(0.0, zv - zu)
            data["cost"] += climb_weight * data["climb_m"]
    return {"nodes_with_elevation": sampled, "nodes_without_elevation": len(nodes) - sampled}


def assemble_flight_graph(roads: nx.MultiDiGraph, lines: list[tuple[int, shapely.Geometry]], *,
                          srid: int, corridor_weight: float, connect_radius_m: float,
                          dem_path: str | None = None, climb_weight: float = 0.0) -> nx.MultiDiGraph:
    """Merge an osmnx road graph (EPSG:4326) and power lines into one projected flight graph."""
    crs = f"EPSG:{srid}"
    projected = ox.project_graph(roads, to_crs=crs)
    for node, data in projected.nodes(data=True):
        data["lon"], data["lat"] = roads.nodes[node]["x"], roads.nodes[node]["y"]
    flight = nx.MultiDiGraph(crs=crs)
    _road_edges(projected, flight)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    towers = _corridor_edges(flight, lines, to_utm, to_wgs, corridor_weight)
    flight.graph["connectors"] = _connect(flight, towers, connect_radius_m)
    if dem_path:
        flight.graph["elevation"] = add_elevations(flight, dem_path, climb_weight=climb_weight)
    return flight


def graph_stats(graph: nx.MultiDiGraph) -> dict:
    """Edge counts per kind, total lengths and component sizes, for the FlightGraph row."""
    kinds: dict[str, int] = {}
    lengths: dict[str, float] = {}
    for _, _, data in graph.edges(data=True):
        kinds[data["kind"]] = kinds.get(data["kind"], 0) + 1
        lengths[data["kind"]] = lengths.get(data["kind"], 0.0) + data["length"]
    components = sorted((len(c) for c in nx.weakly_connected_components(graph)), reverse=True)
    return {"edges_by_kind": kinds,
            "length_km_by_kind": {k: round(v / 2000, 1) for k, v in lengths.items()},  # both ways
            "components": len(components), "largest_component_nodes": components[0] if components else 0,
            **({"elevation": graph.graph["elevation"]} if "elevation" in graph.graph else {})}


def build_flight_graph(region: str | Region, *, options: dict | None = None,
                       osm_path: str | Path | None = None, import_no_fly: bool = True,
                       no_fly_options: dict | None = None, force: bool = False,
                       progress: ProgressFn | None = None) -> FlightGraph:
    """Build the flight graph of ``region``, or reuse the cached one when no input changed.

    Parameters
    ----------
    region
        A region or its name.
    options
        ``corridor_weight`` (default 0.7; < 1 prefers corridors), ``connect_radius_m`` (150),
        ``dem_path`` (a GeoTIFF; node elevations and climb cost), ``climb_weight`` (2.0 cost
        metres per metre climbed).
    osm_path
        The OSM extract to read; by default the region's own source file.
    import_no_fly
        Also (re-)import the region's no-fly zones from the same OSM file.
    no_fly_options
        Options of :func:`routing.services.airspace.import_no_fly_zones` (``radius_m`` …).
    force
        Rebuild even when a graph with the same inputs is cached.
    progress
        ``progress(fraction, message)`` callback.

    Returns
    -------
    FlightGraph
        The (new or reused) cache record; load the graph itself with :func:`load_graph`.

    Raises
    ------
    RoutingInputError
        Unknown region, missing OSM file or DEM, bad options, no roads.
    """
    progress = progress or _no_progress
    region = get_region(region)
    opts = check_graph_options(options or {})
    osm_file = region_osm_file(region, osm_path)
    if import_no_fly:
        from routing.services.airspace import import_no_fly_zones

        progress(0.01, "importing no-fly zones")
        import_no_fly_zones(region, osm_file, **(no_fly_options or {}))
    digest = inputs_digest(region, opts, osm_file)
    existing = FlightGraph.objects.filter(region=region, inputs_digest=digest).first()
    if existing and not force and Path(existing.path).is_file():
        progress(1.0, "graph unchanged: cached")
        return existing
    started = time.monotonic()
    roads = read_road_graph(osm_file, progress)
    progress(0.6, "adding power-line corridors")
    lines = corridor_lines(region)
    lons = [d["x"] for _, d in roads.nodes(data=True)]
    lats = [d["y"] for _, d in roads.nodes(data=True)]
    srid = utm_srid(Point(float(np.median(lons)), float(np.median(lats)), srid=4326))
    graph = assemble_flight_graph(roads, lines, srid=srid,
                                  corridor_weight=opts["corridor_weight"],
                                  connect_radius_m=opts["connect_radius_m"],
                                  dem_path=opts["dem_path"], climb_weight=opts["climb_weight"])
    graph.graph.update(region=region.name, inputs_digest=digest)
    progress(0.9, "saving the graph")
    path = graph_dir() / f"flight-{region.pk}-{digest[:20]}.pickle"
    tmp_path = path.with_suffix(".tmp")
    with tmp_path.open("wb") as f:
        pickle.dump(graph, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp_path.replace(path)
    stats = {**graph_stats(graph), "connectors": graph.graph["connectors"],
             "lines": len(lines), "build_s": round(time.monotonic() - started, 2),
             "osm_file": str(osm_file)}
    with transaction.atomic():
        record, _ = FlightGraph.objects.update_or_create(
            region=region, inputs_digest=digest,
            defaults={"path": str(path), "crs": graph.graph["crs"], "options": opts,
                      "node_count": graph.number_of_nodes(), "edge_count": graph.number_of_edges(),
                      "stats": stats},
        )
    progress(1.0, "graph built")
    logger.info("flight graph of %s: %s nodes, %s edges", region, record.node_count,
                record.edge_count)
    return record


_LOADED: dict[str, nx.MultiDiGraph] = {}


def load_graph(record: FlightGraph) -> nx.MultiDiGraph:
    """The pickled graph of a :class:`FlightGraph` (kept in memory per process once loaded)."""
    graph = _LOADED.get(record.path)
    if graph is None:
        try:
            with open(record.path, "rb") as f:
                graph = pickle.load(f)
        except OSError as exc:
            raise RoutingInputError(f"the cached flight graph of {record.region} is missing "
                                    f"({record.path}); run build_flight_graph again") from exc
        _LOADED.clear()
        _LOADED[record.path] = graph
    return graph


def current_graph(region: Region) -> FlightGraph:
    """The newest built flight graph of ``region``, or an error saying to build one."""
    record = FlightGraph.objects.filter(region=region).order_by("-built_at", "-id").first()
    if record is None or not Path(record.path).is_file():
        raise RoutingInputError(f"region {region.name!r} has no flight graph yet; build it first "
                                f"(python manage.py build_flight_graph --region {region.name})")
    return record


NO_FLY_OPTIONS = ("radius_m", "military_buffer_m", "military_point_radius_m")


def check_graph_job_parameters(parameters: dict) -> dict:
    """Check the parameters of a ``routing.build_flight_graph`` job (the API checks them before
    it queues one); returns them with the DEM path resolved. A DEM named by a job must be inside
    the import folders (``settings.IMPORT_ROOTS``), like every file a job reads."""
    from twin.ingest.base import import_job_path

    check_parameters(parameters, allowed={"options", "force", "no_fly", "import_no_fly"},
                     required=["region"], error=RoutingInputError)
    options = dict(parameters.get("options") or {})
    if options.get("dem_path"):
        options["dem_path"] = str(import_job_path(str(options["dem_path"])))
    check_graph_options(options)
    no_fly = parameters.get("no_fly") or {}
    if not isinstance(no_fly, dict):
        raise RoutingInputError("no_fly must be an object")
    check_parameters(no_fly, allowed=NO_FLY_OPTIONS, error=RoutingInputError)
    for name, value in no_fly.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise RoutingInputError(f"no_fly.{name} must be a number of metres")
    return {**parameters, "options": options, "no_fly": no_fly}


def build_flight_graph_job(parameters: dict, progress: ProgressFn) -> dict:
    """Job ``routing.build_flight_graph``: ``{"region": name, "options": {...}, "force": false,
    "no_fly": {"radius_m": 500, ...}}``; returns the graph's summary."""
    parameters = check_graph_job_parameters(parameters)
    record = build_flight_graph(parameters["region"], options=parameters.get("options") or {},
                                force=bool(parameters.get("force", False)),
                                import_no_fly=bool(parameters.get("import_no_fly", True)),
                                no_fly_options=parameters.get("no_fly") or None, progress=progress)
    return graph_summary(record)


def graph_summary(record: FlightGraph) -> dict:
    """JSON-ready description of a cached graph."""
    return {"graph": record.pk, "region": record.region.name, "inputs_digest": record.inputs_digest,
            "crs": record.crs, "nodes": record.node_count, "edges": record.edge_count,
            "options": record.options, "stats": record.stats,
            "built_at": record.built_at.isoformat() if record.built_at else None}
