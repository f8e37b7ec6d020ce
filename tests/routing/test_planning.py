"""Drone flight planning on the real Liechtenstein demo region: graph, plans, airspace, exports.

The region is imported and its flight graph built once for the module; a reference plan (every
support, 4 drones at substation ports, 12 km range) is solved once and checked from all sides.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.core.management import CommandError, call_command
from django.test import override_settings
from pymavlink import mavutil, mavwp
from pyproj import Transformer

from routing.models import DronePort, FlightGraph, FlightPlan, FlightPlanStatus, NoFlyZone
from routing.services.errors import RoutingInputError
from routing.services.exports import qgc_plan, write_exports
from routing.services.graph import build_flight_graph, current_graph, load_graph
from routing.services.matrix import graph_arrays
from routing.services.planning import (
    DroneSpec,
    plan_flights,
    plan_flights_from_parameters,
    substation_ports,
)
from routing.services.targets import Target, resolve_targets, span_targets
from tests.conftest import REPO
from twin.ingest.osm import import_osm
from twin.models import EVSE, Charger, Connector, Line, Region, Road, Substation, Support

pytestmark = pytest.mark.django_db
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
RANGE_M = 12_000.0
CRS = "EPSG:32632"
TO_UTM = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


def utm(geom) -> shapely.Geometry:
    """A GEOS/shapely geometry in EPSG:4326 → shapely in UTM 32N metres."""
    shape = shapely.from_wkb(bytes(geom.wkb)) if hasattr(geom, "wkb") and not isinstance(
        geom, shapely.Geometry) else geom
    return shapely.transform(shape, lambda c: np.column_stack(TO_UTM.transform(c[:, 0], c[:, 1])))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo region imported, its graph built, and the reference plan solved (committed)."""
    graphs = tmp_path_factory.mktemp("graphs")
    with override_settings(ROUTING_GRAPH_DIR=str(graphs)), django_db_blocker.unblock():
        import_osm(DEMO, region_name="liechtenstein")
        region = Region.objects.get(name="liechtenstein")
        record = build_flight_graph(region)
        plan = plan_flights_from_parameters({
            "region": "Liechtenstein", "targets": {"kind": "supports"},
            "drone": {"range_m": RANGE_M, "service_time_s": 30}, "drones": 4,
            "ports": "substations", "options": {"time_budget_s": 3}})
        yield {"region": region, "graph": record, "plan": plan, "graphs": graphs}
        for model in (FlightPlan, DronePort, NoFlyZone, FlightGraph, Support, Line, Substation,
                      Charger, EVSE, Connector, Road, Region):
            model.objects.all().delete()
            if hasattr(model, "history"):
                model.history.model.objects.all().delete()


@pytest.fixture
def graph_dir(demo, settings):
    settings.ROUTING_GRAPH_DIR = str(demo["graphs"])


def test_flight_graph_joins_roads_and_corridors(demo, graph_dir):
    record = demo["graph"]
    assert record.crs == CRS and record.stats["lines"] == 11 + 4  # overhead lines, no cables
    kinds = record.stats["edges_by_kind"]
    assert kinds["road"] > 20_000 and kinds["corridor"] > 600 and kinds["connector"] > 50
    assert record.stats["largest_component_nodes"] > 0.95 * record.node_count
    graph = load_graph(record)
    for _, _, data in list(graph.edges(data=True))[::50]:
        assert data["length"] == pytest.approx(data["geometry"].length)
        expected = data["length"] * (0.7 if data["kind"] == "corridor" else 1.0)
        assert data["cost"] == pytest.approx(expected)
    # unchanged inputs reuse the cache; a different corridor weight is another graph
    assert build_flight_graph("liechtenstein", import_no_fly=False).pk == record.pk
    other = build_flight_graph("liechtenstein", options={"corridor_weight": 1.0}, import_no_fly=False)
    assert other.pk != record.pk and other.inputs_digest != record.inputs_digest
    other.delete()


