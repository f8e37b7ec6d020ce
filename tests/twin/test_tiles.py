"""Vector tiles on the real Liechtenstein grid: zoom rules, geometry in tile coordinates (both
encoders), HTTP answers, authentication, ETags, caching and invalidation.

The tile geometry is checked against an oracle written here (the stored lon/lat projected to the
tile's 4096 grid with plain math): on PostGIS that checks ``ST_AsMVT``, on SpatiaLite (embedded)
the Python encoder, so the two are held to the same answer; on PostGIS the two encoders are also
compared tile by tile.
"""

from __future__ import annotations

import math
import time

import mapbox_vector_tile
import pytest
import shapely
from django.conf import settings
from django.core.cache import cache, caches
from django.db.models import Q
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from shapely.geometry import shape

from tests.conftest import REPO
from twin.ingest.osm import import_osm
from twin.models import EVSE, Charger, Connector, Line, Region, Substation, Support
from twin.tiles import middleware as tile_http
from twin.tiles import service as tiles

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]

DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
LIECHTENSTEIN = (9.471078, 47.04774, 9.636217, 47.27128)  # the country (the region's extent)
ASSETS = (9.47, 46.97, 9.64, 47.30)  # its assets: the 220 kV line runs on into Switzerland
Z8 = (8, 134, 89)  # all of Liechtenstein
# Umspannwerk Schaan (9.4938, 47.1740) lies 110 m east of a z14 tile edge: its footprint is in
# one tile, the 220 kV line's towers nearest to it in the western neighbour.
SCHAAN_SUBSTATION_Z14 = (14, 8624, 5751)
SCHAAN_TOWERS_Z14 = (14, 8623, 5751)
ATLANTIC_Z14 = (14, 6000, 6000)
SCHAAN_Z16 = [(16, x, y) for x in range(34492, 34500) for y in range(23002, 23010)]  # 8 × 8
EXTENT, BUFFER = 4096, 64
MVT = "application/vnd.mapbox-vector-tile"
ON_POSTGIS = not settings.EMBEDDED


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> dict:
    """The demo extract imported once for the module (committed), removed afterwards."""
    with django_db_blocker.unblock():
        import_osm(DEMO, region_name="liechtenstein")
        ids = {
            "ehv": Line.objects.get(voltage_kv=220).pk,
            "schaan": Substation.objects.get(name="Umspannwerk Schaan").pk,
        }
    yield ids
    with django_db_blocker.unblock():
        for model in (Support, Line, Substation, Connector, EVSE, Charger, Region):
            model.objects.all().delete()
            model.history.model.objects.all().delete()


@pytest.fixture(autouse=True)
def fresh_tile_cache():
    """Each test starts with an empty tile cache (in SQLite rolled-back ids come back, and with
    them versions of data that no longer exists) and no remembered credentials."""
    caches[settings.TILES_CACHE].clear()
    cache.clear()  # the default cache: the remembered credentials (TILES_AUTH_CACHE)
    yield
    caches[settings.TILES_CACHE].clear()
    cache.clear()


@pytest.fixture
def api(crew) -> APIClient:
    """A client with a real API token, already checked once, so that a tile costs no
    authentication query (the check is remembered, see ``twin.tiles.middleware``): a tile's own queries
    can be counted."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=crew)[0]}")
    assert client.get(url("supports", *Z8)).status_code == 200  # no rule at z8: the token only
    return client


def url(layer: str, z: int, x: int, y: int) -> str:
    return f"/tiles/{layer}/{z}/{x}/{y}.mvt"


def decode(content: bytes, layer: str) -> dict[int, dict]:
    """The layer's features by id, in tile coordinates with y down (as encoded)."""
    decoded = mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})
    assert set(decoded) <= {layer}
    if decoded:
        assert decoded[layer]["extent"] == EXTENT
    return {f["id"]: f for f in decoded.get(layer, {}).get("features", [])}


def fetch(client, layer: str, tile: tuple[int, int, int]) -> dict[int, dict]:
    response = client.get(url(layer, *tile))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MVT
    return decode(response.content, layer)


