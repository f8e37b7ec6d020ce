"""The routing API on the real Liechtenstein demo: airspace, fleet, graphs and flight plans.

The demo extract is imported and its flight graph built once for the module (committed, removed
at the end); each test runs in a transaction rolled back after it. The planning job runs on a
real Celery worker in the last test (a transactional test: pytest-django runs it after the
others, and it sets up its own data).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from xml.etree import ElementTree

import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.core.management import call_command
from rest_framework.test import APIClient

from routing.models import Drone, DronePort, FlightGraph, FlightPlan, NoFlyZone, NoFlyZoneKind
from routing.services.graph import build_flight_graph
from routing.services.planning import plan_flights_from_parameters
from tests.conftest import REPO
from twin.models import Job, Line, Region, Road, Substation, Support

pytestmark = pytest.mark.django_db

DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
REGION = "Liechtenstein"
# Towers of the 220 kV line near Schaan / the Rhine (a small, nearby target set).
NEAR_SCHAAN = "9.47,47.15,9.53,47.19"
DRONE = {"range_m": 12000, "cruise_speed_mps": 12, "service_time_s": 30}
FAST = {"time_budget_s": 1}


def _cleanup() -> None:
    for model in (FlightPlan, FlightGraph, DronePort, Drone, NoFlyZone, Job):
        model.objects.all().delete()
    for model in (Support, Line, Substation):
        model.objects.all().delete()
        model.history.model.objects.all().delete()
    Road.objects.all().delete()
    Region.objects.all().delete()
    Region.history.model.objects.all().delete()


def _import_demo() -> dict:
    call_command("import_osm", str(DEMO), "--region", REGION, stdout=io.StringIO())
    region = Region.objects.get(name=REGION)
    graph = build_flight_graph(region)
    heliport = NoFlyZone.objects.get(kind=NoFlyZoneKind.HELIPORT, name__icontains="Balzers")
    supports = list(Support.objects.filter(
        region=region, location__intersects=GEOSGeometry(_bbox_wkt(NEAR_SCHAAN), srid=4326),
    ).order_by("id").values_list("pk", flat=True)[:6])
    return {"region": region, "graph": graph, "heliport": heliport, "supports": supports}


def _bbox_wkt(bbox: str) -> str:
    x0, y0, x1, y1 = map(float, bbox.split(","))
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo region with its flight graph and one plan made without a worker."""
    with django_db_blocker.unblock():
        _cleanup()
        data = _import_demo()
        assert len(data["supports"]) == 6, data["supports"]
        data["plan"] = plan_flights_from_parameters({
            "region": REGION, "targets": {"kind": "supports", "ids": data["supports"]},
            "drone": DRONE, "drones": 2, "ports": "substations", "options": FAST,
            "name": "API test plan"})
        yield data
        _cleanup()


def _counts() -> tuple[int, int, int, int]:
    return (Job.objects.count(), FlightPlan.objects.count(), DronePort.objects.count(),
            NoFlyZone.objects.count())


def _plan_request(demo, **overrides) -> dict:
    body = {"region": REGION, "targets": {"kind": "support", "ids": demo["supports"][:4]},
            "drones": {**DRONE, "count": 2}, "ports": "substations", "options": FAST}
    body.update(overrides)
    return body


# --- authentication and roles ----------------------------------------------------------------
def test_anonymous_is_refused_and_crews_only_read(demo, crew_client):
    anonymous = APIClient()
    for url in ("/api/v1/flight-plans/", "/api/v1/no-fly-zones/", "/api/v1/drones/",
                "/api/v1/drone-ports/", "/api/v1/flight-graphs/",
                f"/api/v1/flight-plans/{demo['plan'].pk}/export.kml"):
        assert anonymous.get(url).status_code == 401, url
    assert anonymous.post("/api/v1/flight-plans/", _plan_request(demo),
                          format="json").status_code == 401
    assert crew_client.get("/api/v1/flight-plans/").status_code == 200
    assert crew_client.get(f"/api/v1/flight-plans/{demo['plan'].pk}/").status_code == 200
    before = _counts()
    r = crew_client.post("/api/v1/flight-plans/", _plan_request(demo), format="json")
    assert r.status_code == 403, r.content
    assert crew_client.post("/api/v1/flight-graphs/build/", {"region": REGION},
                            format="json").status_code == 403
    assert crew_client.post("/api/v1/drones/", {"name": "x", "range_m": 5000},
                            format="json").status_code == 403
    assert _counts() == before