def test_no_fly_zones_from_osm(demo):
    balzers = NoFlyZone.objects.get(name="Heliport Balzers")
    assert balzers.kind == "heliport" and balzers.source == "osm" and balzers.buffer_m == 500
    # the heliport's area (about 100 m across) buffered by 500 m
    zone = utm(balzers.geometry)
    assert np.pi * 500**2 < zone.area < 1.2e6
    assert zone.exterior.distance(zone.centroid) if zone.geom_type == "Polygon" else \
        zone.boundary.distance(zone.centroid) >= 500
    assert NoFlyZone.objects.filter(kind="helipad").count() == 4


def test_overlapping_regions_each_keep_their_zones(demo):
    from routing.services.airspace import active_zones, import_no_fly_zones

    region = demo["region"]
    other = Region.objects.create(name="Oberland", source_file=region.source_file)
    try:
        report = import_no_fly_zones(other, DEMO)
        assert report["created"] == NoFlyZone.objects.filter(region=region, source="osm").count()
        for each in (region, other):
            assert "Heliport Balzers" in {z.name for z in active_zones(each, 60)}
    finally:
        NoFlyZone.objects.filter(region=other).delete()
        other.delete()


def test_every_target_visited_once_or_skipped_with_a_reason(demo):
    plan = demo["plan"]
    flights = list(plan.flights.all())
    visited = [t for f in flights for t in f.targets]
    skipped = [s["target"] for s in plan.skipped]
    assert len(visited) == len(set(visited))
    assert sorted(visited + skipped) == sorted(t["target"] for t in plan.targets)
    assert len(plan.targets) == Support.objects.count() == 186
    assert all(s["reason"] for s in plan.skipped)
    assert len(visited) > 100 and skipped  # the long 220 kV line runs out of range
    reasons = " ".join(s["reason"] for s in plan.skipped)
    assert "more than the usable range" in reasons and "Heliport Balzers" in reasons
    assert plan.total_length_m == pytest.approx(sum(f.length_m for f in flights))


def test_flights_start_and_end_at_a_port_within_range(demo):
    plan = demo["plan"]
    usable = RANGE_M * 0.8
    ports = {p.pk: p for p in plan.ports.all()}
    assert {f.port_id for f in plan.flights.all()} <= set(ports)
    for flight in plan.flights.all():
        path = utm(flight.path)
        port = utm(ports[flight.port_id].location)
        start, end = shapely.Point(path.coords[0]), shapely.Point(path.coords[-1])
        assert start.equals_exact(end, 1e-6), flight  # back where it took off
        assert start.distance(port) < 300  # the port's graph node
        assert 0 < flight.length_m <= usable
        wps = flight.waypoints
        assert (wps[0]["lon"], wps[0]["lat"]) == pytest.approx((wps[-1]["lon"], wps[-1]["lat"]))
        assert [w["target"] for w in wps if w["target"]] == flight.targets


def test_flight_geometry_follows_graph_edges(demo, graph_dir):
    plan = demo["plan"]
    arrays = graph_arrays(load_graph(demo["graph"]))
    tree = shapely.STRtree(arrays.geoms)
    for flight in plan.flights.all():
        path = utm(flight.path)
        assert path.is_valid and path.geom_type == "LineString"  # one continuous line
        assert path.length == pytest.approx(flight.length_m, abs=0.5)  # = sum of its edges
        coords = np.asarray(path.coords)
        mids = shapely.points((coords[1:] + coords[:-1]) / 2)
        hits, _ = tree.query(mids, predicate="dwithin", distance=0.01)
        assert set(hits) == set(range(len(mids))), "a segment leaves the graph's edges"


def test_no_flight_crosses_the_heliport_zone(demo):
    zone = utm(NoFlyZone.objects.get(name="Heliport Balzers").geometry)
    plan = demo["plan"]
    assert plan.solver["removed_edges"] > 0
    for flight in plan.flights.all():
        assert not utm(flight.path).intersects(zone), flight
    # the towers next to the heliport are skipped, not flown to
    inside = [s for s in plan.skipped if "Heliport Balzers" in s["reason"]]
    for skip in inside:
        support = Support.objects.get(pk=int(skip["target"].split(":")[1]))
        assert zone.covers(utm(support.location))


