"""The prices and carbon API on the CAISO excerpt (24 real Bay Area nodes, 2022-09-01, see
tests/fixtures/README.md) and a real EIA-930 hour or two: status codes, bodies and auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from markets.models import CarbonIntensity, Market, NodalPrice
from markets.services.nodes import import_nodes
from markets.services.prices import import_prices
from tests.conftest import FIXTURES

T = datetime(2022, 9, 1, 23, 7, tzinfo=UTC)  # inside the interval 23:00–23:15Z


@pytest.fixture
def caiso(db) -> Market:
    import_nodes(FIXTURES / "caiso_excerpt_nodes.csv", market_name="CAISO", currency="USD",
                 time_zone="America/Los_Angeles", interval_min=15, carbon_zone="CISO")
    import_prices("caiso-oasis", FIXTURES / "caiso_excerpt_rtpd_2022-09-01.csv.gz",
                  market_name="CAISO")
    # EIA-930 CISO average intensity (shared/data/carbon, rounded) for three hours of 2022-09-01
    for hour, value in ((7, 337.93), (8, 334.21), (23, 295.45)):
        start = datetime(2022, 9, 1, hour, tzinfo=UTC)
        CarbonIntensity.objects.create(zone="CISO", interval_start=start,
                                       interval_end=start + timedelta(hours=1),
                                       average_g_per_kwh=value, source="eia930")
    return Market.objects.get(name="CAISO")


def _get(client, url, **params):
    return client.get(url, params)


@pytest.mark.embedded
def test_nodes_at_an_instant_as_geojson(caiso, crew_client):
    response = _get(crew_client, "/api/v1/prices/nodes/", market="CAISO", run="real-time",
                    at=T.isoformat())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 24
    assert body["interval_start"] == "2022-09-01T23:00:00Z"
    feature = body["features"][0]
    price = NodalPrice.objects.get(node_id=feature["id"], interval_start=T.replace(minute=0))
    props = feature["properties"]
    assert props["lmp_per_mwh"] == price.lmp_per_mwh and props["currency"] == "USD"
    assert props["congestion_per_mwh"] == price.congestion_per_mwh
    assert props["interval_end"] == "2022-09-01T23:15:00Z"
    assert feature["geometry"]["coordinates"] == [price.node.location.x, price.node.location.y]
    # no interval of the run holds this instant: an empty collection
    later = _get(crew_client, "/api/v1/prices/nodes/", market="CAISO", run="real-time",
                 at="2022-09-03T00:00:00Z").json()
    assert later["features"] == [] and later["interval_start"] is None


@pytest.mark.parametrize("params, message", [
    ({"market": "NOPE", "run": "real-time", "at": "2022-09-01T23:00Z"}, "unknown market 'NOPE'"),
    ({"market": "CAISO", "run": "spot", "at": "2022-09-01T23:00Z"}, "run:"),
    ({"market": "CAISO", "run": "real-time", "at": "tomorrow"}, "at:"),
    ({"market": "CAISO", "run": "real-time"}, "at:"),
])
def test_nodes_bad_parameters_are_400_with_a_message(caiso, crew_client, params, message):
    response = _get(crew_client, "/api/v1/prices/nodes/", **params)
    assert response.status_code == 400 and message in response.json()["message"]


def test_series_of_a_node_with_its_carbon(caiso, crew_client):
    node = caiso.nodes.get(code="ADCC_2_N001")
    response = _get(crew_client, "/api/v1/prices/series/", node=node.pk, run="real-time",
                    start="2022-09-01T07:00:00Z", end="2022-09-01T09:00:00Z")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["node"]["code"] == "ADCC_2_N001" and body["currency"] == "USD"
    assert len(body["prices"]) == 8
    assert body["prices"][0]["lmp_per_mwh"] == pytest.approx(81.19759)
    assert [p["interval_start"][11:16] for p in body["prices"][:2]] == ["07:00", "07:15"]
    assert [c["average_g_per_kwh"] for c in body["carbon"]] == [337.93, 334.21]
    whole_day = _get(crew_client, "/api/v1/prices/series/", node=node.pk, run="real-time",
                     start="2022-09-01T00:00:00Z", end="2022-09-03T00:00:00Z").json()
    assert len(whole_day["prices"]) == 96


@pytest.mark.parametrize("params, message", [
    ({"start": "2022-09-01T00:00Z", "end": "2022-10-15T00:00Z"}, "range too long: at most 31 days"),
    ({"start": "2022-09-02T00:00Z", "end": "2022-09-01T00:00Z"}, "end: must be after start"),
    ({"start": "2022-09-01T00:00Z", "end": "soon"}, "end:"),
    ({"node": 999999, "start": "2022-09-01T00:00Z", "end": "2022-09-02T00:00Z"},
     "no pricing node with id 999999"),
])
def test_series_bad_parameters_are_400(caiso, crew_client, params, message):
    params = {"node": caiso.nodes.first().pk, "run": "real-time", **params}
    response = _get(crew_client, "/api/v1/prices/series/", **params)
    assert response.status_code == 400 and message in response.json()["message"]


def test_intervals_of_a_market_run(caiso, crew_client):
    body = _get(crew_client, "/api/v1/prices/intervals/", market="CAISO", run="real-time").json()
    assert len(body["intervals"]) == 96 and body["intervals"][0] == "2022-09-01T07:00:00Z"
    some = _get(crew_client, "/api/v1/prices/intervals/", market="CAISO", run="real-time",
                start="2022-09-01T08:00Z", end="2022-09-01T09:00Z").json()
    assert [i[11:16] for i in some["intervals"]] == ["08:00", "08:15", "08:30", "08:45"]
    assert _get(crew_client, "/api/v1/prices/intervals/", market="CAISO",
                run="day-ahead").json()["intervals"] == []


def test_price_and_carbon_at_a_location(caiso, crew_client):
    node = caiso.nodes.get(code="ADCC_2_N001")
    price = NodalPrice.objects.get(node=node, interval_start=T.replace(minute=0))
    lon, lat = node.location.x, node.location.y
    nearest = _get(crew_client, "/api/v1/prices/at/", lon=lon, lat=lat, at=T.isoformat(),
                   market="CAISO", run="real-time").json()
    assert nearest["method"] == "nearest" and nearest["node"]["code"] == "ADCC_2_N001"
    assert nearest["lmp_per_mwh"] == price.lmp_per_mwh and nearest["distance_m"] < 1
    assert nearest["carbon_g_per_kwh"] == 295.45 and nearest["currency"] == "USD"
    # interpolated at a node (inside the hull): close to that node's own price
    lons = [n.location.x for n in caiso.nodes.all()]
    lats = [n.location.y for n in caiso.nodes.all()]
    centre = (sum(lons) / len(lons), sum(lats) / len(lats))
    inside = _get(crew_client, "/api/v1/prices/at/", lon=centre[0], lat=centre[1],
                  at=T.isoformat(), market="CAISO", run="real-time", method="interpolated").json()
    prices = NodalPrice.objects.filter(node__market=caiso, interval_start=T.replace(minute=0))
    low, high = (min(p.lmp_per_mwh for p in prices), max(p.lmp_per_mwh for p in prices))
    assert inside["method"] == "interpolated" and low <= inside["lmp_per_mwh"] <= high
    assert "inverse-distance" in inside["note"]
    outside = _get(crew_client, "/api/v1/prices/at/", lon=-120.0, lat=39.0, at=T.isoformat(),
                   market="CAISO", run="real-time", method="interpolated").json()
    assert outside["lmp_per_mwh"] is None and "outside the nodes' coverage" in outside["note"]
    bad = _get(crew_client, "/api/v1/prices/at/", lon=200, lat=39, at=T.isoformat(),
               market="CAISO", run="real-time")
    assert bad.status_code == 400 and "lon:" in bad.json()["message"]
    bad = _get(crew_client, "/api/v1/prices/at/", lon=-122, lat=37.5, at=T.isoformat(),
               market="CAISO", run="real-time", method="kriging")
    assert bad.status_code == 400 and "method:" in bad.json()["message"]


def test_carbon_series_by_zone_market_or_node(caiso, crew_client):
    params = {"start": "2022-09-01T07:00Z", "end": "2022-09-01T09:00Z"}
    by_zone = _get(crew_client, "/api/v1/carbon/", zone="CISO", **params).json()
    assert [s["average_g_per_kwh"] for s in by_zone["series"]] == [337.93, 334.21]
    assert by_zone["series"][0]["interval_end"] == "2022-09-01T08:00:00Z"
    by_market = _get(crew_client, "/api/v1/carbon/", market="CAISO", **params).json()
    assert by_market["zone"] == "CISO" and by_market["series"] == by_zone["series"]
    node = caiso.nodes.first()
    assert _get(crew_client, "/api/v1/carbon/", node=node.pk, **params).json()["series"] == \
        by_zone["series"]
    both = _get(crew_client, "/api/v1/carbon/", zone="CISO", market="CAISO", **params)
    assert both.status_code == 400 and "exactly one of" in both.json()["message"]
    year = _get(crew_client, "/api/v1/carbon/", zone="CISO", start="2021-01-01T00:00Z",
                end="2022-06-01T00:00Z")
    assert year.status_code == 400 and "at most 366 days" in year.json()["message"]


@pytest.mark.parametrize("url", ["/api/v1/prices/nodes/?market=CAISO&run=real-time&at=x",
                                 "/api/v1/prices/series/", "/api/v1/prices/intervals/",
                                 "/api/v1/prices/at/", "/api/v1/carbon/"])
def test_anonymous_is_refused(caiso, url):
    response = APIClient().get(url)
    assert response.status_code == 401


def test_operators_read_too_and_the_schema_documents_the_endpoints(caiso, operator_client):
    response = _get(operator_client, "/api/v1/prices/intervals/", market="CAISO",
                    run="real-time")
    assert response.status_code == 200
    schema = operator_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in ("prices/nodes/", "prices/series/", "prices/intervals/", "prices/at/", "carbon/"):
        assert f"/api/v1/{path}" in paths
    names = {p["name"] for p in paths["/api/v1/prices/series/"]["get"]["parameters"]}
    assert {"node", "run", "start", "end"} <= names


def test_import_upload_runs_a_price_import_job(caiso, operator_client):
    """The existing upload endpoint offers ``prices`` (the markets.import_prices job kind)."""
    with (FIXTURES / "caiso_excerpt_rtpd_2022-09-01.csv.gz").open("rb") as handle:
        response = operator_client.post("/api/v1/imports/", {
            "file": handle, "source": "prices",
            "options": json.dumps({"format": "caiso-oasis", "market": "CAISO"})},
            format="multipart")
    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "markets.import_prices"
