"""The operators' console for routing: pages render with their maps, plans show their flights
and exports, graphs rebuild as jobs, a port inside a no-fly zone is refused."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib import admin
from django.urls import reverse

from routing.models import Drone, DronePort, FlightGraph, FlightPlan, NoFlyZone
from routing.services.planning import plan_flights_from_parameters
from tests.routing.test_api import DRONE, FAST, REGION, _cleanup, _import_demo
from twin.models import Job

pytestmark = pytest.mark.django_db

MODELS = [NoFlyZone, Drone, DronePort, FlightGraph, FlightPlan]
MAP_MODELS = [NoFlyZone, DronePort, FlightPlan]
OL = "/static/vendor/ol/dist/ol.js"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        _cleanup()
        data = _import_demo()
        Drone.objects.create(name="Inspector 8k", range_m=8000)
        data["plan"] = plan_flights_from_parameters({
            "region": REGION, "targets": {"kind": "supports", "ids": data["supports"][:5]},
            "drone": DRONE, "drones": 2, "ports": "substations", "options": FAST,
            "name": "Rhine towers"})
        yield data
        _cleanup()


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_changelist_and_change_pages(demo, admin_user_client, model):
    assert model in admin.site._registry
    changelist = admin_user_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    obj = model.objects.order_by("pk").first()
    assert f"/{obj.pk}/change/" in changelist.content.decode()
    change = admin_user_client.get(_url(model, "change", obj.pk))
    assert change.status_code == 200
    html = change.content.decode()
    if model in MAP_MODELS:
        assert OL in html and "/static/vendor/ol/ol.css" in html and "dj_map" in html
        assert "cdn." not in html and "jsdelivr" not in html
    assert admin_user_client.get(_url(model, "changelist") + "?q=Balzers").status_code == 200


def test_plan_page_shows_flights_on_a_map_with_exports(demo, admin_user_client):
    plan = demo["plan"]
    html = admin_user_client.get(_url(FlightPlan, "change", plan.pk)).content.decode()
    # the plan's flights are the map widget's value (a MultiLineString), not editable
    value = re.search(r'<textarea id="id_geometry"[^>]*>([^<]*)</textarea>', html)
    shown = json.loads(unescape(value.group(1)))
    assert shown["type"] == "MultiLineString" and len(shown["coordinates"]) == plan.flights.count()
    assert 'name="_save"' not in html and "Delete all Features" not in html
    for fmt in ("plan", "waypoints", "kml", "geojson"):
        assert f"/api/v1/flight-plans/{plan.pk}/export.{fmt}" in html
    for flight in plan.flights.all():
        assert ", ".join(flight.targets) in html
    assert admin_user_client.get(_url(FlightPlan, "add")).status_code == 403
    r = admin_user_client.post(_url(FlightPlan, "change", plan.pk), {"name": "renamed"})
    plan.refresh_from_db()
    assert plan.name == "Rhine towers" and r.status_code in (200, 302)


def test_rebuild_action_queues_a_graph_job(demo, admin_user_client):
    graph = demo["graph"]
    r = admin_user_client.post(_url(FlightGraph, "changelist"), {
        "action": "rebuild", "_selected_action": [graph.pk]}, follow=True)
    assert r.status_code == 200
    job = Job.objects.get(kind="routing.build_flight_graph")
    assert job.parameters["region"] == REGION and job.parameters["force"] is True
    assert job.parameters["options"]["corridor_weight"] == graph.options["corridor_weight"]
    assert f"job(s) {job.pk}" in r.content.decode()
    assert admin_user_client.get(_url(FlightGraph, "add")).status_code == 403


def test_port_inside_no_fly_zone_is_refused(demo, admin_user_client):
    inside = demo["heliport"].geometry.point_on_surface
    before = DronePort.objects.count()
    r = admin_user_client.post(_url(DronePort, "add"), {
        "name": "Heliport yard", "region": demo["region"].pk, "location": inside.ewkt,
        "capacity": 2, "active": "on"})
    assert r.status_code == 200
    assert "inside the no-fly zone" in r.content.decode()
    assert DronePort.objects.count() == before
    outside = demo["plan"].ports.first().location
    r = admin_user_client.post(_url(DronePort, "add"), {
        "name": "Second yard", "region": demo["region"].pk, "location": outside.ewkt,
        "capacity": 2, "active": "on"})
    assert r.status_code == 302 and DronePort.objects.count() == before + 1