def test_pyvrp_beats_nearest_neighbour_under_the_same_constraints(demo, graph_dir):
    region = demo["region"]
    targets = resolve_targets(region, "spans", limit=80)
    ports = substation_ports(region)
    fleet = [(p, 2) for p in ports if p.name.startswith("Umspannwerk")]
    for port, _ in fleet:
        port.capacity = 2
    drone = DroneSpec(range_m=RANGE_M)
    vrp = plan_flights(region, targets, drone, fleet, options={"time_budget_s": 2},
                       skip_ports_in_zones=True)
    nn = plan_flights(region, targets, drone, fleet, options={"solver": "nearest-neighbour"},
                      skip_ports_in_zones=True)
    assert vrp.skipped == nn.skipped
    assert vrp.total_length_m < nn.total_length_m
    for plan in (vrp, nn):
        assert all(f.length_m <= drone.usable_range_m for f in plan.flights.all())


def test_spans_are_consecutive_supports_at_their_midpoint(demo):
    spans = span_targets(demo["region"])
    assert len(spans) > 150
    first = spans[0]
    a, b = (int(x) for x in first.key.split(":")[1].split("-"))
    sa, sb = Support.objects.get(pk=a), Support.objects.get(pk=b)
    mid = shapely.Point(first.lon, first.lat)
    da = utm(mid).distance(utm(sa.location))
    db = utm(mid).distance(utm(sb.location))
    assert da == pytest.approx(db, rel=0.05) and 10 < da < 1000  # halfway along one span
    assert set(sa.lines.all()) & set(sb.lines.all())


def test_too_small_a_fleet_says_how_many_more_flights(demo, graph_dir):
    region = demo["region"]
    targets = resolve_targets(region, "supports", limit=60)
    port = substation_ports(region)[0]
    plan = plan_flights(region, targets, DroneSpec(range_m=8000, service_time_s=30), [(port, 1)],
                        options={"time_budget_s": 1})
    flights = list(plan.flights.all())
    assert plan.status == FlightPlanStatus.NEEDS_MORE_FLIGHTS
    assert plan.extra_flights_needed == len(flights) - 1 >= 1
    assert sorted(f.sortie for f in flights) == list(range(1, len(flights) + 1))
    assert all(f.length_m <= 8000 * 0.8 for f in flights)
    visited = [t for f in flights for t in f.targets]
    assert len(visited) + len(plan.skipped) == 60 and len(set(visited)) == len(visited)


