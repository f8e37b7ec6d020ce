"""The field map in a real headless Chromium (Playwright, /usr/bin/chromium) against a live
server with the Liechtenstein demo imported: what a field crew sees and does.

Every page load is checked for console errors and for requests leaving the machine; screenshots
go to ``test-results/frontend/`` (git-ignored) and their pixels are checked for drawn lines.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.test import Client

from tests.conftest import REPO
from tests.frontend.conftest import docs_screenshot
from twin.ingest.osm import import_osm
from twin.models import EVSE, Charger, Connector, Job, Line, Region, Substation, Support

# django_db: the test database is set up, and each test runs in a transaction rolled back at
# its end; the module's data is committed outside them (see ``server``), and a test that must
# change what the live server sees writes through ``committed``.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

CHROMIUM = "/usr/bin/chromium"
# WebGL on SwiftShader through ANGLE. Not --disable-gpu: with the software compositor it
# implies, a scrolling panel over the WebGL canvas (the layer switcher on a phone) blanks the
# canvas in screenshots.
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
ARTIFACTS = REPO / "test-results" / "frontend"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LINE_LAYERS = ["lines-overhead", "lines-cable"]
# The page's own bytes on a cold load (HTML, CSS, our modules, MapLibre + its worker, tiles,
# API answers), uncompressed as the test server sends them; MapLibre is ~1.6 MB of it.
TRANSFER_BUDGET_BYTES = 2_500_000
BACKGROUND_RGB = (0xF2, 0xEF, 0xE9)
EHV_RED = (0xC7, 0x30, 0x30)  # the 220–379 kV band


def committed(function):
    """Run ``function`` in a thread of its own: its own database connection, in autocommit, so
    the live server sees its writes at once (the test's connection is inside a transaction)."""
    from django.db import connections

    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --- the server, its data and its users ----------------------------------------------------
@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """A live server (its own thread and DB connections) over the demo region imported once;
    everything is committed, so it is removed again at the end of the module."""
    with django_db_blocker.unblock():
        started = time.monotonic()
        import_osm(DEMO, region_name="liechtenstein")
        schaan = Substation.objects.get(name="Umspannwerk Schaan")
        crew = make_user("map-crew", "field-crew")
        staff = make_user("map-staff", "operators", is_staff=True)
        try:
            with live_server_signed_in(crew, staff) as (url, cookies):
                # The live server's threads read the database while tests run: keep it unblocked.
                yield {
                    "url": url, "cookies": cookies, "crew": crew, "staff": staff,
                    "schaan": {"id": schaan.pk, "lon": schaan.location.x, "lat": schaan.location.y},
                    "import_s": time.monotonic() - started,
                }
        finally:
            for model in (Support, Line, Substation, Connector, EVSE, Charger, Region):
                model.objects.all().delete()
                model.history.model.objects.all().delete()


def make_user(username: str, group: str, **extra) -> User:
    """A user in one of the app's groups (committed: the live server's threads read it)."""
    user = User.objects.create_user(username, password=f"pw-{username}", **extra)
    user.groups.add(Group.objects.get(name=group))
    return user


@contextmanager
def live_server_signed_in(*users: User) -> Iterator[tuple[str, dict[str, str]]]:
    """A live server and a session cookie for each user (by user name). On leaving: the server
    stopped, its database sessions given time to close, the users' jobs, every session and the
    users deleted."""
    from pytest_django.live_server_helper import LiveServer

    cookies = {}
    for user in users:
        client = Client()
        client.force_login(user)
        cookies[user.username] = client.cookies[settings.SESSION_COOKIE_NAME].value
    live = LiveServer("127.0.0.1:0")
    try:
        yield live.url, cookies
    finally:
        live.stop()
        _close_server_sessions()
        Job.objects.filter(created_by__in=users).delete()
        Session.objects.all().delete()
        User.objects.filter(pk__in=[user.pk for user in users]).delete()


def _close_server_sessions(timeout_s: float = 3.0) -> None:
    """Give the stopped live server's request threads a moment to close their database
    sessions. Sessions still open then are ended once, at the end of the run (tests/conftest.py:
    ``end_stray_database_sessions``), not here: Playwright's greenlets give this very thread
    more than one connection, and ending "every other session" here could end one of ours."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                           "AND state = 'active'")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def chromium(server):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API runs an event loop in this thread; the tests' ORM calls are plain
    # synchronous code all the same.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            playwright.stop()


class MapPage:
    """One browser context on the map, recording requests, responses and console errors."""

    def __init__(self, browser, server, *, user: str, viewport: dict, phone: bool = False,
                 geolocation: dict | None = None, routes: list[tuple] = ()):
        self.server = server
        options = {"viewport": viewport, "device_scale_factor": 1, "base_url": server["url"],
                   "locale": "en-GB", "timezone_id": "Europe/Vaduz"}
        if phone:
            options.update(is_mobile=True, has_touch=True)
        if geolocation:
            options.update(geolocation=geolocation, permissions=["geolocation"])
        self.context = browser.new_context(**options)
        self.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": server["cookies"][user],
                                   "url": server["url"]}])
        self.requests: list = []
        self.responses: list = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request))
        self.context.on("response", lambda response: self.responses.append(response))
        for route in routes:
            self.context.route(*route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)

    def _failed(self, request) -> None:
        if request.failure == "net::ERR_ABORTED":
            return  # MapLibre cancels the tiles it no longer needs when the map moves
        self.errors.append(f"request failed: {request.url} {request.failure}")

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        self.errors.append(f"console: {message.text} ({url})")

    def open(self, path: str = "/map/") -> MapPage:
        response = self.page.goto(path)
        assert response.status == 200, response.status
        self.page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=30000)
        self.idle()
        return self

    def idle(self) -> None:
        self.page.evaluate("window.gridtwin.idle()")

    def evaluate(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def rendered(self, layers: list[str]) -> list[dict]:
        """queryRenderedFeatures over the whole canvas, as plain dicts."""
        return self.evaluate("""(layers) => window.gridtwinMap.queryRenderedFeatures({layers})
            .map(f => ({id: f.id, layer: f.layer.id, properties: f.properties}))""", layers)

    def screen_point(self, lon: float, lat: float) -> tuple[float, float]:
        """A lon/lat in page pixels (the map fills the page)."""
        point = self.evaluate("([lon, lat]) => { const p = window.gridtwinMap.project([lon, lat]);"
                              " const r = window.gridtwinMap.getContainer().getBoundingClientRect();"
                              " return [p.x + r.left, p.y + r.top]; }", [lon, lat])
        return point[0], point[1]

    def jump(self, lon: float, lat: float, zoom: float) -> None:
        self.evaluate("([lon, lat, zoom]) => window.gridtwinMap.jumpTo({center: [lon, lat], zoom})",
                      [lon, lat, zoom])
        self.idle()

    def screenshot(self, name: str) -> bytes:
        path = ARTIFACTS / f"{name}.png"
        return self.page.screenshot(path=str(path))

    def map_box(self) -> tuple[int, int, int, int]:
        """The part of the page where only the map is drawn: right of the top bar and the
        feature panel, left of the layer switcher (whose legend has the lines' colours too)."""
        width, height = self.page.viewport_size["width"], self.page.viewport_size["height"]
        box = [0, 0, width, height]
        for selector in ("#layers-panel", "#feature-panel", "#jobs-panel"):
            panel = self.page.locator(selector)
            if panel.is_visible():
                b = panel.bounding_box()
                if b["x"] > width / 2:
                    box[2] = min(box[2], int(b["x"]))
                elif b["y"] > height / 3:
                    box[3] = min(box[3], int(b["y"]))
                else:
                    box[0] = max(box[0], int(b["x"] + b["width"]))
        return tuple(box)

    def pixels(self, png: bytes, colors: dict[str, tuple[int, int, int]], tolerance: int = 40,
               box: tuple[int, int, int, int] | None = None) -> dict[str, int]:
        """Counts of pixels near each colour (and of all pixels unlike the background) in the
        map's part of a screenshot, decoded in the page itself (a 2D canvas), so the test needs
        no image library."""
        box = box or self.map_box()
        return self.evaluate("""async ([b64, colors, tolerance, box, background]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
            const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
            const ctx = canvas.getContext('2d');
            ctx.drawImage(bitmap, 0, 0);
            const [x0, y0, x1, y1] = box || [0, 0, bitmap.width, bitmap.height];
            const data = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
            const counts = {total: data.length / 4, unlike_background: 0};
            for (const name of Object.keys(colors)) counts[name] = 0;
            const near = (i, c, t) => Math.abs(data[i] - c[0]) <= t && Math.abs(data[i + 1] - c[1]) <= t
                && Math.abs(data[i + 2] - c[2]) <= t;
            for (let i = 0; i < data.length; i += 4) {
                if (!near(i, background, 12)) counts.unlike_background++;
                for (const [name, c] of Object.entries(colors)) if (near(i, c, tolerance)) counts[name]++;
            }
            return counts;
        }""", [base64.b64encode(png).decode(), colors, tolerance, list(box) if box else None,
               list(BACKGROUND_RGB)])

    def external_requests(self) -> list[str]:
        return [r.url for r in self.requests
                if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
                and urlsplit(r.url).hostname not in LOCAL_HOSTS]

    def assert_clean(self) -> None:
        """No console errors, no page errors, no failed requests, nothing sent off the machine."""
        assert self.external_requests() == []
        schemes = ("http", "https", "data", "blob")
        assert [r.url for r in self.requests if urlsplit(r.url).scheme not in schemes] == []
        assert self.errors == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_map(chromium, server):
    pages: list[MapPage] = []

    def open_(user: str = "map-crew", viewport: dict = DESKTOP, **options) -> MapPage:
        page = MapPage(chromium, server, user=user, viewport=viewport, **options).open()
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


def click_schaan(map_page: MapPage, server, *, tap: bool = False) -> tuple[float, float]:
    schaan = server["schaan"]
    map_page.jump(schaan["lon"], schaan["lat"], 16)
    x, y = map_page.screen_point(schaan["lon"], schaan["lat"])
    assert map_page.rendered(["substations-area", "substations-point"]), "Schaan not drawn at z16"
    if tap:
        map_page.page.touchscreen.tap(x, y)
    else:
        map_page.page.mouse.click(x, y)
    panel = map_page.page.locator("#feature-panel")
    panel.wait_for(state="visible")
    map_page.page.wait_for_function(
        "!document.querySelector('#feature-body .loading')", timeout=10000)  # API details in
    map_page.idle()  # the map may ease to keep the feature clear of the panel
    return x, y


# --- the tests -----------------------------------------------------------------------------
def test_map_shows_the_region_offline(open_map, server):
    """Cold load: lines drawn from the tiles over the offline basemap, legend, scale bar and
    attribution; no console error, nothing requested off the machine, bytes within budget."""
    map_page = open_map()
    page = map_page.page

    lines = map_page.rendered(LINE_LAYERS)
    voltages = {f["properties"].get("voltage_kv") for f in lines}
    assert len({f["id"] for f in lines}) >= 5, lines
    assert 220 in voltages  # Swissgrid's 220 kV line; the demo's other lines carry no voltage tag
    assert None in voltages
    assert map_page.rendered(["substations-point"]), "no substation drawn"
    assert map_page.rendered(["chargers-point"]), "no charger drawn"
    tile_requests = [r.url for r in map_page.requests if "/tiles/lines/" in r.url]
    assert tile_requests, "tile requests (made by MapLibre's worker) were not recorded"

    roads = [r for r in map_page.responses if "/tiles/roads/" in r.url]
    if roads and all(r.status == 200 for r in roads):
        assert map_page.rendered(["roads-main", "roads-major", "roads-minor"]), "offline basemap not drawn"
    else:  # no roads tile layer on this server: the grid shows all the same (asserted above)
        assert all(r.status == 404 for r in roads)

    # The page furniture a field crew relies on.
    legend = page.locator("#layers-panel")
    assert legend.is_visible()
    assert "220–379 kV" in legend.inner_text() and "available" in legend.inner_text()
    assert page.locator(".maplibregl-ctrl-scale").is_visible()
    assert "OpenStreetMap contributors" in page.locator(".maplibregl-ctrl-attrib").inner_text()
    assert page.locator(".maplibregl-ctrl-geolocate").count() == 1

    png = map_page.screenshot("desktop-region")
    counts = map_page.pixels(png, {"ehv_red": EHV_RED})
    assert counts["unlike_background"] > 0.02 * counts["total"], counts
    assert counts["ehv_red"] > 150, counts  # the 220 kV line is on the canvas, in its colour
    docs_screenshot(page, "map")  # the README's and docs' picture of the map

    # What a cold load costs on a slow link.
    map_page.idle()
    transferred = 0
    by_kind: dict[str, int] = {}
    compressed = 0
    for response in map_page.responses:
        sizes = response.request.sizes()
        body = sizes["responseBodySize"] or int(response.headers.get("content-length", 0))
        size = body + sizes["responseHeadersSize"]
        transferred += size
        kind = ("maplibre" if "/vendor/maplibre-gl/" in response.url else "static"
                if "/static/" in response.url else "tiles" if "/tiles/" in response.url else "api/html")
        by_kind[kind] = by_kind.get(kind, 0) + size
        if "/static/" in response.url:
            compressed += len(gzip.compress(response.body(), 6))
        else:
            compressed += size
    report = (f"map page cold load: {len(map_page.responses)} responses, {transferred:,} bytes "
              f"transferred ({by_kind}); ~{compressed:,} bytes with gzip'd static files; "
              f"demo import {server['import_s']:.1f} s")
    print(report)
    (ARTIFACTS / "transfer.txt").write_text(report + "\n")
    assert transferred < TRANSFER_BUDGET_BYTES, report
    assert not any(r.url.endswith(".map") or "-dev.mjs" in r.url for r in map_page.responses)
    map_page.assert_clean()


def test_clicking_schaan_substation_opens_its_panel(open_map, server):
    map_page = open_map(user="map-staff")
    click_schaan(map_page, server)
    panel = map_page.page.locator("#feature-panel")
    assert map_page.page.locator("#feature-title").inner_text() == "Umspannwerk Schaan"
    text = panel.inner_text()
    assert "110 / 16 kV" in text
    assert "Condition" in text and "substation" in text.lower()
    history = panel.locator("a[data-role=history]")
    assert history.get_attribute("href") == f"/admin/twin/substation/{server['schaan']['id']}/history/"
    # The panel (left) leaves the substation in view, highlighted.
    box = panel.bounding_box()
    x, _ = map_page.screen_point(server["schaan"]["lon"], server["schaan"]["lat"])
    assert x > box["x"] + box["width"]
    assert map_page.rendered(["selection-fill", "selection-point"])
    map_page.screenshot("desktop-schaan-panel")
    map_page.page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    map_page.idle()
    assert not map_page.rendered(["selection-fill", "selection-point"])
    map_page.assert_clean()


def test_field_crew_panel_has_no_console_link(open_map, server):
    map_page = open_map(user="map-crew")
    click_schaan(map_page, server)
    history = map_page.page.locator("#feature-panel [data-role=history]")
    assert history.evaluate("e => e.tagName") == "P"
    assert "operators' console" in history.inner_text()
    map_page.assert_clean()


def test_toggling_the_lines_layer_hides_them(open_map):
    map_page = open_map()
    assert map_page.rendered(LINE_LAYERS)
    toggle = map_page.page.locator("#layer-toggle-lines")
    toggle.uncheck()
    map_page.idle()
    assert map_page.rendered(LINE_LAYERS) == []
    assert map_page.rendered(["substations-point"]), "other layers stay"
    png = map_page.screenshot("desktop-lines-off")
    assert map_page.pixels(png, {"ehv_red": EHV_RED})["ehv_red"] < 20
    # The choice is remembered across a reload.
    map_page.page.reload()
    map_page.page.wait_for_function("document.body.dataset.mapReady === 'true'")
    map_page.idle()
    assert map_page.rendered(LINE_LAYERS) == []
    map_page.page.locator("#layer-toggle-lines").check()
    map_page.idle()
    assert map_page.rendered(LINE_LAYERS)
    map_page.assert_clean()


def test_search_flies_to_a_feature(open_map, server):
    map_page = open_map()
    page = map_page.page
    start_zoom = map_page.evaluate("window.gridtwinMap.getZoom()")
    page.locator("#search-input").fill("Schaan")
    result = page.locator("#search-results button", has_text="Umspannwerk Schaan")
    result.wait_for(state="visible")
    result.click()
    page.wait_for_function("!window.gridtwinMap.isMoving()")
    page.locator("#feature-panel").wait_for(state="visible")
    map_page.idle()
    schaan = server["schaan"]
    zoom = map_page.evaluate("window.gridtwinMap.getZoom()")
    assert zoom > start_zoom + 3, (start_zoom, zoom)
    # The substation is on screen, clear of the panel, and drawn there.
    x, y = map_page.screen_point(schaan["lon"], schaan["lat"])
    panel = page.locator("#feature-panel").bounding_box()
    assert panel["x"] + panel["width"] < x < DESKTOP["width"] and 0 < y < DESKTOP["height"]
    assert page.locator("#feature-title").inner_text() == "Umspannwerk Schaan"
    drawn = map_page.rendered(["substations-area", "substations-point"])
    assert schaan["id"] in {f["id"] for f in drawn}
    map_page.screenshot("desktop-search-schaan")
    map_page.assert_clean()


def test_locate_me_centres_on_the_device(open_map):
    here = {"latitude": 47.1412, "longitude": 9.5215}  # Vaduz
    map_page = open_map(geolocation=here)
    map_page.page.locator(".maplibregl-ctrl-geolocate").click()
    map_page.page.wait_for_function(
        "([lon, lat]) => { const c = window.gridtwinMap.getCenter();"
        " return Math.abs(c.lng - lon) < 0.002 && Math.abs(c.lat - lat) < 0.002"
        " && !window.gridtwinMap.isMoving(); }",
        arg=[here["longitude"], here["latitude"]], timeout=15000)
    assert map_page.page.locator(".maplibregl-user-location-dot").count() == 1
    map_page.assert_clean()


def test_jobs_panel_shows_progress(open_map, server):
    job = committed(lambda: Job.objects.create(kind="twin.check", status="running", progress=0.25,
                                               message="checking lines", created_by=server["crew"]))
    try:
        map_page = open_map()
        page = map_page.page
        item = page.locator(f"#jobs-list [data-job-id='{job.pk}']")
        item.wait_for(state="visible", timeout=10000)
        assert page.locator("#jobs-panel").is_visible()
        assert item.locator("progress").evaluate("e => e.value") == pytest.approx(0.25)
        assert "25 %" in item.inner_text() and "checking lines" in item.inner_text()
        committed(lambda: Job.objects.filter(pk=job.pk).update(progress=0.75, message="checking supports"))
        page.wait_for_function(
            f"document.querySelector(\"#jobs-list [data-job-id='{job.pk}'] progress\")?.value === 0.75",
            timeout=10000)  # polled again while a job runs
        map_page.screenshot("desktop-jobs")
        committed(lambda: Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0,
                                                               message="done"))
        page.wait_for_function(
            f"document.querySelector(\"#jobs-list [data-job-id='{job.pk}']\")?.dataset.status"
            " === 'succeeded'", timeout=10000)
        map_page.assert_clean()
    finally:
        committed(lambda: Job.objects.filter(pk=job.pk).delete())


def test_jobs_panel_renders_jobs(open_map):
    """The panel against canned API answers: running and queued jobs with progress bars, a job
    seen running stays with its outcome, nothing shown when no job runs."""
    answers = [
        [{"id": 901, "kind": "twin.import_osm", "status": "running", "progress": 0.4, "message": "reading"},
         {"id": 902, "kind": "twin.check", "status": "queued", "progress": 0, "message": ""},
         {"id": 900, "kind": "twin.check", "status": "succeeded", "progress": 1, "message": "old"}],
        [{"id": 901, "kind": "twin.import_osm", "status": "failed", "progress": 0.6, "message": "",
          "error": "file unreadable"},
         {"id": 902, "kind": "twin.check", "status": "running", "progress": 0.5, "message": ""}],
    ]
    polls: list[str] = []
    stage = [0]  # which answer the polls get: the test moves on once it has seen the first

    def fulfil(route):
        polls.append(route.request.url)
        page_ = {"type": "FeatureCollection", "count": 2, "next": None, "previous": None,
                 "features": answers[stage[0]]}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(page_))

    map_page = open_map(routes=[("**/api/v1/jobs/?*", fulfil)])
    page = map_page.page
    def job(job_id: int, inner: str = ""):
        return page.locator(f"#jobs-list [data-job-id='{job_id}'] {inner}".strip())

    job(901).wait_for(state="visible", timeout=10000)
    assert job(900).count() == 0  # finished before the page opened: not shown
    assert job(901, "progress").evaluate("e => e.value") == pytest.approx(0.4)
    assert "queued" in job(902).inner_text()
    stage[0] = 1  # the next poll brings 901's outcome
    page.wait_for_function(
        "document.querySelector(\"#jobs-list [data-job-id='901']\")?.dataset.status === 'failed'",
        timeout=10000)
    assert "file unreadable" in job(901).inner_text()
    assert job(902, "progress").evaluate("e => e.value") == pytest.approx(0.5)
    assert all("ordering=-created_at" in url for url in polls)
    map_page.assert_clean()