# --- flight plans: bad input is refused at once, nothing is written --------------------------
def _refused(client, body, *fragments) -> str:
    before = _counts()
    r = client.post("/api/v1/flight-plans/", body, format="json")
    assert r.status_code == 400, (r.status_code, r.content)
    message = r.json()["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert _counts() == before, "a refused request wrote something"
    return message


def test_range_must_be_positive(demo, operator_client):
    for bad in (0, -500):
        body = _plan_request(demo, drones={**DRONE, "range_m": bad, "count": 2})
        _refused(operator_client, body, "range_m must be greater than 0")


def test_zero_drones(demo, operator_client):
    _refused(operator_client, _plan_request(demo, drones={**DRONE, "count": 0}), "zero drones")
    port = DronePort.objects.create(name="Schaan yard", location=demo["plan"].ports.first().location,
                                    region=demo["region"], capacity=2)
    _refused(operator_client, _plan_request(demo, ports=None, drones=DRONE,
                                            fleet=[{"port": port.pk, "drones": 0}]),
             "zero drones")


def test_empty_target_set(demo, operator_client):
    empty_box = "9.600,47.230,9.601,47.231"  # a corner of the region with no towers
    assert not Support.objects.filter(
        location__intersects=GEOSGeometry(_bbox_wkt(empty_box), srid=4326)).exists()
    _refused(operator_client, _plan_request(demo, targets={"kind": "supports", "bbox": empty_box}),
             "target set is empty")
    _refused(operator_client, _plan_request(demo, targets={"type": "FeatureCollection",
                                                           "features": []}), "empty")


def test_unknown_ids(demo, operator_client):
    missing = Support.objects.order_by("-pk").first().pk + 1000
    _refused(operator_client,
             _plan_request(demo, targets={"kind": "supports", "ids": [demo["supports"][0], missing]}),
             "unknown support id(s)", str(missing))
    _refused(operator_client, _plan_request(demo, drones={"drone": 987654, "count": 1}),
             "unknown drone 987654")
    _refused(operator_client, _plan_request(demo, ports=[987654]), "unknown drone port(s): 987654")
    _refused(operator_client, _plan_request(demo, region="Atlantis"), "unknown region 'Atlantis'")
    _refused(operator_client, _plan_request(demo, targets={"kind": "pylons", "ids": [1]}),
             "unknown target kind 'pylons'")


def test_region_without_graph(demo, operator_client):
    Region.objects.create(name="Vaduz empty", boundary=demo["region"].boundary)
    _refused(operator_client, _plan_request(demo, region="Vaduz empty",
                                            targets={"type": "Point", "coordinates": [9.52, 47.14]}),
             "has no flight graph yet", "build_flight_graph")


def test_port_inside_no_fly_zone(demo, operator_client):
    heliport = demo["heliport"]
    inside = heliport.geometry.point_on_surface
    port = DronePort.objects.create(name="Balzers pad", location=inside, region=demo["region"],
                                    capacity=2)  # written past the API's check, as old data may be
    message = _refused(operator_client, _plan_request(demo, ports=[port.pk]), "inside the no-fly zone")
    assert "Balzers pad" in message and heliport.name in message


def test_targets_outside_region(demo, operator_client):
    zurich = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Vaduz"},
         "geometry": {"type": "Point", "coordinates": [9.521, 47.141]}},
        {"type": "Feature", "properties": {"name": "Zürich HB"},
         "geometry": {"type": "Point", "coordinates": [8.540, 47.378]}}]}
    _refused(operator_client, _plan_request(demo, targets=zurich), "outside the flight graph", "point:1")


def test_malformed_requests(demo, operator_client):
    _refused(operator_client, _plan_request(demo, targets=[1, 2]), "targets:")
    _refused(operator_client, _plan_request(demo, drones={"count": 2}), "range_m")
    _refused(operator_client, _plan_request(demo, drones={**DRONE, "count": 2, "wings": 4}),
             "unknown drone field(s): wings")
    _refused(operator_client, _plan_request(demo, options={"time_budget_s": -1}), "time_budget_s")
    _refused(operator_client, _plan_request(demo, options={"corridor_weight": 0.5}),
             "option of the flight graph")
    _refused(operator_client, _plan_request(demo, targets={"kind": "supports"}), "by ids or by bbox")