def test_exports_parse_and_load_in_pymavlink(demo, tmp_path):
    plan = demo["plan"]
    files = write_exports(plan, tmp_path)
    flights = list(plan.flights.all())
    assert len([f for f in files if f.suffix == ".plan"]) == len(flights)
    known = mavutil.mavlink.enums["MAV_CMD"]
    for flight in flights:
        doc = json.loads((tmp_path / f"flight-{flight.sequence:02d}.plan").read_text())
        assert doc["fileType"] == "Plan" and doc["version"] == 1
        items = doc["mission"]["items"]
        commands = [i["command"] for i in items]
        assert all(c in known for c in commands)
        assert commands[0] == mavutil.mavlink.MAV_CMD_NAV_TAKEOFF
        assert commands[-1] == mavutil.mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
        assert set(commands[1:-1]) == {mavutil.mavlink.MAV_CMD_NAV_WAYPOINT}
        assert [i["doJumpId"] for i in items] == list(range(1, len(items) + 1))
        assert all(len(i["params"]) == 7 and i["type"] == "SimpleItem" for i in items)
        holds = [i["params"][0] for i in items[1:-1] if i["params"][0]]
        assert len(holds) == len(flight.targets) and set(holds) == {30.0}
        lat, lon, _ = doc["mission"]["plannedHomePosition"]
        assert 47.0 < lat < 47.3 and 9.4 < lon < 9.7

        loader = mavwp.MAVWPLoader()
        count = loader.load(str(tmp_path / f"flight-{flight.sequence:02d}.waypoints"))
        assert count == len(items) + 1  # plus the home position
        assert loader.wp(1).command == mavutil.mavlink.MAV_CMD_NAV_TAKEOFF
        assert loader.wp(count - 1).command == mavutil.mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
        assert loader.wp(2).frame == mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
        assert loader.wp(2).z == pytest.approx(60.0)
    kml = ET.parse(tmp_path / "plan.kml").getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert len(kml.findall(".//k:LineString", ns)) == len(flights)
    collection = json.loads((tmp_path / "plan.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds.count("flight") == len(flights) and kinds.count("skipped") == len(plan.skipped)
    assert kinds.count("target") == sum(len(f.targets) for f in flights)


def test_plan_flights_command(demo, graph_dir, tmp_path, capsys):
    call_command("plan_flights", "--region", "Liechtenstein", "--targets", "substations",
                 "--drones", "2", "--range-m", "20000", "--ports", "substations",
                 "--time-budget-s", "1", "--out", str(tmp_path))
    summary = json.loads(capsys.readouterr().out)
    assert summary["routes"] and {"port", "length_m", "targets"} <= set(summary["routes"][0])
    assert "skipped" in summary and summary["total_length_m"] == pytest.approx(
        sum(r["length_m"] for r in summary["routes"]))
    planned = [t for r in summary["routes"] for t in r["targets"]]
    assert len(planned) + len(summary["skipped"]) == Substation.objects.count()
    assert all({"target", "reason"} <= set(s) for s in summary["skipped"])
    assert sorted(p.name for p in tmp_path.iterdir())[-2:] == ["plan.geojson", "plan.kml"]
    assert (tmp_path / "flight-01.plan").is_file() and (tmp_path / "flight-01.waypoints").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--range-m", "0", "--drones", "2"], "range_m must be a number greater than 0"),
    (["--range-m", "-5", "--drones", "2"], "range_m must be a number greater than 0"),
    (["--range-m", "9000", "--drones", "0"], "zero drones"),
    (["--range-m", "9000", "--drones", "2", "--bbox", "9.0,46.0,9.1,46.1"], "target set is empty"),
])
def test_plan_flights_command_refuses_bad_input(demo, graph_dir, tmp_path, args, message):
    before = FlightPlan.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("plan_flights", "--region", "liechtenstein", "--targets", "supports",
                     "--out", str(tmp_path / "out"), *args)
    assert FlightPlan.objects.count() == before and not (tmp_path / "out").exists()


def test_bad_input_is_refused_with_nothing_written(demo, graph_dir):
    region = demo["region"]
    targets = resolve_targets(region, "supports", limit=5)
    port = substation_ports(region)[0]
    drone = DroneSpec(range_m=RANGE_M)
    before = (FlightPlan.objects.count(), DronePort.objects.count())
    with pytest.raises(RoutingInputError, match="outside the flight graph"):
        plan_flights(region, [*targets, Target("point:0", "point", 8.54, 47.37)], drone,
                     [(port, 1)])  # Zürich
    with pytest.raises(RoutingInputError, match="empty"):
        plan_flights(region, [], drone, [(port, 1)])
    with pytest.raises(RoutingInputError, match="zero drones"):
        plan_flights(region, targets, drone, [(port, 0)])
    with pytest.raises(RoutingInputError, match="range_m"):
        plan_flights(region, targets, DroneSpec(range_m=0), [(port, 1)])
    heliport = NoFlyZone.objects.get(name="Heliport Balzers")
    inside = DronePort.objects.create(name="on the heliport", region=region,
                                      location=heliport.geometry.point_on_surface)
    with pytest.raises(RoutingInputError, match="inside the no-fly zone Heliport Balzers"):
        plan_flights(region, targets, drone, [(inside, 1)])
    inside.delete()
    empty = Region.objects.create(name="nowhere", source_file="liechtenstein-2024-03-04.osm.pbf")
    with pytest.raises(RoutingInputError, match="no flight graph yet"):
        plan_flights(empty, targets, drone, [(port, 1)])
    with pytest.raises(CommandError, match="no flight graph yet"):
        call_command("plan_flights", "--region", "nowhere", "--targets", "supports",
                     "--drones", "1", "--range-m", "5000", "--ports", str(port.pk), "--out", "/tmp/x")
    with pytest.raises(RoutingInputError, match="unknown region"):
        plan_flights_from_parameters({"region": "atlantis", "targets": {"kind": "supports"},
                                      "drone": {"range_m": 1000}, "drones": 1})
    with pytest.raises(RoutingInputError, match="min_clearance_m must be a number"):
        plan_flights(region, targets, DroneSpec(range_m=RANGE_M, min_clearance_m=None),
                     [(port, 1)])
    assert (FlightPlan.objects.count(), DronePort.objects.count()) == before


