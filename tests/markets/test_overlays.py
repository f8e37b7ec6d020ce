"""Price overlays: interpolation, the GeoTIFF surface, Voronoi service areas, node points, their
cache, the ``build_price_overlay`` command and job, and ``GET /api/v1/overlays/``.

Real data: the CAISO SF Bay Area pricing nodes (407 locations) and their RTPD LMPs of the first
four 15-minute intervals of 2022-09-01 UTC from ``../shared/data/lmp`` (CAISO OASIS; not
copied into the repository).
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from pyproj import Transformer
from rasterio.io import MemoryFile
from scipy.spatial import Delaunay, cKDTree

from markets.models import CarbonIntensity, Market, NodalPrice, PriceOverlay, PricingNode
from markets.services import overlays, surfaces
from markets.services.interpolate import DEFAULT_NEIGHBOURS, coverage, interpolate
from markets.services.storage import store_prices
from tests.conftest import SHARED_DATA
from twin.jobs import execute_job, submit_job
from twin.models import Job, JobStatus

LMP_DIR = SHARED_DATA / "lmp"
NODES_CSV = LMP_DIR / "caiso_sfbayarea_node_locations.csv"
PRICES_CSV = LMP_DIR / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
T0 = datetime(2022, 9, 1, 7, tzinfo=UTC)
INTERVALS = [T0 + timedelta(minutes=15 * i) for i in range(4)]
AT = "2022-09-01T07:05:00Z"
ITEMS = {"LMP_PRC": "lmp_per_mwh", "LMP_ENE_PRC": "energy_per_mwh",
         "LMP_CONG_PRC": "congestion_per_mwh", "LMP_LOSS_PRC": "loss_per_mwh",
         "LMP_GHG_PRC": "ghg_per_mwh"}

needs_caiso = pytest.mark.skipif(not PRICES_CSV.exists(), reason="../shared/data/lmp missing")
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def load_caiso(intervals=INTERVALS) -> Market:
    """The CAISO market with its 407 located nodes and their RTPD prices of ``intervals``."""
    market = Market.objects.create(name="CAISO", operator="California ISO", currency="USD",
                                   time_zone="America/Los_Angeles", interval_min=15,
                                   carbon_zone="CISO")
    table = pd.read_csv(NODES_CSV)
    nodes = PricingNode.objects.bulk_create([
        PricingNode(market=market, code=row.node_id, name=row.node_id,
                    location=Point(row.longitude, row.latitude, srid=4326),
                    kind=row.node_type.lower(), area=row.area)
        for row in table.itertuples()])
    by_code = {node.code: node.pk for node in nodes}
    prices = pd.read_csv(PRICES_CSV, usecols=["INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT",
                                              "NODE_ID", "XML_DATA_ITEM", "PRC"])
    prices["start"] = pd.to_datetime(prices["INTERVALSTARTTIME_GMT"], utc=True)
    prices = prices[prices["start"].isin(pd.to_datetime(intervals, utc=True))]
    wide = prices.pivot_table(index=["NODE_ID", "start"], columns="XML_DATA_ITEM", values="PRC",
                              aggfunc="first").reset_index()
    rows = [{
        "node_id": by_code[r["NODE_ID"]], "run": "real-time",
        "interval_start": r["start"].to_pydatetime(),
        "interval_end": r["start"].to_pydatetime() + timedelta(minutes=15),
        **{field: float(r[item]) for item, field in ITEMS.items()},
    } for r in wide.to_dict("records")]
    store_prices(rows, source="caiso-oasis-test")
    return market


@pytest.fixture(scope="module")
def caiso(django_db_setup, django_db_blocker):
    if not PRICES_CSV.exists():
        pytest.skip("../shared/data/lmp missing")
    with django_db_blocker.unblock():
        market = load_caiso()
    yield market
    with django_db_blocker.unblock():
        Market.objects.filter(pk=market.pk).delete()
        PricingNode.history.model.objects.all().delete()
        Market.history.model.objects.all().delete()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def caiso_nodes(market: Market, at: datetime = T0) -> dict:
    """Located nodes and their LMPs at ``at`` as arrays (ids, lon/lat, lmp)."""
    rows = list(NodalPrice.objects.filter(node__market=market, run="real-time",
                                          interval_start=at, is_current=True)
                .order_by("node_id").values_list("node_id", "node__location", "lmp_per_mwh"))
    return {"ids": np.array([r[0] for r in rows]),
            "lonlat": np.array([[r[1].x, r[1].y] for r in rows]),
            "lmp": np.array([r[2] for r in rows])}


def to_utm(lonlat: np.ndarray) -> tuple[np.ndarray, Transformer]:
    srid, forward, _ = surfaces.utm_transformers(lonlat)
    x, y = forward.transform(lonlat[:, 0], lonlat[:, 1])
    return np.c_[x, y], Transformer.from_crs(3857, srid, always_xy=True)


# --- interpolate() ---------------------------------------------------------------------------
SQUARE = np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1000.0], [0.0, 1000.0], [400.0, 600.0]])
SQUARE_VALUES = np.array([10.0, 20.0, 40.0, 30.0, 25.0])


@pytest.mark.embedded
@pytest.mark.parametrize("method", ["idw", "linear"])
def test_interpolation_is_exact_at_nodes_bounded_inside_and_nan_outside(method):
    inside = np.random.default_rng(7).uniform(1, 999, size=(2000, 2))
    outside = np.array([[-1.0, 500.0], [500.0, 1001.0], [2000.0, 2000.0], [-50.0, -50.0]])
    at_nodes = interpolate(SQUARE, SQUARE_VALUES, SQUARE, method=method)
    np.testing.assert_allclose(at_nodes, SQUARE_VALUES, rtol=0, atol=1e-9)
    values = interpolate(SQUARE, SQUARE_VALUES, inside, method=method)
    assert np.isfinite(values).all()
    assert values.min() >= SQUARE_VALUES.min() and values.max() <= SQUARE_VALUES.max()
    assert np.isnan(interpolate(SQUARE, SQUARE_VALUES, outside, method=method)).all()
    # A buffer grows the coverage: 1 m outside the hull is covered with a 5 m buffer, 50 m not.
    grown = interpolate(SQUARE, SQUARE_VALUES, outside, method=method, buffer_m=5)
    assert np.isfinite(grown[:2]).all() and np.isnan(grown[2:]).all()
    if method == "linear":  # on the triangulation: the midpoint of an edge is the mean
        assert interpolate(SQUARE, SQUARE_VALUES, [[500.0, 0.0]], method="linear")[0] == 15.0


@pytest.mark.embedded
def test_idw_weights_fall_with_distance_and_colocated_nodes_are_averaged():
    """Modified Shepard weights: the farthest of the k neighbours weighs nothing, the surface is
    continuous where the neighbour set changes."""
    points = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [0.0, 0.0]])
    values = np.array([10.0, 50.0, 50.0, 20.0])
    near, far = interpolate(points, values, [[5.0, 1.0], [60.0, 30.0]])
    assert 15.0 < near < 16.0  # next to the two co-located nodes (mean 15)
    assert far > near
    assert interpolate(points, values, [[0.0, 0.0]])[0] == 15.0
    # Continuity: along a line the nearest-k set changes many times, the values do not jump.
    rng = np.random.default_rng(3)
    cloud = rng.uniform(0, 1000, (200, 2))
    line = np.c_[np.linspace(100, 900, 4001), np.full(4001, 500.0)]
    profile = interpolate(cloud, rng.uniform(0, 100, 200), line)
    assert np.abs(np.diff(profile)).max() < 2.0  # steps of 0.2 m; a jump would be ~10
    # power=1 weighs the far nodes more than power=2
    assert interpolate(points, values, [[10.0, 10.0]], power=1)[0] > interpolate(
        points, values, [[10.0, 10.0]], power=2)[0]


@pytest.mark.embedded
@pytest.mark.parametrize(("points", "values", "query", "options", "message"), [
    (SQUARE[:2], SQUARE_VALUES[:2], SQUARE, {}, "at least 3"),
    ([[0, 0], [1, 1], [2, 2]], [1, 2, 3], SQUARE, {}, "one line"),
    (SQUARE, SQUARE_VALUES[:3], SQUARE, {}, "5 points but 3 values"),
    (SQUARE, [1, 2, np.nan, 4, 5], SQUARE, {}, "finite"),
    (SQUARE, SQUARE_VALUES, [[np.inf, 0]], {}, "finite"),
    (SQUARE, SQUARE_VALUES, [1, 2, 3], {}, "shape"),
    (SQUARE, SQUARE_VALUES, SQUARE, {"method": "kriging"}, "unknown method"),
    (SQUARE, SQUARE_VALUES, SQUARE, {"power": 0}, "power"),
    (SQUARE, SQUARE_VALUES, SQUARE, {"buffer_m": -1}, "buffer_m"),
])
def test_interpolation_refuses_bad_input(points, values, query, options, message):
    with pytest.raises(ValueError, match=message):
        interpolate(points, values, query, **options)


# --- the surface raster -----------------------------------------------------------------------
def _pixel_bounds_idw(centre, node, lmp, nodes_xy, k=DEFAULT_NEIGHBOURS):
    """The IDW error bound at ``centre`` for node ``node``: Σ_{j≠i} (d_i/d_j)² |p_j − p_i| over
    the k nearest nodes (Σ w ≥ w_i)."""
    distance, index = cKDTree(nodes_xy).query(centre, k=k)
    d_i = np.linalg.norm(nodes_xy[node] - centre)
    if node not in index:  # another node nearer than this one: the value is a mix of the k
        return float(np.abs(lmp[index] - lmp[node]).max())
    others = index != node
    if d_i == 0:
        return 0.0
    return float(((d_i / distance[others]) ** 2 * np.abs(lmp[index[others]] - lmp[node])).sum())


def _pixel_bound_linear(centre, node, lmp, nodes_xy, triangulation):
    """The linear interpolation's error bound at ``centre`` for node ``node``: the containing
    triangle's gradient times the distance when the triangle has the node as a vertex, else the
    spread of its vertices' prices; outside the hull (the buffer ring) the nearest node's price."""
    simplex = int(triangulation.find_simplex(centre))
    d_i = np.linalg.norm(nodes_xy[node] - centre)
    if simplex < 0:
        nearest = int(cKDTree(nodes_xy).query(centre)[1])
        return abs(lmp[nearest] - lmp[node])
    vertices = triangulation.simplices[simplex]
    if node in vertices:
        a = np.c_[nodes_xy[vertices] - nodes_xy[vertices[0]]][1:]
        gradient = np.linalg.solve(a, lmp[vertices[1:]] - lmp[vertices[0]])
        return float(np.linalg.norm(gradient) * d_i)
    return float(np.abs(lmp[vertices] - lmp[node]).max())


@needs_caiso
@pytest.mark.django_db
@pytest.mark.parametrize("method", ["idw", "linear"])
def test_surface_value_at_each_node_pixel_is_its_price_within_tolerance(caiso, method):
    overlay, built = overlays.get_overlay(caiso, "real-time", overlays.parse_instant(AT),
                                          kind="surface", method=method, size=1024)
    assert built and overlay.raster.name.endswith(".tif")
    with overlay.raster.open("rb") as handle, MemoryFile(handle.read()) as memory, \
            memory.open() as tif:
        assert tif.crs.to_epsg() == 3857 and tif.dtypes == ("float32",)
        assert np.isnan(tif.nodata) and max(tif.width, tif.height) == 1024
        data = tif.read(1)
        transform = tif.transform
    nodes = caiso_nodes(caiso)
    nodes_xy, from_3857 = to_utm(nodes["lonlat"])
    mx, my = Transformer.from_crs(4326, 3857, always_xy=True).transform(
        nodes["lonlat"][:, 0], nodes["lonlat"][:, 1])
    rows, cols = rasterio.transform.rowcol(transform, mx, my)
    centres_3857 = np.array([transform @ (c + 0.5, r + 0.5) for r, c in zip(rows, cols, strict=True)])
    cx, cy = from_3857.transform(centres_3857[:, 0], centres_3857[:, 1])
    centres = np.c_[cx, cy]
    triangulation = Delaunay(nodes_xy)
    half_diagonal_m = overlay.stats["coverage_buffer_m"]
    errors, bounds = [], []
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        value = float(data[r, c])
        assert np.isfinite(value), f"node {i}'s pixel is nodata"
        assert np.linalg.norm(centres[i] - nodes_xy[i]) <= half_diagonal_m
        bound = (_pixel_bounds_idw(centres[i], i, nodes["lmp"], nodes_xy) if method == "idw"
                 else _pixel_bound_linear(centres[i], i, nodes["lmp"], nodes_xy, triangulation))
        errors.append(abs(value - nodes["lmp"][i]))
        bounds.append(bound)
        assert errors[-1] <= bound + 1e-3 * max(1.0, abs(nodes["lmp"][i])), (i, value, bound)
    # Most nodes stand alone in their pixel: there the surface holds the price to the cent.
    assert np.median(errors) < 0.05
    assert overlay.stats["node_range"] == [round(nodes["lmp"].min(), 5),
                                           round(nodes["lmp"].max(), 5)]
    assert nodes["lmp"].min() - 1e-3 <= np.nanmin(data) and np.nanmax(data) <= nodes["lmp"].max() + 1e-3


@needs_caiso
@pytest.mark.django_db
def test_surface_is_nodata_outside_the_coverage_and_covered_inside(caiso):
    overlay, _ = overlays.get_overlay(caiso, "real-time", overlays.parse_instant(AT),
                                      kind="surface", method="idw", size=256)
    with overlay.raster.open("rb") as handle:
        data, profile = surfaces.read_geotiff(handle)
    assert data.shape == (profile["height"], profile["width"]) and 256 in data.shape
    nodes = caiso_nodes(caiso)
    nodes_xy, from_3857 = to_utm(nodes["lonlat"])
    hull = coverage(nodes_xy)
    cols, rows = np.meshgrid(np.arange(data.shape[1]) + 0.5, np.arange(data.shape[0]) + 0.5)
    t = profile["transform"]
    gx, gy = t.c + cols * t.a, t.f + rows * t.e
    ux, uy = from_3857.transform(gx.ravel(), gy.ravel())
    distance = shapely.distance(hull, shapely.points(ux, uy)).reshape(data.shape)
    buffer_m = overlay.stats["coverage_buffer_m"]
    assert np.isfinite(data[distance == 0]).all()                # inside the hull: a price
    # outside: nodata (1 m: pixel centres are projected bilinearly between exact ones)
    assert np.isnan(data[distance > buffer_m + 1.0]).all()
    assert (distance > buffer_m).sum() > 0.1 * data.size          # there is an outside to test
    assert overlay.stats["covered_fraction"] == pytest.approx(np.isfinite(data).mean(), abs=1e-4)
    # The PNG is transparent exactly where the GeoTIFF has nodata.
    with MemoryFile(overlays.overlay_png(overlay)) as memory, memory.open() as png:
        rgba = png.read()
    assert rgba.shape == (4, *data.shape)
    np.testing.assert_array_equal(rgba[3] == 0, np.isnan(data))


@pytest.mark.embedded
@pytest.mark.parametrize(("size", "tolerance_m"), [(1024, 0.05), (256, 1.0)])
def test_pixel_centres_are_projected_within_centimetres(size, tolerance_m):
    table = pd.read_csv(NODES_CSV) if NODES_CSV.exists() else None
    lonlat = (table[["longitude", "latitude"]].to_numpy() if table is not None
              else np.array([[-122.5, 37.2], [-121.6, 37.3], [-122.0, 38.1]]))
    geometry = surfaces.grid_geometry(lonlat, size=size)
    t = geometry["transform"]
    cols, rows = np.meshgrid(np.arange(geometry["width"]) + 0.5, np.arange(geometry["height"]) + 0.5)
    exact = np.column_stack(Transformer.from_crs(3857, geometry["utm_srid"], always_xy=True)
                            .transform((t.c + cols * t.a).ravel(), (t.f + rows * t.e).ravel()))
    error = np.hypot(*(geometry["query_xy"] - exact).T)
    assert error.max() < tolerance_m


# --- Voronoi service areas ------------------------------------------------------------------
@needs_caiso
def test_voronoi_cells_cover_the_hull_without_overlaps():
    table = pd.read_csv(NODES_CSV)
    nodes_xy, _ = to_utm(table[["longitude", "latitude"]].to_numpy())
    cells, owner = surfaces.voronoi_cells(nodes_xy)
    hull = coverage(nodes_xy)
    assert len(cells) == len(np.unique(nodes_xy, axis=0)) == 407
    assert all(cell.is_valid and not cell.is_empty for cell in cells)
    assert all(cells[owner[i]].intersects(shapely.Point(p)) for i, p in enumerate(nodes_xy))
    assert sum(cell.area for cell in cells) == pytest.approx(hull.area, rel=1e-9)
    assert shapely.union_all(cells).symmetric_difference(hull).area < 1e-6 * hull.area
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    pairs = [(a, b) for a, b in zip(left, right, strict=True) if a < b]
    assert len(pairs) > 407  # neighbours touch …
    overlap = sum(shapely.intersection(cells[a], cells[b]).area for a, b in pairs)
    assert overlap < 1e-6 * hull.area  # … but do not overlap


@pytest.mark.embedded
def test_colocated_nodes_share_one_voronoi_cell():
    points = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0], [1000.0, 1000.0], [0.0, 0.0]])
    cells, owner = surfaces.voronoi_cells(points)
    assert len(cells) == 4 and owner[0] == owner[4]
    assert sum(c.area for c in cells) == pytest.approx(1e6)


@pytest.mark.embedded
@needs_caiso
@pytest.mark.django_db
def test_voronoi_and_points_overlays_carry_prices_carbon_and_colours(caiso):
    CarbonIntensity.objects.create(zone="CISO", interval_start=T0, interval_end=T0 + timedelta(hours=1),
                                   average_g_per_kwh=231.5, source="eia930")
    at = overlays.parse_instant(AT)
    nodes = caiso_nodes(caiso)
    price = dict(zip(nodes["ids"].tolist(), nodes["lmp"].tolist(), strict=True))
    points, _ = overlays.get_overlay(caiso, "real-time", at, kind="points")
    features = points.geojson["features"]
    assert len(features) == 407 and points.geojson["interval_start"] == T0.isoformat()
    assert all(f["properties"]["lmp_per_mwh"] == price[f["id"]] for f in features)
    assert all(f["properties"]["carbon_g_per_kwh"] == 231.5 for f in features)
    stats = points.geojson["stats"]
    assert stats["count"] == 407 and stats["currency"] == "USD"
    assert stats["min"] == round(min(price.values()), 5) and stats["max"] == round(max(price.values()), 5)
    # The colour domain is the 2nd–98th percentile: a few outliers do not wash out the map.
    p02, p98 = np.percentile(list(price.values()), [2, 98])
    assert stats["domain"] == [round(p02, 5), round(p98, 5)] and stats["domain_clipped"]
    median_node = min(features, key=lambda f: abs(f["properties"]["lmp_per_mwh"] - stats["median"]))
    assert median_node["properties"]["color"] not in (surfaces.PRICE_RAMP[0], surfaces.PRICE_RAMP[-1])
    cheapest = min(features, key=lambda f: f["properties"]["lmp_per_mwh"])
    dearest = max(features, key=lambda f: f["properties"]["lmp_per_mwh"])
    assert cheapest["properties"]["color"] == surfaces.PRICE_RAMP[0]
    assert dearest["properties"]["color"] == surfaces.PRICE_RAMP[-1]
    for f in features[:5]:
        p = f["properties"]
        assert p["lmp_per_mwh"] == pytest.approx(
            p["energy_per_mwh"] + p["congestion_per_mwh"] + p["loss_per_mwh"] + p["ghg_per_mwh"],
            abs=0.01)
    voronoi, _ = overlays.get_overlay(caiso, "real-time", at, kind="voronoi")
    cells = voronoi.geojson["features"]
    assert len(cells) == 407 and {f["id"] for f in cells} == set(price)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in cells]
    assert all(g.is_valid for g in geoms)
    located = {f["id"]: shapely.Point(f["geometry"]["coordinates"]) for f in features}
    assert all(g.buffer(1e-6).contains(located[f["id"]]) for f, g in zip(cells, geoms, strict=True))
    assert sum(f["properties"]["area_km2"] for f in cells) == pytest.approx(
        coverage(to_utm(nodes["lonlat"])[0]).area / 1e6, rel=1e-4)


# --- the cache --------------------------------------------------------------------------------
@needs_caiso
@pytest.mark.django_db
def test_overlays_are_cached_and_rebuilt_when_prices_change(caiso, media):
    at = overlays.parse_instant(AT)
    first, built = overlays.get_overlay(caiso, "real-time", at, kind="surface", size=128)
    assert built
    again, built = overlays.get_overlay(caiso, "real-time", at, kind="surface", size=128)
    assert not built and again.pk == first.pk and again.inputs_digest == first.inputs_digest
    old_file = Path(media) / first.raster.name
    assert old_file.exists()
    # Another interval, another size, another method: other cache rows.
    later = overlays.parse_instant("2022-09-01T07:20:00Z")
    assert overlays.get_overlay(caiso, "real-time", later, kind="surface", size=128)[0].pk != first.pk
    assert overlays.get_overlay(caiso, "real-time", at, kind="surface", size=64)[0].pk != first.pk
    # A revised price: the same request rebuilds the overlay with a new digest and new stats.
    dearest = NodalPrice.objects.filter(node__market=caiso, interval_start=T0).order_by(
        "-lmp_per_mwh").first()
    store_prices([{"node_id": dearest.node_id, "run": "real-time", "interval_start": T0,
                   "interval_end": dearest.interval_end, "lmp_per_mwh": 999.0, "version": 2}])
    rebuilt, built = overlays.get_overlay(caiso, "real-time", at, kind="surface", size=128)
    assert built and rebuilt.pk == first.pk and rebuilt.inputs_digest != first.inputs_digest
    assert rebuilt.stats["node_range"][1] == 999.0
    assert rebuilt.stats["max"] > first.stats["max"]
    assert (Path(media) / rebuilt.raster.name).exists()
    points_before, _ = overlays.get_overlay(caiso, "real-time", at, kind="points")
    assert max(f["properties"]["lmp_per_mwh"] for f in points_before.geojson["features"]) == 999.0
    NodalPrice.objects.filter(node_id=dearest.node_id, version=2).delete()
    NodalPrice.objects.filter(pk=dearest.pk).update(is_current=True)


@needs_caiso
@pytest.mark.django_db
def test_no_prices_and_bad_options_are_clear_errors(caiso):
    with pytest.raises(overlays.NoPrices, match="no real-time prices of CAISO"):
        overlays.get_overlay(caiso, "real-time", overlays.parse_instant("2022-09-03T00:00:00Z"),
                             kind="points")
    with pytest.raises(overlays.NoPrices):
        overlays.get_overlay(caiso, "day-ahead", overlays.parse_instant(AT), kind="points")
    for options, message in [({"kind": "contours"}, "kind"), ({"kind": "surface", "size": 5}, "size"),
                             ({"kind": "surface", "method": "spline"}, "method")]:
        with pytest.raises(overlays.OverlayError, match=message):
            overlays.get_overlay(caiso, "real-time", overlays.parse_instant(AT), **options)
    for text, message in [("yesterday", "ISO 8601"), ("2022-09-01T07:05:00", "UTC offset"),
                          ("2022-13-01T07:05:00Z", "ISO 8601")]:
        with pytest.raises(overlays.OverlayError, match=message):
            overlays.parse_instant(text)
    assert overlays.parse_instant("2022-09-01T00:05:00 07:00") == datetime(2022, 8, 31, 17, 5,
                                                                             tzinfo=UTC)
    with pytest.raises(overlays.OverlayError, match="unknown market 'NYISO'"):
        overlays.resolve_market("NYISO")


@pytest.mark.embedded
@pytest.mark.django_db
def test_too_few_located_nodes_make_no_surface():
    market = Market.objects.create(name="TINY")
    nodes = [PricingNode.objects.create(market=market, code=str(i), location=Point(9 + i / 100, 47))
             for i in range(3)]  # three nodes on one line
    store_prices([{"node_id": n.pk, "run": "computed", "interval_start": T0,
                   "interval_end": T0 + timedelta(hours=1), "lmp_per_mwh": 10.0 + i}
                  for i, n in enumerate(nodes)])
    with pytest.raises(overlays.OverlayError, match="one line"):
        overlays.get_overlay(market, "computed", T0, kind="surface", size=64)
    with pytest.raises(overlays.OverlayError, match="one line"):
        overlays.get_overlay(market, "computed", T0, kind="voronoi")
    points, _ = overlays.get_overlay(market, "computed", T0, kind="points")
    assert len(points.geojson["features"]) == 3


# --- command and job --------------------------------------------------------------------------
@needs_caiso
@pytest.mark.django_db
def test_build_price_overlay_command_writes_the_geotiff(caiso, tmp_path):
    out = tmp_path / "out" / "caiso.tif"
    stdout = io.StringIO()
    call_command("build_price_overlay", "--market", "CAISO", "--run", "real-time", "--at", AT,
                 "--out", str(out), "--method", "linear", "--size", "200", stdout=stdout)
    assert '"built": true' in stdout.getvalue()
    with rasterio.open(out) as tif:
        assert tif.crs.to_epsg() == 3857 and max(tif.width, tif.height) == 200
        assert tif.tags()["method"] == "linear" and tif.tags()["market"] == "CAISO"
        data = tif.read(1, masked=True)
    assert 0 < data.count() < data.size
    with pytest.raises(CommandError, match="unknown market"):
        call_command("build_price_overlay", "--market", "PJM", "--run", "real-time", "--at", AT,
                     "--out", str(out))
    with pytest.raises(CommandError, match="no real-time prices"):
        call_command("build_price_overlay", "--market", "CAISO", "--run", "real-time",
                     "--at", "2023-01-01T00:00:00Z", "--out", str(out))


@needs_caiso
@pytest.mark.django_db(transaction=False)
def test_build_price_overlay_job_succeeds_or_fails_with_a_message(caiso):
    job = submit_job("markets.build_price_overlay", {"market": "CAISO", "run": "real-time",
                                                  "at": AT, "method": "idw", "size": 100})
    assert execute_job(job.pk, 1) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.result["kind"] == "surface" and job.result["built"] is True
    assert PriceOverlay.objects.filter(pk=job.result["overlay"], kind="surface").exists()
    bad = submit_job("markets.build_price_overlay", {"market": "CAISO", "run": "real-time",
                                                  "at": "noon"})
    assert execute_job(bad.pk, 1) == JobStatus.FAILED
    bad.refresh_from_db()
    assert "ISO 8601" in bad.error and "Traceback" not in bad.error


# --- the API ----------------------------------------------------------------------------------
URL = "/api/v1/overlays/"


def _query(**params):
    base = {"market": "CAISO", "run": "real-time", "at": AT}
    return {**base, **params}


@needs_caiso
@pytest.mark.django_db
def test_api_points_and_voronoi_are_geojson(caiso, crew_client):
    response = crew_client.get(URL, _query(kind="points"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 407
    assert body["stats"]["colors"] == list(surfaces.PRICE_RAMP)
    assert response["X-Overlay-Built"] == "true"
    assert crew_client.get(URL, _query(kind="points"))["X-Overlay-Built"] == "false"
    response = crew_client.get(URL, _query(kind="voronoi"))
    assert response.status_code == 200
    assert {f["geometry"]["type"] for f in response.json()["features"]} <= {"Polygon",
                                                                            "MultiPolygon"}


@pytest.mark.embedded
@needs_caiso
@pytest.mark.django_db
def test_api_surface_metadata_png_and_geotiff(caiso, crew_client):
    response = crew_client.get(URL, _query(kind="surface", size="300"))
    assert response.status_code == 200, response.content
    meta = response.json()
    assert meta["crs"] == "EPSG:3857" and max(meta["width"], meta["height"]) == 300
    (west, north), (east, _), (_, south), _ = meta["coordinates"]
    assert meta["bounds"] == [west, south, east, north]
    assert -122.6 < west < -122.5 and -121.6 < east < -121.5 and 37.1 < south < 37.3 < 38.0 < north
    assert meta["interval_start"] == T0.isoformat()
    png = crew_client.get(meta["png_url"].split("testserver", 1)[1])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    with MemoryFile(png.content) as memory, memory.open() as image:
        assert image.count == 4 and (image.width, image.height) == (meta["width"], meta["height"])
        alpha = image.read(4)
    assert 0 < (alpha == 0).mean() < 1
    tif = crew_client.get(meta["tif_url"].split("testserver", 1)[1])
    assert tif.status_code == 200 and tif["Content-Type"] == "image/tiff"
    with MemoryFile(tif.content) as memory, memory.open() as dataset:
        assert dataset.crs.to_epsg() == 3857
        assert np.isnan(dataset.read(1)).mean() == pytest.approx((alpha == 0).mean())
    # A fixed colour domain renders other colours, the same transparency.
    fixed = crew_client.get(URL, _query(kind="surface", size="300", format="png", vmin="0",
                                        vmax="1000"))
    assert fixed.status_code == 200 and fixed.content != png.content
    assert '"coordinates"' not in fixed["X-Overlay-Coordinates"]  # a bare JSON list
    assert fixed["X-Overlay-Coordinates"].startswith("[[")


@needs_caiso
@pytest.mark.django_db
def test_api_large_uncached_surface_answers_202_with_a_job(caiso, operator_client, crew_client):
    response = operator_client.get(URL, _query(kind="surface", size="2048"))
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.kind == "markets.build_price_overlay" and job.parameters["size"] == 2048
    assert job.parameters["at"] == "2022-09-01T07:05:00+00:00"
    # asking again while it is queued gives the same job, not a second one
    again = operator_client.get(URL, _query(kind="surface", size="2048"))
    assert again.status_code == 202 and again.json()["job"]["id"] == job.pk
    assert Job.objects.filter(kind="markets.build_price_overlay").count() == 1
    # readers cannot start builds
    refused = crew_client.get(URL, _query(kind="surface", size="2048"))
    assert refused.status_code == 403 and "only operators" in refused.json()["message"]


@needs_caiso
@pytest.mark.django_db
@pytest.mark.parametrize(("params", "status", "message"), [
    ({"market": ""}, 400, "market: required"),
    ({"at": None}, 400, "at: required"),
    ({"kind": None}, 400, "kind: required"),
    ({"market": "PJM"}, 400, "unknown market 'PJM'"),
    ({"run": "intraday"}, 400, "run: 'intraday' is not one of"),
    ({"at": "tomorrow"}, 400, "ISO 8601"),
    ({"at": "2022-09-01T07:05:00"}, 400, "UTC offset"),
    ({"kind": "contours"}, 400, "kind: 'contours'"),
    ({"kind": "surface", "format": "jpg"}, 400, "format: 'jpg'"),
    ({"kind": "points", "format": "png"}, 400, "png and tif are for kind=surface"),
    ({"kind": "surface", "method": "kriging"}, 400, "method: 'kriging'"),
    ({"kind": "surface", "size": "big"}, 400, "size: 'big' is not an integer"),
    ({"kind": "surface", "size": "100000"}, 400, "size: must be an integer from 16"),
    ({"kind": "surface", "format": "png", "vmin": "5", "vmax": "1"}, 400, "vmin"),
    ({"kind": "surface", "format": "png", "vmin": "low"}, 400, "vmin: 'low' is not a number"),
    ({"kind": "points", "at": "2022-10-01T00:00:00Z"}, 404, "no real-time prices of CAISO"),
])
def test_api_bad_input_is_a_clear_error(caiso, crew_client, params, status, message):
    query = {k: v for k, v in _query(**{"kind": "points", **params}).items() if v is not None}
    response = crew_client.get(URL, query)
    assert response.status_code == status, response.content
    assert message in response.json()["message"]


@pytest.mark.django_db
def test_api_needs_a_signed_in_user(client):
    assert client.get(URL, _query(kind="points")).status_code in (401, 403)


# --- a real worker (transactional: runs last; it empties the database afterwards) ----------
@pytest.fixture
def worker_media(monkeypatch, tmp_path, settings):
    """The worker process and this test write and read overlays in the same media folder."""
    var = tmp_path / "var"
    monkeypatch.setenv("GRIDTWIN_VAR_DIR", str(var))
    settings.MEDIA_ROOT = var / "media"
    return settings.MEDIA_ROOT


@needs_caiso
def test_large_surface_is_built_by_a_worker_then_served(caiso, worker_media, start_worker,
                                                         operator_client, crew_client):
    start_worker()
    query = _query(kind="surface", size="1536", method="linear")
    response = operator_client.get(URL, query)
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in Job.FINISHED:
            break
        time.sleep(0.5)
    assert job.status == JobStatus.SUCCEEDED, (job.status, job.error)
    assert job.result["built"] and job.progress == 1.0
    response = crew_client.get(URL, query)
    assert response.status_code == 200, response.content
    meta = response.json()
    assert max(meta["width"], meta["height"]) == 1536 and meta["built"] is False
    assert (worker_media / PriceOverlay.objects.get(pk=job.result["overlay"]).raster.name).exists()