def test_valid_request_is_accepted_as_a_job(demo, operator_client):
    plans = FlightPlan.objects.count()
    ports = DronePort.objects.count()
    r = operator_client.post("/api/v1/flight-plans/", _plan_request(demo), format="json")
    assert r.status_code == 202, r.content
    body = r.json()
    job = Job.objects.get(pk=body["job"]["id"])
    assert job.kind == "routing.plan_flights" and body["job"]["status"] == "queued"
    assert body["job"]["url"].endswith(f"/api/v1/jobs/{job.pk}/")
    assert job.parameters["targets"] == {"kind": "supports", "ids": demo["supports"][:4]}
    assert job.parameters["drone"]["range_m"] == DRONE["range_m"] and job.parameters["drones"] == 2
    assert body["plan"]["id"] is None and body["plan"]["url"].endswith(f"/flight-plans/of-job/{job.pk}/")
    assert "4 target(s) with 2 drone(s)" in body["message"]
    # the check placed no ports and made no plan; the plan's URL says the job is still queued
    assert FlightPlan.objects.count() == plans and DronePort.objects.count() == ports
    pending = operator_client.get(body["plan"]["url"])
    assert pending.status_code == 202 and pending.json()["status"] == "queued"


# --- reading a plan and its exports ----------------------------------------------------------
def test_plan_with_flights_as_geojson(demo, crew_client):
    plan = demo["plan"]
    body = crew_client.get(f"/api/v1/flight-plans/{plan.pk}/").json()
    assert body["status"] == "complete" and body["extra_flights_needed"] == 0
    assert body["region"] == REGION and body["target_count"] == 6
    flights = body["flights"]
    assert flights["type"] == "FeatureCollection" and len(flights["features"]) == body["flight_count"] >= 1
    visited = [t for f in flights["features"] for t in f["properties"]["targets"]]
    skipped = [s["target"] for s in body["skipped"]]
    assert sorted(visited + skipped) == sorted(f"support:{pk}" for pk in demo["supports"])
    assert all(s["reason"] for s in body["skipped"])
    total = 0.0
    for feature in flights["features"]:
        props = feature["properties"]
        assert feature["geometry"]["type"] == "LineString"
        coords = feature["geometry"]["coordinates"]
        assert coords[0] == pytest.approx(coords[-1], abs=1e-6)  # back to its port
        assert 0 < props["length_m"] <= plan.usable_range_m
        assert props["duration_s"] > props["length_m"] / DRONE["cruise_speed_mps"]
        targets_in_waypoints = [w["target"] for w in props["waypoints"] if w["target"]]
        assert targets_in_waypoints == props["targets"]
        assert all(w["alt_m"] > 0 for w in props["waypoints"])
        assert props["exports"]["plan"].endswith(f"export.plan?flight={props['sequence']}")
        total += props["length_m"]
    assert body["total_length_m"] == pytest.approx(total, rel=1e-6)
    assert set(body["exports"]) == {"plan", "waypoints", "kml", "geojson"}
    assert body["ports"]["type"] == "FeatureCollection" and body["ports"]["features"]
    listing = crew_client.get("/api/v1/flight-plans/?region=liechtenstein").json()
    assert [p["id"] for p in listing["results"]] == [plan.pk]
    assert listing["results"][0]["url"].endswith(f"/api/v1/flight-plans/{plan.pk}/")