def test_a_plan_too_large_for_memory_is_refused(demo, graph_dir, monkeypatch):
    from routing.services import planning

    nodes = load_graph(current_graph(demo["region"])).number_of_nodes()
    monkeypatch.setattr(planning, "MATRIX_CELLS_MAX", nodes * 4)  # room for 1 port + 3 targets
    targets = resolve_targets(demo["region"], "supports", limit=5)
    with pytest.raises(RoutingInputError, match=r"too many targets .*\(at most 3 "):
        plan_flights(demo["region"], targets, DroneSpec(range_m=RANGE_M),
                     [(substation_ports(demo["region"])[0], 1)])


def _dem(path: Path, *, wall_lat: float | None = None) -> Path:
    """A synthetic DEM (no real SRTM for Liechtenstein here): a plane rising 1 m per 10 m east,
    optionally with a 300 m high east-west wall about 100 m wide at ``wall_lat``."""
    import rasterio
    from affine import Affine

    west, north, size, step = 9.45, 47.30, 1000, 0.0003  # ~23 m × 33 m cells
    x = np.arange(size) * step * 75_500  # metres east of the western edge (at 47.1° N)
    dem = np.tile(400 + x / 10, (size, 1)).astype("float32")
    if wall_lat is not None:
        row = int((north - wall_lat) / step)
        dem[row - 1:row + 2, :] += 300
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=Affine(step, 0, west, 0, -step, north)) as out:
        out.write(dem, 1)
    return path


def test_terrain_following_and_altitude_limits(demo, graph_dir, tmp_path):
    region = demo["region"]
    targets = resolve_targets(region, "substations")
    port = substation_ports(region)[0]
    drone = DroneSpec(range_m=40_000)
    record = build_flight_graph(region, options={"dem_path": str(_dem(tmp_path / "slope.tif"))},
                                import_no_fly=False)
    graph = load_graph(record)
    assert record.stats["elevation"]["nodes_with_elevation"] > 0.9 * record.node_count
    climbs = [d for _, _, d in graph.edges(data=True) if d.get("climb_m", 0) > 5]
    assert climbs and all(d["cost"] >= d["length"] * 0.7 + 2.0 * d["climb_m"] - 1e-6
                          for d in climbs)
    plan = plan_flights(region, targets, drone, [(port, 1)], options={"time_budget_s": 1})
    flight = plan.flights.first()
    alts = [w["alt_m"] for w in flight.waypoints]
    assert max(alts) - min(alts) > 50  # terrain following, relative to the port
    assert all(w["agl_m"] == 60 for w in flight.waypoints)
    assert not [w for w in plan.warnings if "altitude above ground" in w], plan.warnings
    assert [i["Altitude"] for i in qgc_plan(flight)["mission"]["items"][1:-1]] == alts[1:-1]

    # a 300 m wall across the valley between the substations: the check along the path sees it
    wall_lat = float(np.median([t.lat for t in targets]))
    walled = build_flight_graph(region, import_no_fly=False, options={
        "dem_path": str(_dem(tmp_path / "wall.tif", wall_lat=wall_lat))})
    assert walled.pk != record.pk
    plan = plan_flights(region, targets, drone, [(port, 1)], options={"time_budget_s": 1})
    assert plan.graph_id == walled.pk
    assert [w for w in plan.warnings if "leaves the limits 30–120 m" in w], plan.warnings


def test_graph_cache_files_live_in_the_graph_folder(demo):
    assert Path(demo["graph"].path).parent == demo["graphs"]
