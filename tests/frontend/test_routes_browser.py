"""The "Drone routes" layer in a real headless Chromium over a live server: the demo region,
its flight graph and one flight plan (made by the planner, committed for the module).

The map must draw every flight of the plan (queryRenderedFeatures), its ports and targets, the
no-fly zones, and a click on a flight must open its panel with the port, length, duration, the
targets in order and the export links, which download; no console errors.
"""

from __future__ import annotations

import itertools
import time

import pytest
from django.contrib.gis.geos import Polygon

from routing.models import DronePort
from routing.services.planning import plan_flights_from_parameters
from tests.frontend.conftest import docs_screenshot
from tests.frontend.test_map_browser import (  # noqa: F401
    DESKTOP,
    MapPage,
    chromium,
    live_server_signed_in,
    make_user,
)
from tests.routing.test_api import DRONE, REGION, _cleanup, _import_demo
from twin.models import Substation

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

FLIGHT_LAYERS = ["routes-flights"]
PADDING = {"left": 420, "right": 360, "top": 120, "bottom": 80}
DOCS_PADDING = {"left": 40, "right": 300, "top": 80, "bottom": 40}  # the docs' 1024×640 picture
SCHAAN_BOX = Polygon.from_bbox((9.48, 47.15, 9.52, 47.18))  # Umspannwerk Schaan and its neighbour


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """A live server over the demo region with its flight graph and a plan of 6 towers flown
    from 2 ports; removed again at the end of the module."""

    with django_db_blocker.unblock():
        _cleanup()
        started = time.monotonic()
        data = _import_demo()
        ports = [DronePort.objects.create(name=f"Port {sub.name or sub.pk}", region=data["region"],
                                          substation=sub, location=sub.location, capacity=2)
                 for sub in Substation.objects.filter(location__intersects=SCHAAN_BOX).order_by("id")]
        assert len(ports) == 2, ports
        # 6 towers near Schaan, 2 drones at each of 2 ports, 4.8 km usable range: 3 flights
        # and one tower too far to reach and return from (skipped, drawn red)
        plan = plan_flights_from_parameters({
            "region": REGION, "targets": {"kind": "supports", "ids": data["supports"]},
            "drone": {**DRONE, "range_m": 6000},
            "fleet": [{"port": port.pk, "drones": 2} for port in ports],
            "options": {"time_budget_s": 1}, "name": "Browser test plan"})
        crew = make_user("routes-crew", "field-crew")
        try:
            with live_server_signed_in(crew) as (url, cookies):
                yield {"url": url, "plan": plan, "region": data["region"], "cookies": cookies,
                       "setup_s": time.monotonic() - started}
        finally:
            _cleanup()


@pytest.fixture
def open_map(chromium, server):  # noqa: F811
    pages: list[MapPage] = []

    def open_(path: str = "/map/") -> MapPage:
        page = MapPage(chromium, server, user="routes-crew", viewport=DESKTOP)
        page.open(path)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


def _fit_plan(map_page: MapPage, plan, padding: dict = PADDING) -> None:
    """Frame the plan's flights in the middle of the map (clear of the panels)."""
    x0, y0, x1, y1 = plan.geometry.extent
    map_page.evaluate("""([b, padding]) => window.gridtwinMap.fitBounds(b, {animate: false,
        padding})""", [[[x0, y0], [x1, y1]], padding])
    map_page.idle()


def _clear_point_on_a_flight(map_page: MapPage, plan) -> tuple[float, float, int]:
    """A screen point on a flight's path away from ports and targets: (x, y, flight number)."""
    stops = [map_page.screen_point(*p.location.coords) for p in plan.ports.all()]
    stops += [map_page.screen_point(t["lon"], t["lat"]) for t in plan.targets]
    for flight in plan.flights.order_by("sequence"):
        coords = list(flight.path.coords)
        for a, b in itertools.pairwise(coords):
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            x, y = map_page.screen_point(*mid)
            if not (450 < x < 880 and 140 < y < 700):
                continue
            if min((x - sx) ** 2 + (y - sy) ** 2 for sx, sy in stops) < 30 ** 2:
                continue
            hits = map_page.evaluate("""([x, y]) => window.gridtwinMap.queryRenderedFeatures(
                [[x - 8, y - 8], [x + 8, y + 8]], {layers: ['routes-flights']})
                .map(f => f.properties.sequence)""", [x, y])
            if set(hits) == {flight.sequence}:
                return x, y, flight.sequence
    raise AssertionError("no flight segment clear of stops and other flights on screen")