def test_regions_set_the_view_and_are_outlined(open_map):
    """With the regions API (GET /api/v1/regions/, GeoJSON boundaries), the map opens on the
    regions and outlines them. The page and the API are stood in for here until the API exists."""
    vaduz = [[9.50, 47.12], [9.55, 47.12], [9.55, 47.16], [9.50, 47.16], [9.50, 47.12]]
    regions = {"type": "FeatureCollection", "count": 1, "next": None, "previous": None, "features": [
        {"type": "Feature", "id": 1, "properties": {"name": "vaduz"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[vaduz]]}}]}

    def page_with_regions_api(route):
        response = route.fetch()
        body = response.text().replace('"region": null', '"region": "/api/v1/regions/"')
        route.fulfill(response=response, body=body)

    def regions_api(route):
        route.fulfill(status=200, content_type="application/json", body=json.dumps(regions))

    map_page = open_map(routes=[("**/map/", page_with_regions_api), ("**/api/v1/regions/?*", regions_api)])
    west, south, east, north = map_page.evaluate("window.gridtwinMap.getBounds().toArray().flat()")
    assert west <= 9.50 and east >= 9.55 and south <= 47.12 and north >= 47.16
    assert east - west < 0.12  # fitted to the region, not to the whole country (0.17° wide)
    toggle = map_page.page.locator("#layer-toggle-regions")
    assert not toggle.is_checked() and not map_page.rendered(["regions-outline"])  # off at first
    toggle.check()
    map_page.idle()
    assert map_page.rendered(["regions-outline"])
    map_page.assert_clean()


