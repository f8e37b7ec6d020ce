"""bbox / near / voltage filters give the same features on PostGIS and SpatiaLite.

The expected answers are computed independently from the fixture with shapely (intersection)
and pyproj (distance in the local UTM zone), so the test fails on either backend if its spatial
lookups drift. Marked ``embedded``: the SpatiaLite smoke suite runs it too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box, shape

from tests.conftest import load_features

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
TO_UTM32N = Transformer.from_crs(4326, 32632, always_xy=True)
KIND_RESOURCE = {"line": "lines", "support": "supports", "substation": "substations",
                 "charger": "chargers"}


def _features(kind: str) -> list[tuple[str, object]]:
    """(source_id, shapely geometry) of the fixture's features of one kind, as stored."""
    out = []
    for f in load_features():
        if f["properties"]["kind"] != kind:
            continue
        geom = shape(f["geometry"])
        if kind == "substation" and geom.geom_type != "Point":
            geom = geom.representative_point()  # substations are filtered on their location
        out.append((f["properties"]["source_id"], geom))
    return out


def _distance_m(lon: float, lat: float, geom) -> float:
    """Distance in metres, measured in UTM zone 32N (scale error < 0.05 % here)."""
    utm = shapely.transform(geom, lambda xy: np.column_stack(TO_UTM32N.transform(*xy.T)))
    return utm.distance(Point(TO_UTM32N.transform(lon, lat)))


def _ids(client, url: str) -> list[str]:
    r = client.get(url)
    assert r.status_code == 200, r.content
    return [f["properties"]["source_id"] for f in r.json()["features"]]


# Boxes around Schaan and Vaduz, and one that cuts the 220 kV line without containing it.
BOXES = [(9.49, 47.15, 9.53, 47.18), (9.50, 47.12, 9.54, 47.15), (9.55, 47.05, 9.60, 47.10)]


@pytest.mark.parametrize("kind", list(KIND_RESOURCE))
@pytest.mark.parametrize("bbox", BOXES)
def test_bbox_matches_intersection(shared_twin_data, crew_client, kind, bbox):
    expected = {sid for sid, geom in _features(kind) if geom.intersects(box(*bbox))}
    got = _ids(crew_client, f"/api/v1/{KIND_RESOURCE[kind]}/?bbox={','.join(map(str, bbox))}"
                            "&page_size=1000")
    assert set(got) == expected
    assert len(got) == len(set(got))


def test_bbox_includes_lines_crossing_the_box(shared_twin_data, crew_client):
    from twin.models import Line

    line = Line.objects.get(voltage_kv=220)
    x, y = line.geometry.coords[len(line.geometry.coords) // 2]
    small = (x - 0.002, y - 0.002, x + 0.002, y + 0.002)
    assert not box(*small).contains(shape(json.loads(line.geometry.geojson)))
    got = _ids(crew_client, f"/api/v1/lines/?bbox={','.join(map(str, small))}")
    assert line.source_id in got


# Centres: Schaan substation, Vaduz centre, the Balzers end of the country.
CENTRES = [(9.5098, 47.1661), (9.5215, 47.1410), (9.4981, 47.0670)]


@pytest.mark.parametrize("kind", list(KIND_RESOURCE))
@pytest.mark.parametrize("centre", CENTRES)
@pytest.mark.parametrize("radius_m", [300, 1500, 5000])
def test_near_matches_geodesic_distance(shared_twin_data, crew_client, kind, centre, radius_m):
    distances = {sid: _distance_m(*centre, geom) for sid, geom in _features(kind)}
    # Features within 0.5 % of the radius are ambiguous between a sphere and the ellipsoid.
    sure_in = {sid for sid, d in distances.items() if d <= radius_m * 0.995}
    sure_out = {sid for sid, d in distances.items() if d > radius_m * 1.005}
    url = (f"/api/v1/{KIND_RESOURCE[kind]}/?near={centre[0]},{centre[1]}&radius_m={radius_m}"
           "&page_size=1000")
    r = crew_client.get(url)
    got = [f["properties"]["source_id"] for f in r.json()["features"]]
    assert sure_in <= set(got)
    assert not (sure_out & set(got))
    reported = [f["properties"]["distance_m"] for f in r.json()["features"]]
    assert reported == sorted(reported)  # nearest first
    for sid, d in zip(got, reported, strict=True):
        assert d == pytest.approx(distances[sid], rel=0.01, abs=1.0)


@pytest.mark.parametrize("low,high", [(200, None), (100, 150), (None, 50), (110, 110)])
def test_voltage_range(shared_twin_data, crew_client, low, high):
    from twin.ingest.osm_tags import parse_voltages_kv

    query, expected = [], set()
    for f in load_features():
        if f["properties"]["kind"] not in ("line", "substation"):
            continue
        levels = parse_voltages_kv(f["properties"]["tags"].get("voltage"))[0]
        top = levels[0] if levels else None
        if top is not None and (low is None or top >= low) and (high is None or top <= high):
            expected.add(f["properties"]["source_id"])
    if low is not None:
        query.append(f"voltage_kv_min={low}")
    if high is not None:
        query.append(f"voltage_kv_max={high}")
    got = set()
    for resource in ("lines", "substations"):
        got |= set(_ids(crew_client, f"/api/v1/{resource}/?{'&'.join(query)}&page_size=1000"))
    assert got == expected
    assert expected or (low, high) == (None, 50)


def test_filters_combine(shared_twin_data, crew_client):
    """near + kind + bbox together: towers of the Schaan area only."""
    got = _ids(crew_client, "/api/v1/supports/?near=9.5098,47.1661&radius_m=3000&kind=tower"
                            "&bbox=9.49,47.15,9.53,47.18&page_size=1000")
    from twin.models import Support

    towers = set(Support.objects.filter(kind="tower").values_list("source_id", flat=True))
    expected = {sid for sid, g in _features("support") if sid in towers
                and g.intersects(box(9.49, 47.15, 9.53, 47.18))
                and _distance_m(9.5098, 47.1661, g) <= 2985}
    assert expected and expected <= set(got)
    assert set(got) <= towers