# --- the oracle: lon/lat → tile units, with plain math ------------------------------------------
def project(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    n = 2 ** z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (fx - x) * EXTENT, (fy - y) * EXTENT


def projected(geometry, tile) -> shapely.Geometry:
    """A stored geometry in the tile's coordinates (y down), unclipped."""
    geom = shapely.from_wkb(bytes(geometry.wkb))
    return shapely.transform(geom, lambda c: [project(lon, lat, *tile) for lon, lat in c])


def assert_drawn_like(drawn: shapely.Geometry, expected: shapely.Geometry, tolerance: float,
                      where) -> None:
    """Every point of the drawn geometry lies within ``tolerance`` tile units of the stored one,
    and every point of the stored one inside the tile (and 32 units of its buffer) lies within
    ``tolerance`` of the drawn one. (Not a plain Hausdorff distance: where a line crosses the
    buffer's edge at a glancing angle, a sub-unit offset moves the clip point far along it.)"""
    inner = shapely.clip_by_rect(expected, -BUFFER / 2, -BUFFER / 2, EXTENT + BUFFER / 2,
                                 EXTENT + BUFFER / 2)
    for a, b in ((drawn, expected), (inner, drawn)):
        if a.is_empty:
            continue
        samples = shapely.points(shapely.get_coordinates(shapely.segmentize(a, 8)))
        assert shapely.distance(samples, b).max() <= tolerance, where


def inside(point: tuple[float, float]) -> bool:
    return all(-BUFFER <= round(v) <= EXTENT + BUFFER for v in point)


def covering(z: int, extent: tuple[float, float, float, float] = ASSETS) -> list[tuple[int, int, int]]:
    """The tiles at zoom z over the demo's assets (or another extent)."""
    minx, miny, maxx, maxy = extent
    x0, y1 = (int(v / EXTENT) for v in project(minx, miny, z, 0, 0))
    x1, y0 = (int(v / EXTENT) for v in project(maxx, maxy, z, 0, 0))
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


# --- zoom rules ---------------------------------------------------------------------------------
def test_z8_holds_only_the_220_kv_line_and_substations_as_points(demo, crew_client):
    assert covering(8, LIECHTENSTEIN) == [Z8]
    response = crew_client.get(url("lines", *Z8))
    lines = decode(response.content, "lines")
    assert set(lines) == {demo["ehv"]}  # not the untagged lines, not the minor lines
    ehv = lines[demo["ehv"]]
    assert ehv["properties"] == {"kind": "line", "voltage_kv": 220.0, "voltages": "220",
                                 "operator": "Swissgrid"}
    assert ehv["geometry"]["type"] == "LineString"
    stored = Line.objects.get(pk=demo["ehv"]).geometry.num_points
    assert stored == 115 and 2 <= len(ehv["geometry"]["coordinates"]) <= 30  # simplified
    assert len(response.content) < 1000

    substations = fetch(crew_client, "substations", Z8)
    assert set(substations) == {demo["schaan"]}  # ≥ 110 kV; the others have no voltage
    schaan = substations[demo["schaan"]]
    assert schaan["geometry"]["type"] == "Point"
    assert schaan["properties"] == {"name": "Umspannwerk Schaan", "voltage_kv": 110.0,
                                    "voltages": "110;16",
                                    "operator": "Liechtensteinische Kraftwerke"}
    for layer in ("supports", "chargers"):  # below their minimum zoom
        response = crew_client.get(url(layer, *Z8))
        assert response.status_code == 200 and response.content == b""


def union(client, layer: str, z: int) -> set[int]:
    return {pk for tile in covering(z) for pk in fetch(client, layer, tile)}


def test_lines_by_zoom(demo, api):
    assert Line.objects.count() == 15
    ehv = {demo["ehv"]}
    assert union(api, "lines", 7) == ehv
    assert union(api, "lines", 9) == ehv
    kind_line = set(Line.objects.filter(Q(kind="line") | Q(voltage_kv__gte=30))
                    .values_list("pk", flat=True))
    assert len(kind_line) == 11
    assert union(api, "lines", 11) == kind_line  # no minor lines yet
    assert union(api, "lines", 12) == set(Line.objects.values_list("pk", flat=True))


def test_supports_from_z13_chargers_from_z10(demo, api):
    assert union(api, "supports", 12) == set()
    assert union(api, "supports", 13) == set(Support.objects.values_list("pk", flat=True))
    assert union(api, "chargers", 9) == set()
    chargers = union(api, "chargers", 10)
    assert chargers == set(Charger.objects.values_list("pk", flat=True)) and len(chargers) == 9


def test_z14_towers_near_schaan(demo, crew_client):
    supports = fetch(crew_client, "supports", SCHAAN_TOWERS_Z14)
    expected = {s.pk: s for s in Support.objects.all()
                if inside(project(*s.location.coords, *SCHAAN_TOWERS_Z14))}
    assert set(supports) == set(expected)
    towers = {pk for pk, f in supports.items() if f["properties"] == {"kind": "tower"}}
    assert len(towers) >= 6  # the 220 kV line's towers, with their kind
    assert Support.objects.filter(pk__in=towers, kind="tower", lines=demo["ehv"]).count() >= 5
    for pk, feature in supports.items():
        assert feature["geometry"]["type"] == "Point"
        px, py = project(*expected[pk].location.coords, *SCHAAN_TOWERS_Z14)
        assert feature["geometry"]["coordinates"] == pytest.approx([px, py], abs=1)
    assert demo["ehv"] in fetch(crew_client, "lines", SCHAAN_TOWERS_Z14)


def test_z14_schaan_substation_is_its_footprint(demo, crew_client):
    substations = fetch(crew_client, "substations", SCHAAN_SUBSTATION_Z14)
    schaan = substations[demo["schaan"]]
    assert schaan["geometry"]["type"] == "Polygon"
    assert schaan["properties"]["name"] == "Umspannwerk Schaan"
    assert schaan["properties"]["voltages"] == "110;16"
    footprint = projected(Substation.objects.get(pk=demo["schaan"]).footprint,
                          SCHAAN_SUBSTATION_Z14)
    drawn = shape(schaan["geometry"])
    assert drawn.is_valid and drawn.area > 1000  # ~ 27 m × 27 m, at 0.6 m a unit
    assert drawn.area == pytest.approx(footprint.area, rel=0.05)
    assert drawn.hausdorff_distance(footprint) <= 1.5
    # the substation without footprint stays a point at z14; at z12 Schaan is a point too
    assert {f["geometry"]["type"] for pk, f in substations.items() if pk != demo["schaan"]} \
        <= {"Point"}
    z12 = (12, SCHAAN_SUBSTATION_Z14[1] // 4, SCHAAN_SUBSTATION_Z14[2] // 4)
    assert fetch(crew_client, "substations", z12)[demo["schaan"]]["geometry"]["type"] == "Point"


MODELS = {"lines": (Line, "geometry"), "supports": (Support, "location"),
          "chargers": (Charger, "location"), "substations": (Substation, "location")}


@pytest.mark.parametrize("z", [8, 11, 12, 13, 14, 16])
def test_tile_geometry_matches_the_stored_geometry(demo, api, z):
    """Every feature of every tile over Liechtenstein, against the oracle (simplification
    tolerance + rounding), whichever encoder this backend uses."""
    tiles_ = SCHAAN_Z16 if z == 16 else covering(z)
    rows = {layer: model.objects.in_bulk() for layer, (model, _) in MODELS.items()}
    checked = 0
    for tile in tiles_:
        for layer, (_, field) in MODELS.items():
            rule = tiles.LAYERS[layer].rule_for(z)
            for pk, feature in fetch(api, layer, tile).items():
                obj = rows[layer][pk]
                stored = getattr(obj, field)
                if layer == "substations" and z >= 13 and obj.footprint:
                    stored = obj.footprint
                expected = projected(stored, tile)
                drawn = shape(feature["geometry"])
                assert drawn.geom_type.removeprefix("Multi") == \
                    expected.geom_type.removeprefix("Multi"), (layer, tile, pk)
                assert_drawn_like(drawn, expected, 1.5 + rule.simplify, (layer, tile, pk))
                checked += 1
    assert checked >= {8: 2, 11: 15, 12: 25, 13: 200, 14: 200, 16: 20}[z]


@pytest.mark.skipif(not ON_POSTGIS, reason="two encoders only on PostGIS")
@pytest.mark.parametrize("z", [8, 10, 12, 13, 14, 16])
def test_postgis_and_python_encoders_agree(demo, z):
    compared = 0
    for tile in SCHAAN_Z16 if z == 16 else covering(z):
        for layer in tiles.LAYERS:
            if layer not in MODELS:
                continue
            sql = decode(tiles.render_tile(layer, *tile, encoder="postgis"), layer)
            python = decode(tiles.render_tile(layer, *tile, encoder="python"), layer)
            assert set(sql) == set(python), (layer, tile)
            for pk, a in sql.items():
                b = python[pk]
                assert a["properties"] == b["properties"], (layer, tile, pk)
                ga, gb = shape(a["geometry"]), shape(b["geometry"])
                assert ga.geom_type == gb.geom_type, (layer, tile, pk)
                assert ga.hausdorff_distance(gb) <= 2, (layer, tile, pk)
                compared += 1
    assert compared >= {8: 2, 10: 10, 12: 25, 13: 200, 14: 200, 16: 20}[z]


def test_vanished_assets_are_left_out(demo, api):
    tower = Support.objects.filter(kind="tower", lines=demo["ehv"]).order_by("pk").first()
    tile = (14, *(int(v / EXTENT) for v in project(*tower.location.coords, 14, 0, 0)))
    before = api.get(url("supports", *tile))
    assert tower.pk in decode(before.content, "supports")
    tower.missing_since = timezone.now()
    tower.save()
    after = api.get(url("supports", *tile))
    assert tower.pk not in decode(after.content, "supports")
    assert after["ETag"] != before["ETag"]


# --- HTTP -----------------------------------------------------------------------------------
def test_headers_and_both_authentication_methods(demo, crew, crew_client):
    by_token = crew_client.get(url("lines", *Z8))
    assert by_token.status_code == 200
    assert by_token["Content-Type"] == MVT
    assert by_token["Cache-Control"] == "private, max-age=60"
    assert by_token["ETag"].startswith('"') and by_token["ETag"].endswith('"')
    assert {"Authorization", "Cookie"} <= {v.strip() for v in by_token["Vary"].split(",")}
    browser = Client()
    browser.force_login(crew)
    by_session = browser.get(url("lines", *Z8))
    assert by_session.status_code == 200
    assert by_session.content == by_token.content and by_session["ETag"] == by_token["ETag"]


@pytest.mark.parametrize("layer", ["lines", "supports", "substations", "chargers", "nope"])
def test_anonymous_is_refused(demo, layer):
    response = APIClient().get(url(layer, *SCHAAN_TOWERS_Z14))
    if layer == "nope":
        assert response.status_code == 404
        return
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.content != b"" and "detail" in response.json()
    assert "ETag" not in response


def test_wrong_token_is_refused(demo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(url("lines", *Z8)).status_code == 401


def test_credentials_are_checked_once_a_minute_and_forgotten_on_revocation(
        demo, crew, django_assert_num_queries):
    """A session (as the map page has) costs its session and user queries on the first tile
    only; logging out or deleting a token refuses the next tile at once."""
    browser = Client()
    browser.force_login(crew)
    tile = url("supports", *Z8)  # no rule at z8: whatever is queried is authentication
    with django_assert_num_queries(2):  # the session, its user
        assert browser.get(tile).status_code == 200
    with django_assert_num_queries(0):
        assert browser.get(tile).status_code == 200
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    browser.logout()
    stolen = Client()  # the signed-out session's cookie, presented again
    stolen.cookies[settings.SESSION_COOKIE_NAME] = cookie
    with django_assert_num_queries(1):  # forgotten at once: the session is looked up, and gone
        response = stolen.get(tile)
    assert response.status_code == 401 and response.json()["detail"]

    token = Token.objects.create(user=crew)
    scripted = APIClient()
    scripted.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with django_assert_num_queries(1):  # the token and its user, one join
        assert scripted.get(tile).status_code == 200
    with django_assert_num_queries(0):
        assert scripted.get(tile).status_code == 200
    token.delete()
    assert scripted.get(tile).status_code == 401


def test_credentials_expire_and_can_be_checked_every_time(demo, crew, settings,
                                                         django_assert_num_queries):
    settings.TILES_AUTH_TTL = 1
    browser = Client()
    browser.force_login(crew)
    tile = url("supports", *Z8)
    assert browser.get(tile).status_code == 200
    key = tile_http.credentials.key("session", browser.cookies[settings.SESSION_COOKIE_NAME].value)
    assert tile_http.credentials.valid(key)
    time.sleep(1.1)  # TILES_AUTH_TTL has gone by
    assert not tile_http.credentials.valid(key)
    with django_assert_num_queries(2):
        assert browser.get(tile).status_code == 200
    settings.TILES_AUTH_TTL = 0
    for _ in range(2):
        with django_assert_num_queries(2):
            assert browser.get(tile).status_code == 200
    crew.is_active = False
    crew.save()
    assert browser.get(tile).status_code == 401  # checked again: an inactive user is refused


@pytest.mark.parametrize("header,message", [
    ("Token", "No credentials provided"),
    ("Token a b", "should not contain spaces"),
    ("Token not-a-token", "Invalid token"),
])
def test_malformed_tokens_are_refused_with_a_reason(demo, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(url("lines", *Z8))
    assert response.status_code == 401 and message in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_tiles_are_read_only(api):
    response = api.post(url("lines", *Z8))
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert api.head(url("lines", *Z8)).status_code == 200


def test_the_tile_middleware_and_the_url_configuration_answer_alike(demo, api, settings):
    """The middleware's shortcut serves exactly what the URL configuration serves; a malformed
    tile path goes on to the URL configuration's 404."""
    settings.TILES_CACHE_TIMEOUT = 0  # both render: no answer comes from the other's cache
    fast = api.get(url("lines", *SCHAAN_TOWERS_Z14))
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "twin.tiles.middleware.TileMiddleware"]
    slow_client = APIClient()  # a client loads the middleware on its first request
    slow_client.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
    slow = slow_client.get(url("lines", *SCHAAN_TOWERS_Z14))
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content and fast["ETag"] == slow["ETag"] and fast.content
    assert fast["Vary"] == slow["Vary"] and fast["Cache-Control"] == slow["Cache-Control"]
    assert fast["X-Content-Type-Options"] == slow["X-Content-Type-Options"] == "nosniff"
    # the clickjacking header is all a tile loses (it only concerns pages in frames)
    assert set(slow.headers) - set(fast.headers) == {"X-Frame-Options"}
    # the session middleware ran on the slow path only
    assert not hasattr(fast.wsgi_request, "session") and hasattr(slow.wsgi_request, "session")
    assert api.get("/tiles/lines/8/134.mvt").status_code == 404


def test_a_foreign_host_is_refused(api):
    """The middleware's shortcut still checks ``ALLOWED_HOSTS`` (DNS rebinding)."""
    assert api.get(url("roads", *Z8), HTTP_HOST="evil.example").status_code == 400
    assert api.get(url("lines", *Z8), HTTP_HOST="evil.example").status_code == 400


def test_a_session_not_checked_lately_goes_through_the_session_middleware(demo, crew):
    """The first tile of a session takes the whole stack (which can save a session Django
    rotates); later ones take the shortcut."""
    browser = Client()
    browser.force_login(crew)
    first = browser.get(url("supports", *Z8))
    second = browser.get(url("supports", *Z8))
    assert first.status_code == second.status_code == 200
    assert hasattr(first.wsgi_request, "session") and not hasattr(second.wsgi_request, "session")


@pytest.mark.skipif(not ON_POSTGIS, reason="PostgreSQL's prepared statements")
def test_tile_statements_are_prepared_once_with_a_generic_plan(demo, api, settings):
    """Each rule's statement is parsed and planned once per connection (see
    ``twin.tiles.service.prepared_cursor``), with one generic plan for every tile."""
    from django.db import connection

    settings.TILES_CACHE_TIMEOUT = 0
    for tile in SCHAAN_Z16[:6]:
        assert api.get(url("supports", *tile)).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ['%ST_AsMVT%"twin_support"%'])
        plans = cursor.fetchall()
    assert len(plans) == 1 and plans[0][0] >= 5 and plans[0][1] == 0


@pytest.mark.parametrize("path,status,text", [
    ("/tiles/lines/23/0/0.mvt", 400, "z must be between 0 and 22"),
    ("/tiles/lines/3/8/0.mvt", 400, "x must be between 0 and 7"),
    ("/tiles/lines/3/0/8.mvt", 400, "y must be between 0 and 7"),
    ("/tiles/lines/0/1/0.mvt", 400, "x must be between 0 and 0"),
    ("/tiles/lines/99999999999999999999/0/0.mvt", 400, "z must be"),
    ("/tiles/nope/8/134/89.mvt", 404, "unknown layer 'nope'"),
    ("/tiles/lines/a/0/0.mvt", 404, None),
    ("/tiles/lines/1.5/0/0.mvt", 404, None),
    ("/tiles/lines/8/-1/89.mvt", 404, None),
    ("/tiles/lines/8/134/89.png", 404, None),
    ("/tiles/lines/8/134/89", 404, None),
    ("/tiles/lines/8/134.mvt", 404, None),
])
def test_bad_tile_requests_fail_fast(api, django_assert_num_queries, path, status, text):
    with django_assert_num_queries(0):  # answered before any database work
        response = api.get(path)
    assert response.status_code == status
    if text:
        assert text in response.json()["message"]


def test_empty_tiles_are_empty_200s_and_cheap(demo, api, django_assert_max_num_queries):
    started = time.perf_counter()
    with django_assert_max_num_queries(2):  # the layer's version, the tile
        response = api.get(url("supports", *ATLANTIC_Z14))
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Type"] == MVT and response["ETag"]
    assert decode(response.content, "supports") == {}
    with django_assert_max_num_queries(0):  # no rule at z8: nothing to ask the database
        response = api.get(url("supports", *Z8))
    assert response.status_code == 200 and response.content == b""


def test_etag_round_trip_and_invalidation(demo, api, django_assert_num_queries):
    tile = SCHAAN_TOWERS_Z14
    with django_assert_num_queries(2):  # the layer's version, the tile
        first = api.get(url("lines", *tile))
    etag = first["ETag"]
    with django_assert_num_queries(1):  # only the version: the tile comes from the cache
        again = api.get(url("lines", *tile))
    assert again.status_code == 200 and again.content == first.content and again["ETag"] == etag
    with django_assert_num_queries(1):
        not_modified = api.get(url("lines", *tile), HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert not_modified["Cache-Control"] == "private, max-age=60"
    assert api.get(url("lines", *tile), HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert api.get(url("lines", *tile), HTTP_IF_NONE_MATCH="*").status_code == 304
    assert api.get(url("lines", *tile), HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert api.get(url("lines", *SCHAAN_SUBSTATION_Z14))["ETag"] != etag  # other content
    supports = api.get(url("supports", *tile))

    line = Line.objects.get(pk=demo["ehv"])
    line.name = "Schaan–Sargans 220 kV"
    line.condition_score = 64.5
    line.save()
    with django_assert_num_queries(2):  # a new version: rendered again, not the cached tile
        changed = api.get(url("lines", *tile), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    props = decode(changed.content, "lines")[demo["ehv"]]["properties"]
    assert props["name"] == "Schaan–Sargans 220 kV" and props["condition_score"] == 64.5
    with django_assert_num_queries(1):  # a change to a line leaves the supports' cache alone
        assert api.get(url("supports", *tile))["ETag"] == supports["ETag"]


def test_a_change_elsewhere_keeps_the_etag(demo, api, django_assert_num_queries):
    """ETags hash the tile's bytes: an edit outside the tile re-renders it but clients keep it."""
    tile = SCHAAN_TOWERS_Z14
    etag = api.get(url("lines", *tile))["ETag"]
    far = Line.objects.filter(kind="minor_line").order_by("pk").first()
    assert far.pk not in decode(api.get(url("lines", *tile)).content, "lines")
    far.name = "renamed"
    far.save()
    with django_assert_num_queries(2):
        response = api.get(url("lines", *tile), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag


def test_deleting_an_asset_changes_the_etag(demo, api):
    tile = SCHAAN_TOWERS_Z14
    before = api.get(url("supports", *tile))
    victim = next(iter(decode(before.content, "supports")))
    Support.objects.get(pk=victim).delete()
    after = api.get(url("supports", *tile))
    assert after["ETag"] != before["ETag"]
    assert victim not in decode(after.content, "supports")


def test_without_cache_one_query_a_tile(demo, api, settings, django_assert_num_queries):
    settings.TILES_CACHE_TIMEOUT = 0
    with django_assert_num_queries(1):  # the tile, no version
        first = api.get(url("supports", *SCHAAN_TOWERS_Z14))
    with django_assert_num_queries(1):
        second = api.get(url("supports", *SCHAAN_TOWERS_Z14),
                         HTTP_IF_NONE_MATCH=first["ETag"])
    assert first.status_code == 200 and len(first.content) > 100
    assert second.status_code == 304 and second["ETag"] == first["ETag"]


def test_a_registered_public_layer_needs_no_login(demo):
    """How another app adds a layer (e.g. the coming roads basemap), here over the lines."""
    layer = tiles.register_layer(tiles.ModelLayer(
        name="test-basemap", model=Line, geometry=("geometry",),
        attributes=(tiles.text("kind"),), rules=(tiles.ZoomRule(10, 22, Q(kind="line")),),
        public=True,
    ))
    try:
        response = APIClient().get(url("test-basemap", *SCHAAN_TOWERS_Z14))
        assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=60"
        features = decode(response.content, "test-basemap")
        assert demo["ehv"] in features and features[demo["ehv"]]["properties"] == {"kind": "line"}
        assert APIClient().get(url("test-basemap", *Z8)).content == b""  # below its zoom
        assert layer.rule_for(9) is None and layer.min_zoom == 10
    finally:
        del tiles.LAYERS["test-basemap"]


def test_overlapping_zoom_rules_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        tiles.ModelLayer(name="x", model=Line, geometry=("geometry",), attributes=(),
                         rules=(tiles.ZoomRule(0, 10), tiles.ZoomRule(10, 22)))


def test_tiles_stay_out_of_the_openapi_schema(crew_client):
    response = crew_client.get("/api/schema/")
    assert response.status_code == 200 and b"/tiles/" not in response.content


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_roads_basemap_is_public_and_zoomed(demo):
    """The offline basemap: the region's own OSM roads, readable before login, thinned by zoom."""
    anonymous = APIClient()
    x11, y11 = _tile_of(9.5215, 47.1410, 11)
    x14, y14 = _tile_of(9.5215, 47.1410, 14)
    low = anonymous.get(url("roads", 11, x11, y11))
    high = anonymous.get(url("roads", 14, x14, y14))
    assert low.status_code == high.status_code == 200  # the basemap is public
    low_kinds = {f["properties"]["kind"] for f in decode(low.content, "roads").values()}
    high_kinds = {f["properties"]["kind"] for f in decode(high.content, "roads").values()}
    assert "primary" in low_kinds and not low_kinds & {"footway", "path", "track", "service"}
    assert {"residential", "service"} <= high_kinds
    assert anonymous.get(url("lines", 14, x14, y14)).status_code == 401  # the grid needs a login