def test_routes_layer_draws_the_plan(open_map, server):
    plan = server["plan"]
    assert plan.flights.count() >= 2, "the plan should have several flights to colour"
    map_page = open_map()
    _fit_plan(map_page, plan)

    flights = map_page.rendered(FLIGHT_LAYERS)
    assert {f["properties"]["sequence"] for f in flights} == set(
        plan.flights.values_list("sequence", flat=True))
    assert {f["id"] for f in flights} == set(plan.flights.values_list("pk", flat=True))
    colors = map_page.evaluate("""() => [...new Set(window.gridtwinMap
        .queryRenderedFeatures({layers: ['routes-flights']})
        .map(f => JSON.stringify(f.layer.paint['line-color'])))]""")
    assert len(colors) == plan.flights.count(), colors  # one colour per flight
    ports = map_page.rendered(["routes-ports"])
    assert {f["properties"]["port_id"] for f in ports} == set(plan.ports.values_list("pk", flat=True))
    targets = map_page.rendered(["routes-targets"])
    assert {f["properties"]["target"] for f in targets} == {t["target"] for t in plan.targets}

    docs_screenshot(map_page.page, "routes", frame=lambda: _fit_plan(map_page, plan, DOCS_PADDING))
    _fit_plan(map_page, plan)

    legend = map_page.page.locator('#layer-list div.layer[data-layer="routes"]')
    assert "Drone routes" in legend.inner_text() and "drone port" in legend.inner_text()
    # the no-fly zones (Balzers heliport, in the south) are drawn when in view
    map_page.jump(9.49, 47.065, 13)
    zones = map_page.rendered(["no-fly-area"])
    assert any("Balzers" in (f["properties"].get("name") or "") for f in zones), zones
    map_page.screenshot("routes-layer")
    map_page.assert_clean()


def test_clicking_a_flight_opens_its_panel(open_map, server):
    plan = server["plan"]
    map_page = open_map()
    _fit_plan(map_page, plan)
    x, y, sequence = _clear_point_on_a_flight(map_page, plan)
    flight = plan.flights.get(sequence=sequence)
    map_page.page.mouse.click(x, y)
    panel = map_page.page.locator("#feature-panel")
    panel.wait_for(state="visible")
    map_page.page.wait_for_selector(f'#feature-body .flight[data-flight="{sequence}"]')
    assert map_page.page.locator("#feature-kind").text_content() == "Drone flight"
    assert map_page.page.locator("#feature-title").text_content() == (
        f"Flight {sequence} from {flight.port_name}")
    text = panel.inner_text()
    assert f"{flight.length_m / 1000:.2f}".rstrip("0").rstrip(".") in text.replace(",", "")
    assert "min" in text or " s" in text
    items = map_page.page.locator('#feature-body [data-role="targets"] li').all_inner_texts()
    assert items == flight.targets
    href = map_page.page.locator('#feature-body a[data-role="export-plan"]').get_attribute("href")
    assert href.endswith(f"/api/v1/flight-plans/{plan.pk}/export.plan?flight={sequence}")
    download = map_page.context.request.get(href)
    assert download.status == 200 and download.json()["fileType"] == "Plan"
    kml = map_page.page.locator('#feature-body a[data-role="export-kml"]').get_attribute("href")
    assert map_page.context.request.get(kml).headers["content-type"].startswith(
        "application/vnd.google-earth.kml+xml")
    map_page.screenshot("routes-flight-panel")
    map_page.assert_clean()


def test_a_plan_chosen_in_the_address(open_map, server):
    """``/map/?plan=ID`` shows that plan; an unknown one leaves the map working without it."""
    plan = server["plan"]
    map_page = open_map(f"/map/?plan={plan.pk}")
    _fit_plan(map_page, plan)
    assert map_page.rendered(FLIGHT_LAYERS)
    assert any(f"/api/v1/flight-plans/{plan.pk}/map/" in r.url for r in map_page.requests)
    map_page.assert_clean()
