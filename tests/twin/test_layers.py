"""GIS layers in and out: round trips through every format, projected Shapefiles, bad input.

The twin is built from the real Liechtenstein extract, exported, emptied, and imported back: the
features must come back the same (geometry within 1e-7°, attributes, voltages, links, EVSEs).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from django.core.management import CommandError, call_command
from pyproj import Transformer

from tests.conftest import REPO
from twin.ingest.base import ImportFailed, evse_specs
from twin.ingest.layers import KINDS, import_layer
from twin.ingest.osm import import_osm
from twin.ingest.osm_tags import parse_voltages_kv
from twin.jobs import JOB_KINDS, JobParameterError
from twin.models import EVSE, Charger, Connector, Line, Region, Substation, Support
from twin.services.exports import ExportFailed, export_layer

pytestmark = pytest.mark.django_db
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
DEMO_COUNTS = {"substation": 5, "line": 15, "support": 186, "charger": 9}
ORDER = ("substation", "line", "support", "charger")  # references resolve in this order
MODELS = {"substation": Substation, "line": Line, "support": Support, "charger": Charger}
THE_220_KV_LINE = "osm:way/365562192"


def _load_demo() -> dict[str, int]:
    """The demo extract, with operator data OSM does not have, on a few assets."""
    summary = import_osm(DEMO, region_name="liechtenstein")
    assert summary["skipped"] == [] and summary["warnings"] == []
    schaan = Substation.objects.get(name="Umspannwerk Schaan")
    schaan.rating_mva, schaan.commissioned, schaan.criticality = 80.0, dt.date(1968, 5, 2), 5
    schaan.save()
    ehv = Line.objects.get(source_id=THE_220_KV_LINE)
    ehv.r_ohm_per_km, ehv.max_i_ka, ehv.condition_score = 0.0603, 1.92, 71.5
    ehv.save()
    tower = ehv.supports.order_by("source_id").first()
    tower.height_m, tower.material, tower.condition_score = 42.5, "steel", 35.0
    tower.save()
    evse = EVSE.objects.filter(connectors__isnull=False).order_by("pk").first()
    evse.status = "available"
    evse.save()
    evse.connectors.update(voltage_v=400.0, current_a=32.0)
    return {kind: MODELS[kind].objects.count() for kind in ORDER}


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker) -> dict[str, int]:
    """The demo twin, loaded (and committed) once for a class of tests, removed afterwards.

    Each test runs in its own transaction, so what a test deletes or imports is rolled back.
    """
    with django_db_blocker.unblock():
        counts = _load_demo()
    yield counts
    with django_db_blocker.unblock():
        wipe()
        for model in (*MODELS.values(), Region, EVSE, Connector):
            model.history.model.objects.all().delete()


def wipe() -> None:
    """Empty the twin: every asset (EVSEs and connectors cascade) and every region."""
    for model in (Support, Line, Substation, Charger, Region):
        model.objects.all().delete()
    assert not EVSE.objects.exists() and not Connector.objects.exists()


def _coords(geometry) -> np.ndarray | None:
    return None if geometry is None else shapely.get_coordinates(
        shapely.from_wkb(bytes(geometry.wkb)))


def snapshot() -> dict[str, dict[str, dict]]:
    """Every asset by kind and source_id: attributes, links, EVSEs and coordinates."""
    out: dict[str, dict[str, dict]] = {}
    for kind in ORDER:
        spec = KINDS[kind]
        rows = {}
        for obj in spec.model.objects.select_related("region"):
            row = {name: getattr(obj, name) for name in spec.fields
                   if name not in ("region", "lines", "evses", "footprint", "from_substation",
                                   "to_substation")}
            row["region"] = obj.region.name if obj.region else None
            row["geometry_type"] = getattr(obj, spec.geometry_field).geom_type
            row["coords"] = _coords(getattr(obj, spec.geometry_field))
            if kind == "substation":
                row["voltage_kv"], row["footprint"] = obj.voltage_kv, _coords(obj.footprint)
            elif kind == "line":
                row["voltage_kv"], row["length_m"] = obj.voltage_kv, round(obj.length_m, 3)
                row["ends"] = (obj.from_substation and obj.from_substation.source_id,
                               obj.to_substation and obj.to_substation.source_id)
            elif kind == "support":
                row["lines"] = sorted(obj.lines.values_list("source_id", flat=True))
            else:
                row["evses"] = evse_specs(obj)
            rows[obj.source_id] = row
        out[kind] = rows
    return out


def assert_same(before: dict, after: dict, *, atol_deg: float = 1e-7) -> None:
    for kind in ORDER:
        assert sorted(after[kind]) == sorted(before[kind]), kind
        for source_id, old in before[kind].items():
            new = after[kind][source_id]
            for name, value in old.items():
                if name in ("coords", "footprint"):
                    if value is None:
                        assert new[name] is None, (kind, source_id, name)
                    else:
                        np.testing.assert_allclose(new[name], value, rtol=0, atol=atol_deg,
                                                   err_msg=f"{kind} {source_id} {name}")
                else:
                    assert new[name] == value, (kind, source_id, name)


def export_all(folder: Path, suffix: str) -> dict[str, Path]:
    """Every kind to ``folder``: one GeoPackage with a layer per kind, else a file per kind."""
    paths = {}
    for kind in ORDER:
        paths[kind] = folder / (f"twin{suffix}" if suffix == ".gpkg" else f"{kind}{suffix}")
        summary = export_layer(kind, paths[kind])
        assert summary["count"] == MODELS[kind].objects.count()
    return paths


def counts(summary: dict, outcome: str) -> int:
    return sum(c[outcome] for c in summary["counts"].values())


def assert_nothing_written() -> None:
    assert not any(m.objects.exists() for m in (Substation, Line, Support, Charger, EVSE, Region))


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.embedded
class TestWithTheDemoTwin:
    """Round trips and real-data imports on the Liechtenstein twin."""

    @pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".csv", ".fgb"])
    def test_export_then_import_into_an_empty_twin_gives_the_same_features(self, demo, tmp_path,
                                                                           suffix):
        assert demo == DEMO_COUNTS
        before = snapshot()
        assert before["support"][next(s for s, r in before["support"].items()
                                      if r["height_m"] == 42.5)]["lines"] == [THE_220_KV_LINE]
        paths = export_all(tmp_path, suffix)
        if suffix == ".gpkg":
            assert sorted(pyogrio.list_layers(paths["line"])[:, 0]) == sorted(ORDER)
        wipe()
        for kind in ORDER:
            summary = import_layer(paths[kind], kind=kind)
            assert summary["counts"][kind]["created"] == DEMO_COUNTS[kind], summary
            assert summary["skipped"] == [] and summary["warnings"] == [], summary
            assert summary["ignored_columns"] == []
            assert "notes" not in summary  # every row had its source_id
        after = snapshot()
        assert_same(before, after)
        schaan = Substation.objects.get(name="Umspannwerk Schaan")
        assert schaan.voltages_kv == [110.0, 16.0] and schaan.footprint.contains(schaan.location)
        assert schaan.commissioned == dt.date(1968, 5, 2) and schaan.rating_mva == 80.0
        assert Line.objects.get(source_id=THE_220_KV_LINE).supports.count() == 115
        assert Connector.objects.filter(voltage_v=400, current_a=32).exists()
        if suffix != ".gpkg":
            return
        # and importing the same files again changes nothing
        for kind in ORDER:
            again = import_layer(paths[kind], kind=kind)
            assert again["counts"][kind]["unchanged"] == DEMO_COUNTS[kind], again

    def test_csv_layout(self, demo, tmp_path):
        """Points as lon/lat, lines and footprints as WKT, voltages as kV text, EVSEs as JSON."""
        for kind in ORDER:
            export_layer(kind, tmp_path / f"{kind}.csv")
        supports = pd.read_csv(tmp_path / "support.csv", dtype=str, keep_default_na=False)
        assert list(supports.columns[:3]) == ["lon", "lat", "source_id"] and len(supports) == 186
        lines = pd.read_csv(tmp_path / "line.csv", dtype=str, keep_default_na=False)
        assert "lon" not in lines and lines["geometry"].str.startswith("LINESTRING (").all()
        ehv = lines[lines.source_id == THE_220_KV_LINE].iloc[0]
        assert ehv.voltages_kv == "220" and float(ehv.length_m) > 39_000
        subs = pd.read_csv(tmp_path / "substation.csv", dtype=str, keep_default_na=False)
        schaan = subs[subs.name == "Umspannwerk Schaan"].iloc[0]
        assert schaan.voltages_kv == "110;16" and schaan.footprint.startswith("MULTIPOLYGON")
        chargers = pd.read_csv(tmp_path / "charger.csv", dtype=str, keep_default_na=False)
        assert all(isinstance(json.loads(e), list) for e in chargers.evses)


    @pytest.mark.parametrize("kind,epsg", [("line", 2056), ("support", 32632)])
    def test_projected_shapefile_with_mapping(self, demo, tmp_path, kind, epsg):
        """A Shapefile in Swiss LV95 / UTM 32N with its own column names comes back in lon/lat."""
        export_layer(kind, tmp_path / "layer.gpkg")
        frame = gpd.read_file(tmp_path / "layer.gpkg", layer=kind)
        columns = {"source_id": "ASSET_ID", "name": "NAME", "operator": "OWNER", "kind": "TYPE"}
        if kind == "line":
            columns |= {"voltages_kv": "VOLT_KV", "circuits": "CIRCUITS"}
        else:
            columns |= {"height_m": "HEIGHT_M", "condition_score": "COND"}
        frame = frame[[*columns, "geometry"]].rename(columns=columns).to_crs(epsg)
        assert abs(frame.geometry.iloc[0].centroid.x) > 1000  # metres now, not degrees
        frame.to_file(tmp_path / "assets.shp")
        originals = {o.source_id: o for o in MODELS[kind].objects.all()}
        MODELS[kind].objects.all().delete()
        summary = import_layer(tmp_path / "assets.shp", kind=kind,
                               mapping={field: column for field, column in columns.items()})
        assert summary["crs"] == f"EPSG:{epsg}" and summary["reprojected"] is True
        assert summary["format"] == "ESRI Shapefile"
        assert summary["counts"][kind]["created"] == DEMO_COUNTS[kind], summary
        assert summary["skipped"] == [] and summary["warnings"] == []
        geometry_field = KINDS[kind].geometry_field
        for obj in MODELS[kind].objects.all():
            old = originals[obj.source_id]
            assert (obj.name, obj.operator, obj.kind) == (old.name, old.operator, old.kind)
            np.testing.assert_allclose(_coords(getattr(obj, geometry_field)),
                                       _coords(getattr(old, geometry_field)), rtol=0, atol=1e-6)
            if kind == "line":
                assert obj.voltages_kv == old.voltages_kv and obj.circuits == old.circuits
                assert abs(obj.length_m - old.length_m) < 0.01
            else:
                assert (obj.height_m, obj.condition_score) == (old.height_m, old.condition_score)
                assert obj.source == "gis"  # the file has no source column

    def test_cli_export_and_import(self, demo, tmp_path, capsys):
        call_command("export_layer", "charger", str(tmp_path / "chargers.geojson"))
        assert json.loads(capsys.readouterr().out)["count"] == 9
        evses_before = {c.source_id: evse_specs(c) for c in Charger.objects.all()}
        Charger.objects.all().delete()
        call_command("import_layer", str(tmp_path / "chargers.geojson"), "--kind", "charger",
                     "--region", "li-chargers")
        summary = json.loads(capsys.readouterr().out)
        assert summary["counts"]["charger"]["created"] == 9 and summary["region"] == "li-chargers"
        assert {c.source_id: evse_specs(c) for c in Charger.objects.all()} == evses_before
        assert Charger.objects.filter(region__name="li-chargers").count() == 9
        with pytest.raises(CommandError, match="--mapping is not JSON"):
            call_command("import_layer", str(tmp_path / "chargers.geojson"), "--kind", "charger",
                         "--mapping", "{name: NAME}")
        with pytest.raises(CommandError, match=r"cannot write '\.shp'"):
            call_command("export_layer", "line", str(tmp_path / "lines.shp"))

    def test_job_kind_imports_a_layer_under_the_import_folder(self, demo, tmp_path, settings):
        settings.IMPORT_ROOTS = [tmp_path]
        export_layer("support", tmp_path / "supports.fgb")
        Support.objects.filter(height_m=42.5).delete()
        seen = []
        result = JOB_KINDS["twin.import_layer"](
            {"path": "supports.fgb", "kind": "support", "strict": True, "region": "liechtenstein"},
            lambda fraction, message="": seen.append(fraction))
        assert result["counts"]["support"] == {"created": 1, "updated": 0, "unchanged": 185,
                                               "skipped": 0, "vanished": 0, "restored": 0}
        assert seen[0] < seen[-1] == 1.0
        assert Support.objects.get(height_m=42.5).lines.count() == 1
        with pytest.raises(JobParameterError, match="path must be inside"):
            JOB_KINDS["twin.import_layer"]({"path": str(DEMO), "kind": "support"}, lambda *a: None)
        with pytest.raises(JobParameterError, match="kind must be one of"):
            JOB_KINDS["twin.import_layer"]({"path": "supports.fgb", "kind": "tower"}, lambda *a: None)


# --- mapping, ids, voltages, regions --------------------------------------------------------------


def write_geojson(path: Path, features: list[tuple[dict, dict | None]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}))
    return path


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_mapping_voltage_rules_and_generated_ids(tmp_path):
    path = write_geojson(tmp_path / "utility_subs.geojson", [
        ({"NAME": "Nord", "VOLT_KV": "110;16"}, point(9.52, 47.20)),
        ({"NAME": "Süd", "VOLT_KV": 20}, point(9.53, 47.10)),
        ({"NAME": "Mitte", "VOLT_KV": "0.4 kV;20000 V"}, point(9.54, 47.15)),
        ({"NAME": "Alt", "VOLT_KV": "medium;110"}, point(9.55, 47.16)),
        ({"NAME": "Liste", "VOLT_KV": [380, 220]}, point(9.56, 47.17)),
    ])
    mapping = {"name": "NAME", "voltages_kv": "VOLT_KV"}
    summary = import_layer(path, kind="substation", mapping=mapping)
    got = {s.name: (s.voltages_kv, s.source, s.source_id) for s in Substation.objects.all()}
    assert got == {"Nord": ([110.0, 16.0], "gis", "utility_subs:1"),
                   "Süd": ([20.0], "gis", "utility_subs:2"),
                   "Mitte": ([20.0, 0.4], "gis", "utility_subs:3"),
                   "Alt": ([110.0], "gis", "utility_subs:4"),
                   "Liste": ([380.0, 220.0], "gis", "utility_subs:5")}
    assert summary["warnings"] == [{"kind": "substation", "row": "utility_subs:4", "message":
                                    "voltage 'medium;110': could not read 'medium' as kV "
                                    "within 0..1500 kV (kept the levels that could be read)"}]
    assert summary["columns"] == mapping and summary["crs"] == "EPSG:4326"
    assert "cannot update these rows in place" in summary["notes"][0]
    assert Substation.objects.get(name="Nord").voltage_kv == 110.0
    with pytest.raises(ImportFailed, match=r"mapping names column.*VOLTAGE"):
        import_layer(path, kind="substation", mapping={"voltages_kv": "VOLTAGE"})
    with pytest.raises(ImportFailed, match=r"unknown field.*colour"):
        import_layer(path, kind="substation", mapping={"colour": "NAME"})


def test_parse_voltages_kv_in_layer_cells():
    def kv(value):
        return parse_voltages_kv(value, default_unit="kV")

    assert kv("110;16") == ([110.0, 16.0], [])
    assert kv(132.5) == ([132.5], [])
    assert kv("110000") == ([], ["110000"])  # volts need their unit
    assert kv("0,4") == ([], ["0,4"])  # ; separates levels, . is the decimal
    assert kv(None) == ([], []) and kv("") == ([], [])


def test_region_import_marks_what_the_file_no_longer_holds(tmp_path):
    rows = [({"source_id": f"t-{i}", "kind": "Tower"}, point(9.5 + i / 100, 47.1)) for i in range(4)]
    import_layer(write_geojson(tmp_path / "t.geojson", rows), kind="support", region_name="r1")
    assert Support.objects.filter(region__name="r1", kind="tower", source="gis").count() == 4
    summary = import_layer(write_geojson(tmp_path / "t.geojson", rows[:3]), kind="support",
                           region_name="r1")
    assert summary["counts"]["support"]["vanished"] == 1
    assert Support.objects.get(source_id="t-3").missing_since is not None
    # without a region the file speaks for nothing: no row is marked
    summary = import_layer(write_geojson(tmp_path / "t.geojson", rows[:1]), kind="support")
    assert summary["counts"]["support"]["vanished"] == 0


# --- bad input ------------------------------------------------------------------------------------


def test_unknown_suffix_and_unreadable_files(tmp_path):
    (tmp_path / "grid.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(ImportFailed, match=r"unknown format '.xlsx'"):
        import_layer(tmp_path / "grid.xlsx", kind="line")
    (tmp_path / "grid.gpkg").write_bytes(b"not a geopackage" * 100)
    with pytest.raises(ImportFailed, match=r"could not open the file as GPKG.*not recognized"):
        import_layer(tmp_path / "grid.gpkg", kind="line")
    with pytest.raises(ImportFailed, match="no such file"):
        import_layer(tmp_path / "absent.geojson", kind="line")
    with pytest.raises(ImportFailed, match="unknown kind 'tower'"):
        import_layer(tmp_path / "grid.gpkg", kind="tower")
    with pytest.raises(ExportFailed, match=r"cannot write '\.kml'"):
        export_layer("line", tmp_path / "grid.kml")
    assert_nothing_written()


def test_csv_without_coordinate_columns_names_them(tmp_path):
    (tmp_path / "poles.csv").write_text("source_id,kind,x_coord,lat\np1,pole,9.5,47.1\n")
    with pytest.raises(ImportFailed, match=r"missing coordinate column\(s\) lon:"):
        import_layer(tmp_path / "poles.csv", kind="support")
    (tmp_path / "poles.csv").write_text("source_id,kind\np1,pole\n")
    with pytest.raises(ImportFailed, match=r"missing coordinate column\(s\) lon, lat"):
        import_layer(tmp_path / "poles.csv", kind="support")
    (tmp_path / "lines.csv").write_text("source_id,kind\nl1,line\n")
    with pytest.raises(ImportFailed, match=r"missing geometry column.*WKT column named geometry"):
        import_layer(tmp_path / "lines.csv", kind="line")
    assert_nothing_written()
    # the mapping names other coordinate columns
    (tmp_path / "poles.csv").write_text("source_id,kind,X,Y\np1,pole,9.5,47.1\n")
    summary = import_layer(tmp_path / "poles.csv", kind="support", mapping={"lon": "X", "lat": "Y"})
    assert summary["counts"]["support"]["created"] == 1
    assert Support.objects.get().location.coords == (9.5, 47.1)


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
@pytest.mark.parametrize("suffix,driver", [(".shp", "ESRI Shapefile"), (".fgb", "FlatGeobuf")])
def test_layer_without_crs_is_refused_except_geojson_and_csv(tmp_path, suffix, driver):
    frame = gpd.GeoDataFrame({"source_id": ["p1"], "kind": ["pole"]},
                             geometry=[shapely.Point(9.5, 47.1)], crs=None)
    frame.to_file(tmp_path / f"poles{suffix}", driver=driver)
    assert not (tmp_path / "poles.prj").exists()
    with pytest.raises(ImportFailed, match="has no coordinate reference system"):
        import_layer(tmp_path / f"poles{suffix}", kind="support")
    assert_nothing_written()
    (tmp_path / "poles.csv").write_text("source_id,kind,lon,lat\np1,pole,9.5,47.1\n")
    summary = import_layer(tmp_path / "poles.csv", kind="support")
    assert summary["crs"] == "EPSG:4326" and Support.objects.count() == 1


@pytest.fixture
def bad_supports(tmp_path) -> Path:
    """Five poles: one good, lon 200, condition 140, no kind, a duplicate id."""
    return write_geojson(tmp_path / "poles.geojson", [
        ({"source_id": "good", "kind": "pole", "condition_score": 80}, point(9.5, 47.1)),
        ({"source_id": "far-east", "kind": "pole"}, point(200, 47.1)),
        ({"source_id": "too-good", "kind": "pole", "condition_score": 140}, point(9.51, 47.1)),
        ({"source_id": "what", "kind": ""}, point(9.52, 47.1)),
        ({"source_id": "good", "kind": "tower"}, point(9.53, 47.1)),
        ({"source_id": "nowhere", "kind": "pole"}, None),
    ])


def test_bad_rows_are_skipped_with_their_reason(bad_supports):
    summary = import_layer(bad_supports, kind="support")
    reasons = {row["row"]: row["reason"] for row in summary["skipped"]}
    assert reasons == {
        "far-east": "coordinates out of range: longitude must be within -180..180 and latitude "
                    "within -90..90 (got extent 200,47.1,200,47.1)",
        "too-good": "condition_score: Ensure this value is less than or equal to 100.",
        "what": "kind: This field cannot be blank.",
        "good": "duplicate source_id (row 5; first in row 1)",
        "nowhere": "no geometry",
    }
    assert summary["counts"]["support"]["created"] == 1 and summary["counts"]["support"][
        "skipped"] == 5
    assert list(Support.objects.values_list("source_id", "kind", "condition_score")) == [
        ("good", "pole", 80.0)]


@pytest.mark.embedded
def test_strict_rolls_everything_back(bad_supports):
    with pytest.raises(ImportFailed, match="strict import rolled back: 5 problem"):
        import_layer(bad_supports, kind="support", strict=True, region_name="strict-region")
    assert_nothing_written()
    with pytest.raises(CommandError, match="strict import rolled back"):
        call_command("import_layer", str(bad_supports), "--kind", "support", "--strict")
    assert_nothing_written()


def test_csv_out_of_range_and_unreadable_coordinates(tmp_path):
    (tmp_path / "chargers.csv").write_text(
        "source_id,name,lon,lat,evses\n"
        'c1,Vaduz,9.52,47.14,"[{""uid"": ""1"", ""connectors"": [{""standard"": '
        '""IEC_62196_T2"", ""power_kw"": 22}]}]"\n'
        "c2,Pole,9.5,95,\n"
        "c3,Typo,9.5,4x7,\n"
        'c4,Bad EVSE,9.5,47.1,"[{""uid"": ""1"", ""connectors"": [{""standard"": '
        '""IEC_62196_T2"", ""power_kw"": 5000}]}]"\n')
    summary = import_layer(tmp_path / "chargers.csv", kind="charger")
    reasons = {row["row"]: row["reason"] for row in summary["skipped"]}
    assert reasons["c2"].startswith("coordinates out of range") and "90" in reasons["c2"]
    assert reasons["c3"] == "lon/lat: '4x7' is not a number"
    assert reasons["c4"] == ("evses: [0].connectors[0].power_kw: Ensure this value is less than "
                             "or equal to 2000.")
    vaduz = Charger.objects.get()
    assert vaduz.source_id == "c1" and evse_specs(vaduz) == [{"uid": "1", "status": "unknown",
        "connectors": [{"standard": "IEC_62196_T2", "power_type": "AC_3_PHASE", "power_kw": 22.0,
                        "voltage_v": None, "current_a": None}]}]


def test_coordinates_outside_their_crs_are_skipped(tmp_path):
    """Beyond a projection's edge: not convertible (UTM), or wrapped round the world (Mercator)."""
    for epsg, far_away in ((32632, shapely.Point(1e9, 0)), (3857, shapely.Point(3e7, 0))):
        x_m, y_m = Transformer.from_crs(4326, epsg, always_xy=True).transform(9.5, 47.1)
        frame = gpd.GeoDataFrame({"source_id": [f"ok-{epsg}", f"far-{epsg}"], "kind": "tower"},
                                 geometry=[shapely.Point(x_m, y_m), far_away], crs=epsg)
        frame.to_file(tmp_path / f"towers-{epsg}.gpkg")
        summary = import_layer(tmp_path / f"towers-{epsg}.gpkg", kind="support")
        assert [row["row"] for row in summary["skipped"]] == [f"far-{epsg}"]
        reason = summary["skipped"][0]["reason"]
        if epsg == 32632:
            assert reason == ("coordinates could not be converted from EPSG:32632 to "
                              "longitude/latitude (outside the area that CRS covers)")
        else:  # PROJ would put it at lon -90.5: valid, but not where the file says
            assert reason == ("coordinates outside the bounds of EPSG:3857: they do not convert "
                              "to longitude/latitude and back (got extent 3e+07,0,3e+07,0 in "
                              "EPSG:3857)")
        ok = Support.objects.get(source_id=f"ok-{epsg}")
        assert ok.location.coords == pytest.approx((9.5, 47.1), abs=1e-9)
    assert Support.objects.count() == 2