def test_exports_download_as_files(demo, crew_client):
    plan = demo["plan"]
    base = f"/api/v1/flight-plans/{plan.pk}/export"
    n = plan.flights.count()
    r = crew_client.get(f"{base}.plan?flight=1", HTTP_ACCEPT="application/octet-stream")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert r["Content-Disposition"] == f'attachment; filename="flight-plan-{plan.pk}-flight-01.plan"'
    mission = json.loads(r.content)
    assert mission["fileType"] == "Plan" and mission["version"] == 1
    commands = [item["command"] for item in mission["mission"]["items"]]
    assert commands[0] == 22 and commands[-1] == 20 and set(commands[1:-1]) == {16}

    r = crew_client.get(f"{base}.waypoints?flight=1")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain")
    lines = r.content.decode().splitlines()
    assert lines[0] == "QGC WPL 110" and len(lines) == len(commands) + 2  # + header + home

    r = crew_client.get(f"{base}.kml")
    assert r["Content-Type"] == "application/vnd.google-earth.kml+xml"
    root = ElementTree.fromstring(r.content)
    assert len(root.findall(".//{http://www.opengis.net/kml/2.2}LineString")) == n

    r = crew_client.get(f"{base}.geojson")
    assert r["Content-Type"] == "application/geo+json"
    assert r["Content-Disposition"].endswith(f'flight-plan-{plan.pk}.geojson"')
    lines_ = [f for f in json.loads(r.content)["features"] if f["geometry"]["type"] == "LineString"]
    assert len(lines_) == n

    r = crew_client.get(f"{base}.plan")  # every flight's mission
    if n == 1:
        assert r["Content-Type"] == "application/json"
    else:
        assert r["Content-Type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert names == [f"flight-{i:02d}.plan" for i in range(1, n + 1)]

    assert crew_client.get(f"{base}.plan?flight=99").status_code == 400
    r = crew_client.get(f"{base}.shp")
    assert r.status_code == 400 and "choose from plan, waypoints, kml, geojson" in r.json()["message"]
    assert crew_client.get(f"/api/v1/flight-plans/{plan.pk + 999}/export.kml").status_code == 404


def test_plan_map_latest_and_of_job(demo, crew_client):
    plan = demo["plan"]
    latest = crew_client.get("/api/v1/flight-plans/latest/").json()
    assert latest["id"] == plan.pk
    fc = crew_client.get(f"/api/v1/flight-plans/{plan.pk}/map/").json()
    roles = [f["properties"]["role"] for f in fc["features"]]
    assert roles.count("flight") == plan.flights.count()
    assert roles.count("port") == plan.ports.count() and roles.count("target") == 6
    assert fc["plan"]["id"] == plan.pk
    assert crew_client.get("/api/v1/flight-plans/latest/?region=nowhere").status_code == 404
    latest_map = crew_client.get("/api/v1/flight-plans/latest/map/").json()
    assert latest_map["plan"]["id"] == plan.pk and len(latest_map["features"]) == len(fc["features"])
    none = crew_client.get("/api/v1/flight-plans/latest/map/?region=nowhere")
    assert none.status_code == 200 and none.json() == {"type": "FeatureCollection", "features": [],
                                                       "plan": None}
    job = Job.objects.create(kind="routing.plan_flights", status="failed", error="boom")
    r = crew_client.get(f"/api/v1/flight-plans/of-job/{job.pk}/")
    assert r.status_code == 404 and "failed" in r.json()["message"]


# --- airspace and fleet resources --------------------------------------------------------------
def test_no_fly_zone_crud_and_invalid_geometry(demo, operator_client, crew_client):
    square = {"type": "Polygon", "coordinates": [[[9.50, 47.10], [9.51, 47.10], [9.51, 47.11],
                                                   [9.50, 47.11], [9.50, 47.10]]]}
    r = operator_client.post("/api/v1/no-fly-zones/", {
        "type": "Feature", "geometry": square,
        "properties": {"name": "Rescue exercise", "kind": "other", "ceiling_m": 150,
                       "region": REGION}}, format="json")
    assert r.status_code == 201, r.content
    zone = NoFlyZone.objects.get(pk=r.json()["id"])
    assert zone.geometry.geom_type == "MultiPolygon" and zone.source == "operator"
    bowtie = {"type": "Polygon", "coordinates": [[[9.50, 47.10], [9.51, 47.11], [9.51, 47.10],
                                                   [9.50, 47.11], [9.50, 47.10]]]}
    r = operator_client.post("/api/v1/no-fly-zones/", {"type": "Feature", "geometry": bowtie,
                                                       "properties": {"name": "bad"}}, format="json")
    assert r.status_code == 400 and "invalid geometry" in r.json()["message"]
    r = operator_client.post("/api/v1/no-fly-zones/", {
        "type": "Feature", "geometry": square,
        "properties": {"floor_m": 100, "ceiling_m": 50}}, format="json")
    assert r.status_code == 400 and "must be above floor_m" in r.json()["message"]
    r = operator_client.post("/api/v1/no-fly-zones/", {
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
        "properties": {}}, format="json")
    assert r.status_code == 400 and "expected MultiPolygon" in r.json()["message"]
    listed = crew_client.get("/api/v1/no-fly-zones/?kind=heliport").json()
    assert [f["id"] for f in listed["features"]] == [demo["heliport"].pk]
    hits = crew_client.get("/api/v1/no-fly-zones/?bbox=9.505,47.105,9.506,47.106").json()
    assert zone.pk in [f["id"] for f in hits["features"]]
    assert operator_client.patch(f"/api/v1/no-fly-zones/{zone.pk}/",
                                 {"properties": {"active": False}}, format="json").status_code == 200
    assert crew_client.delete(f"/api/v1/no-fly-zones/{zone.pk}/").status_code == 403
    assert operator_client.delete(f"/api/v1/no-fly-zones/{zone.pk}/").status_code == 204


def test_drones_and_ports(demo, operator_client):
    r = operator_client.post("/api/v1/drones/", {"name": "Inspector X", "range_m": 9000,
                                                 "reserve_fraction": 0.25}, format="json")
    assert r.status_code == 201 and r.json()["usable_range_m"] == 6750
    r = operator_client.post("/api/v1/drones/", {"name": "Dud", "range_m": 0}, format="json")
    assert r.status_code == 400 and "range_m must be greater than 0" in r.json()["message"]
    r = operator_client.post("/api/v1/drones/", {"name": "Climber", "range_m": 9000,
                                                 "cruise_altitude_m": 200}, format="json")
    assert r.status_code == 400 and "cruise_altitude_m" in r.json()["message"]

    inside = demo["heliport"].geometry.point_on_surface
    r = operator_client.post("/api/v1/drone-ports/", {
        "type": "Feature", "geometry": json.loads(inside.geojson),
        "properties": {"name": "Heli pad port", "region": REGION}}, format="json")
    assert r.status_code == 400
    assert "inside the no-fly zone" in r.json()["message"] and "heliport" in r.json()["message"]
    schaan = Substation.objects.get(name="Umspannwerk Schaan")
    r = operator_client.post("/api/v1/drone-ports/", {
        "type": "Feature", "geometry": None,
        "properties": {"name": "Schaan base", "substation": schaan.pk, "capacity": 3}}, format="json")
    assert r.status_code == 201, r.content
    feature = r.json()
    assert feature["geometry"]["coordinates"] == pytest.approx(list(schaan.location.coords))
    assert feature["properties"]["region"] == REGION


def test_flight_graphs_read_and_build(demo, operator_client, crew_client):
    graphs = crew_client.get("/api/v1/flight-graphs/").json()["results"]
    assert [g["id"] for g in graphs] == [demo["graph"].pk]
    assert graphs[0]["node_count"] > 1000 and graphs[0]["stats"]["edges_by_kind"]["corridor"] > 0
    r = operator_client.post("/api/v1/flight-graphs/build/", {"region": "Atlantis"}, format="json")
    assert r.status_code == 400 and "unknown region 'Atlantis'" in r.json()["message"]
    r = operator_client.post("/api/v1/flight-graphs/build/", {
        "region": REGION, "options": {"corridor_weight": -1}}, format="json")
    assert r.status_code == 400 and "corridor_weight" in r.json()["message"]
    # a job reads files only from the import folders; no-fly options are checked by name
    r = operator_client.post("/api/v1/flight-graphs/build/", {
        "region": REGION, "options": {"dem_path": "/etc/hostname"}}, format="json")
    assert r.status_code == 400 and "path must be inside" in r.json()["message"]
    r = operator_client.post("/api/v1/flight-graphs/build/", {
        "region": REGION, "no_fly": {"radius": 500}}, format="json")
    assert r.status_code == 400 and "unknown parameter(s) radius" in r.json()["message"]
    r = operator_client.post("/api/v1/flight-graphs/build/", {
        "region": REGION, "options": {"corridor_weight": 0.5}}, format="json")
    assert r.status_code == 202 and r.json()["kind"] == "routing.build_flight_graph"
    assert Job.objects.get(pk=r.json()["id"]).parameters["options"] == {"corridor_weight": 0.5}


# --- end to end on a real worker ---------------------------------------------------------------
@pytest.mark.worker
def test_plan_request_runs_on_a_worker(start_worker, operator_client):
    """POST → 202 → the job runs on a real Celery worker → the plan at the given URL."""
    data = _import_demo()  # committed (transactional test): the worker sees it
    start_worker()
    body = _plan_request(data, targets={"kind": "supports", "ids": data["supports"]},
                         drones={**DRONE, "count": 2})
    r = operator_client.post("/api/v1/flight-plans/", body, format="json")
    assert r.status_code == 202, r.content
    plan_url = r.json()["plan"]["url"]
    deadline, seen = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        job = operator_client.get(f"/api/v1/jobs/{r.json()['job']['id']}/").json()
        seen.append(job["status"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert job["status"] == "succeeded", job
    assert "running" in seen or seen[0] == "succeeded"
    plan = operator_client.get(plan_url)
    assert plan.status_code == 200, plan.content
    plan = plan.json()
    assert plan["id"] == job["result"]["plan"] and plan["job"] == job["id"]
    visited = [t for f in plan["flights"]["features"] for t in f["properties"]["targets"]]
    skipped = [s["target"] for s in plan["skipped"]]
    assert sorted(visited + skipped) == sorted(f"support:{pk}" for pk in data["supports"])
    assert len(visited) == len(set(visited)) and visited
    assert plan["created_by"] == "olga-operator"
    r = operator_client.get(plan["exports"]["kml"])
    assert r.status_code == 200 and b"<LineString>" in r.content
