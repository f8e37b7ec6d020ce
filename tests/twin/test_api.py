"""The REST API on real Liechtenstein data: CRUD round trips, permissions and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from twin.models import Charger, Connector, Line, Substation, Support

pytestmark = pytest.mark.django_db

SCHAAN = [9.5098, 47.1661]
# Round trips: (resource, model, GeoJSON geometry in, properties, a property to update)
ROUND_TRIPS = [
    ("substations", Substation, {"type": "Point", "coordinates": SCHAAN},
     {"name": "UW Test", "voltages_kv": [16, 110], "rating_mva": 80, "condition_score": 72},
     ("rating_mva", 120.0)),
    ("lines", Line,
     {"type": "LineString", "coordinates": [[9.50, 47.16], [9.51, 47.17], [9.52, 47.17]]},
     {"name": "L-test", "kind": "line", "voltages_kv": [110], "circuits": 2, "max_i_ka": 0.645},
     ("circuits", 1)),
    ("supports", Support, {"type": "Point", "coordinates": [9.505, 47.165]},
     {"ref": "T-17", "kind": "tower", "height_m": 38.5, "material": "steel"}, ("height_m", 41.0)),
    ("chargers", Charger, {"type": "Point", "coordinates": [9.5077, 47.1652]},
     {"name": "Depot Schaan", "network": "LKW", "status": "available", "access": "public",
      "evses": [{"uid": "A", "status": "available", "connectors": [
          {"standard": "IEC_62196_T2_COMBO", "power_type": "DC", "power_kw": 150}]},
                {"uid": "B", "connectors": [{"standard": "IEC_62196_T2", "power_kw": 22}]}]},
     ("status", "out_of_order")),
]


def feature(geometry: dict, properties: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


@pytest.mark.parametrize("resource,model,geometry,props,update", ROUND_TRIPS,
                         ids=[r[0] for r in ROUND_TRIPS])
def test_crud_round_trip(operator_client, resource, model, geometry, props, update):
    url = f"/api/v1/{resource}/"
    created = operator_client.post(url, feature(geometry, props), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["type"] == "Feature"
    assert body["geometry"]["type"] == geometry["type"]
    assert np.allclose(body["geometry"]["coordinates"], geometry["coordinates"])
    pk = body["id"]
    row = model.objects.get(pk=pk)
    assert row.history.count() == 1 and row.history.first().history_user.username == "olga-operator"

    read = operator_client.get(f"{url}{pk}/").json()
    for key, value in props.items():
        if key == "voltages_kv":
            assert read["properties"][key] == sorted(map(float, value), reverse=True)
        elif key != "evses":
            assert read["properties"][key] == value

    field, new_value = update
    patched = operator_client.patch(f"{url}{pk}/", {"properties": {field: new_value}},
                                    format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["properties"][field] == new_value
    assert row.history.count() == 2
    before, after = row.history.all()[1], row.history.all()[0]
    assert getattr(after, field) == new_value and getattr(before, field) != new_value

    listed = operator_client.get(url).json()
    assert listed["type"] == "FeatureCollection" and listed["count"] == 1

    assert operator_client.delete(f"{url}{pk}/").status_code == 204
    assert not model.objects.filter(pk=pk).exists()
    assert row.history.count() == 3  # the deletion is in the change log too


def test_line_length_and_voltage_are_derived(operator_client):
    geometry = {"type": "MultiLineString",
                "coordinates": [[[9.50, 47.16], [9.51, 47.16]], [[9.52, 47.16], [9.52, 47.17]]]}
    body = operator_client.post("/api/v1/lines/", feature(
        geometry, {"voltages_kv": [16, 110, 16]}), format="json").json()["properties"]
    # 0.01° of longitude at 47.16°N ≈ 758 m, 0.01° of latitude ≈ 1112 m (WGS84)
    assert body["length_m"] == pytest.approx(758.7 + 1112.3, abs=2)
    assert body["voltages_kv"] == [110.0, 16.0] and body["voltage_kv"] == 110.0


def test_charger_nested_evses_replaced_on_update(operator_client):
    props = ROUND_TRIPS[3][3]
    pk = operator_client.post("/api/v1/chargers/", feature(ROUND_TRIPS[3][2], props),
                              format="json").json()["id"]
    assert Connector.objects.filter(evse__charger=pk).count() == 2
    r = operator_client.patch(f"/api/v1/chargers/{pk}/", {"properties": {"evses": [
        {"uid": "C", "connectors": [{"standard": "CHADEMO", "power_type": "DC", "power_kw": 50}]}
    ]}}, format="json")
    assert r.status_code == 200, r.content
    evses = r.json()["properties"]["evses"]
    assert [e["uid"] for e in evses] == ["C"]
    assert evses[0]["connectors"][0]["standard"] == "CHADEMO"
    assert Connector.objects.filter(evse__charger=pk).count() == 1


def test_real_data_lists_as_geojson(twin_data, crew_client):
    body = crew_client.get("/api/v1/supports/?page_size=50").json()
    assert body["count"] == 186 and len(body["features"]) == 50 and body["next"]
    schaan = crew_client.get("/api/v1/substations/?search=Schaan").json()["features"]
    assert [f["properties"]["name"] for f in schaan] == ["Umspannwerk Schaan"]
    assert schaan[0]["properties"]["voltages_kv"] == [110.0, 16.0]
    lines_220 = crew_client.get("/api/v1/lines/?voltage_kv_min=200").json()["features"]
    assert len(lines_220) == 1 and lines_220[0]["properties"]["operator"] == "Swissgrid"
    assert lines_220[0]["properties"]["length_m"] > 30_000
    line = Line.objects.get(voltage_kv=220)
    towers = crew_client.get(f"/api/v1/supports/?line={line.pk}&page_size=1000").json()
    assert towers["count"] == line.supports.count() == 115


# --- permissions --------------------------------------------------------------------------------

def test_anonymous_is_refused(twin_data):
    client = APIClient()
    for url in ["/api/v1/substations/", "/api/v1/lines/", "/api/v1/jobs/", "/api/v1/chargers/1/"]:
        r = client.get(url)
        assert r.status_code == 401, url
        assert r.headers["WWW-Authenticate"].startswith("Token")
    assert client.post("/api/v1/substations/", feature(
        {"type": "Point", "coordinates": SCHAAN}, {"name": "x"}), format="json").status_code == 401


def test_wrong_token_is_refused(twin_data):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    r = client.get("/api/v1/lines/")
    assert r.status_code == 401 and "Invalid token" in r.json()["detail"]


def test_token_from_credentials(crew):
    r = APIClient().post("/api/v1/auth/token/",
                         {"username": crew.username, "password": "pw-" + crew.username})
    assert r.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
    assert client.get("/api/v1/lines/").status_code == 200
    bad = APIClient().post("/api/v1/auth/token/", {"username": crew.username, "password": "no"})
    assert bad.status_code == 400


def test_read_only_user_cannot_write(twin_data, crew_client):
    pk = Substation.objects.get(name="Umspannwerk Schaan").pk
    assert crew_client.get(f"/api/v1/substations/{pk}/").status_code == 200
    assert crew_client.patch(f"/api/v1/substations/{pk}/", {"properties": {"name": "x"}},
                             format="json").status_code == 403
    assert crew_client.delete(f"/api/v1/substations/{pk}/").status_code == 403
    assert crew_client.post("/api/v1/supports/", feature(
        {"type": "Point", "coordinates": SCHAAN}, {"kind": "pole"}), format="json"
    ).status_code == 403
    assert Substation.objects.get(pk=pk).name == "Umspannwerk Schaan"


def test_user_without_role_reads_but_cannot_write(twin_data):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("nobody"))
    assert client.get("/api/v1/chargers/").status_code == 200
    assert client.delete(f"/api/v1/chargers/{Charger.objects.first().pk}/").status_code == 403


# --- bad input ----------------------------------------------------------------------------------

SELF_INTERSECTING = {"type": "Polygon", "coordinates": [
    [[9.50, 47.16], [9.51, 47.17], [9.51, 47.16], [9.50, 47.17], [9.50, 47.16]]]}

BAD_BODIES = [
    ("substations", {"type": "Point", "coordinates": SCHAAN},
     {"name": "bowtie", "footprint": SELF_INTERSECTING}, "footprint", "Self-intersection"),
    ("substations", {"type": "Point", "coordinates": [190.0, 47.0]}, {"name": "x"},
     "location", "out of range"),
    ("supports", {"type": "Point", "coordinates": [9.5, 95.0]}, {"kind": "pole"},
     "location", "out of range"),
    ("lines", {"type": "Point", "coordinates": SCHAAN}, {"kind": "line"},
     "geometry", "expected LineString or MultiLineString"),
    ("lines", {"type": "LineString", "coordinates": [[9.5, 47.1]]}, {"kind": "line"},
     "geometry", ""),
    ("supports", {"type": "Pointy", "coordinates": SCHAAN}, {"kind": "tower"}, "location", ""),
    ("substations", {"type": "Point", "coordinates": SCHAAN}, {"condition_score": 140},
     "condition_score", "less than or equal to 100"),
    ("substations", {"type": "Point", "coordinates": SCHAAN}, {"voltages_kv": [-20]},
     "voltages_kv", "greater than or equal to 0"),
    ("lines", {"type": "LineString", "coordinates": [[9.5, 47.1], [9.6, 47.2]]},
     {"circuits": 0}, "circuits", "greater than or equal to 1"),
    ("supports", {"type": "Point", "coordinates": SCHAAN}, {"kind": "tree"}, "kind", "not a valid"),
    ("chargers", {"type": "Point", "coordinates": SCHAAN},
     {"evses": [{"uid": "A", "connectors": [{"standard": "IEC_62196_T2", "power_kw": -3}]}]},
     "evses", "power_kw"),
    ("chargers", {"type": "Point", "coordinates": SCHAAN},
     {"evses": [{"uid": "A"}, {"uid": "A"}]}, "evses", "unique"),
]


@pytest.mark.parametrize("resource,geometry,props,field,text", BAD_BODIES,
                         ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BAD_BODIES)])
def test_bad_input_is_400_naming_the_field(operator_client, resource, geometry, props, field,
                                           text):
    model = {"substations": Substation, "lines": Line, "supports": Support,
             "chargers": Charger}[resource]
    before = model.objects.count()
    r = operator_client.post(f"/api/v1/{resource}/", feature(geometry, props), format="json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert field in body["errors"], body
    assert body["message"].startswith(field) or f"{field}" in body["message"]
    assert text in json.dumps(body)
    assert model.objects.count() == before  # nothing saved
    assert Connector.objects.count() == 0


def test_malformed_json_is_400(operator_client):
    r = operator_client.post("/api/v1/lines/", "{not json", content_type="application/json")
    assert r.status_code == 400 and "JSON parse error" in r.json()["message"]


BAD_QUERIES = [
    ("bbox=1,2,3", "bbox", "four numbers"),
    ("bbox=a,b,c,d", "bbox", "four numbers"),
    ("bbox=9.6,47,9.5,47.2", "bbox", "less than"),
    ("bbox=-200,47,9.5,47.2", "bbox", "-180..180"),
    ("near=9.5,47.1", "radius_m", "required"),
    ("near=9.5,47.1&radius_m=0", "radius_m", "greater than 0"),
    ("near=9.5,47.1&radius_m=-5", "radius_m", "greater than 0"),
    ("near=9.5,47.1&radius_m=5000000", "radius_m", "at most"),
    ("near=9.5,47.1&radius_m=abc", "radius_m", "number"),
    ("near=9.5&radius_m=100", "near", "lon,lat"),
    ("near=9.5,147.1&radius_m=100", "near", "latitude"),
    ("radius_m=100", "radius_m", "goes with near"),
    ("voltage_kv_min=high", "voltage_kv_min", "number"),
]


@pytest.mark.parametrize("query,field,text", BAD_QUERIES, ids=[q[0] for q in BAD_QUERIES])
def test_bad_filters_are_400(crew_client, query, field, text):
    r = crew_client.get(f"/api/v1/substations/?{query}")
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"] and text in r.json()["message"], r.json()


def test_oversized_page_is_capped(twin_data, crew_client):
    body = crew_client.get("/api/v1/supports/?page_size=100000").json()
    assert len(body["features"]) == 186  # max_page_size 1000 caps, real count is 186


def test_openapi_schema_and_docs_served_locally(crew_client, client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for resource in ["substations", "lines", "supports", "chargers", "pricing-nodes", "jobs"]:
        assert f"/api/v1/{resource}/" in paths
    docs = client.get("/api/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200 and "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html and "/static/drf_spectacular_sidecar/" in html


def test_near_pages_carry_the_total(twin_data, crew_client):
    url = "/api/v1/supports/?near=9.5098,47.1661&radius_m=4000&page_size=20"
    first = crew_client.get(url).json()
    everything = crew_client.get(url.replace("page_size=20", "page_size=1000")).json()
    assert first["count"] == everything["count"] == len(everything["features"]) > 40
    second = crew_client.get(url + "&page=2").json()
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == [f["id"] for f in everything["features"][:40]]
    assert second["count"] == first["count"] and "page=2" in first["next"]
    assert crew_client.get(url + "&page=99").status_code == 404
    assert crew_client.get(url + "&page=zero").status_code == 404


@pytest.mark.parametrize("resource", ["substations", "lines", "supports", "chargers"])
def test_list_queries_do_not_grow_with_the_page(twin_data, crew_client, resource,
                                                django_assert_max_num_queries):
    """No query per feature (region names, EVSEs, carried lines are joined or prefetched)."""
    from twin.models import Region

    region = Region.objects.create(name="li")
    for model in (Substation, Line, Support, Charger):
        model.objects.update(region=region)
    with django_assert_max_num_queries(8):
        body = crew_client.get(f"/api/v1/{resource}/?page_size=1000").json()
    assert {f["properties"]["region"] for f in body["features"]} == {"li"}
    with django_assert_max_num_queries(8):
        crew_client.get(f"/api/v1/{resource}/?near=9.5215,47.1410&radius_m=20000")