def test_phone_viewport(open_map, server):
    """390×844: the same map, big touch targets, a bottom sheet that leaves the feature visible."""
    map_page = open_map(viewport=PHONE, phone=True)
    page = map_page.page
    assert map_page.rendered(LINE_LAYERS)
    assert page.locator("#layers-panel").is_hidden()  # closed on phones until asked for
    png = map_page.screenshot("phone-region")
    assert map_page.pixels(png, {"ehv_red": EHV_RED})["ehv_red"] > 50

    small = page.evaluate("""() => [...document.querySelectorAll(
            '.topbar button, .topbar input, .maplibregl-ctrl-group button')]
        .filter(e => e.offsetParent)
        .map(e => [e.className || e.id, e.getBoundingClientRect()])
        .filter(([, r]) => r.width < 44 || r.height < 44)""")
    assert small == []

    page.locator("#layers-button").tap()
    layers = page.locator("#layers-panel")
    layers.wait_for(state="visible")
    box = layers.bounding_box()
    assert box["height"] <= 0.62 * PHONE["height"]
    assert box["y"] + box["height"] == pytest.approx(PHONE["height"], abs=1)  # a bottom sheet
    toggle = page.locator("label[for=layer-toggle-chargers]").bounding_box()
    assert toggle["height"] >= 44
    map_page.screenshot("phone-layers")
    page.locator("#layers-panel [data-close]").tap()
    layers.wait_for(state="hidden")

    click_schaan(map_page, server, tap=True)
    panel = page.locator("#feature-panel")
    assert "Umspannwerk Schaan" in panel.inner_text() and "110 / 16 kV" in panel.inner_text()
    sheet = panel.bounding_box()
    assert sheet["width"] == pytest.approx(PHONE["width"], abs=1)
    assert sheet["height"] <= 0.5 * PHONE["height"]  # the map stays in view above it
    map_page.idle()
    _, y = map_page.screen_point(server["schaan"]["lon"], server["schaan"]["lat"])
    assert 0 < y < sheet["y"], "the tapped substation is hidden under the sheet"
    close = page.locator("#feature-panel [data-close]").bounding_box()
    assert close["width"] >= 44 and close["height"] >= 44
    map_page.screenshot("phone-schaan-sheet")
    page.locator("#feature-panel [data-close]").tap()
    panel.wait_for(state="hidden")
    map_page.assert_clean()


def test_anonymous_browser_is_sent_to_login(chromium, server):
    context = chromium.new_context(base_url=server["url"])
    try:
        page = context.new_page()
        page.goto("/map/")
        assert urlsplit(page.url).path == "/map/login/"
        page.fill("#id_username", "map-crew")
        page.fill("#id_password", "pw-map-crew")
        page.click("button[type=submit]")
        page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=30000)
        assert urlsplit(page.url).path == "/map/"
    finally:
        context.close()