def test_self_intersecting_footprint_is_repaired_and_reported(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[9.50, 47.10], [9.51, 47.11], [9.51, 47.10],
                                                  [9.50, 47.11], [9.50, 47.10]]]}
    path = write_geojson(tmp_path / "subs.geojson", [
        ({"source_id": "bowtie", "name": "Bowtie", "voltages_kv": "20"}, bowtie)])
    summary = import_layer(path, kind="substation")
    (warning,) = summary["warnings"]
    assert warning["row"] == "bowtie" and "Self-intersection" in warning["message"]
    assert "repaired with make_valid" in warning["message"]
    sub = Substation.objects.get()
    assert sub.footprint.valid and sub.footprint.num_geom == 2
    assert sub.footprint.contains(sub.location) and sub.voltages_kv == [20.0]
    Substation.objects.all().delete()
    with pytest.raises(ImportFailed, match=r"strict import rolled back.*Self-intersection"):
        import_layer(path, kind="substation", strict=True)
    assert_nothing_written()


def test_unresolved_references_are_dropped_with_a_warning(tmp_path):
    line = {"type": "LineString", "coordinates": [[9.5, 47.1], [9.51, 47.11]]}
    path = write_geojson(tmp_path / "lines.geojson", [
        ({"source_id": "l1", "from_substation": "nowhere", "voltages_kv": "110"}, line)])
    summary = import_layer(path, kind="line")
    assert summary["warnings"][0]["message"] == ("from_substation: no substation with source_id "
                                                 "'nowhere' in the twin (link dropped)")
    assert Line.objects.get().from_substation is None and Line.objects.get().length_m > 1000
