"""Importing third-party sources: AFDC chargers, the GridKit Japan grid, pandapower networks.

Real data from ``../shared/data`` (counts checked against its README) and pandapower's bundled
``mv_oberrhein``; re-imports, operator edits, bad input and strict mode.
"""

from __future__ import annotations

import copy
import csv
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.management import CommandError, call_command

from markets.models import Market, PricingNode
from tests.conftest import SHARED_DATA
from twin.ingest.afdc import import_afdc, import_afdc_job, opening_hours
from twin.ingest.base import ImportFailed
from twin.ingest.gridkit import default_line_type, import_gridkit, import_gridkit_job
from twin.ingest.pandapower import import_pandapower, import_pandapower_job
from twin.jobs import JOB_KINDS, JobParameterError, execute_job
from twin.models import EVSE, Charger, Connector, Job, Line, Region, Substation

pytestmark = [
    pytest.mark.django_db,
    # pandapower's own power-flow code warns about its bundled networks' data format
    pytest.mark.filterwarnings("ignore:tap_dependency_table:DeprecationWarning"),
]

AFDC = SHARED_DATA / "ev" / "afdc_alt_fuel_stations_WA_2023-03-28.csv"
JAPAN = SHARED_DATA / "grid_japan"
needs_afdc = pytest.mark.skipif(not AFDC.exists(), reason="needs ../shared/data/ev")
needs_japan = pytest.mark.skipif(not JAPAN.exists(), reason="needs ../shared/data/grid_japan")


def counts(summary: dict, outcome: str) -> dict[str, int]:
    return {kind: c[outcome] for kind, c in summary["counts"].items()}


def nothing_written() -> bool:
    return not (Charger.objects.exists() or Substation.objects.exists() or Line.objects.exists()
                or Region.objects.exists() or Market.objects.exists() or EVSE.objects.exists())


# --- AFDC ---------------------------------------------------------------------------------------

@needs_afdc
def test_afdc_washington_export():
    summary = import_afdc(AFDC)
    assert counts(summary, "created") == {"charger": 1642}
    assert summary["skipped"] == [] and summary["warnings"] == []
    assert summary["rows_by_fuel"] == {"ELEC": 1642, "LPG": 52, "CNG": 4, "E85": 3, "BD": 2,
                                       "LNG": 1}
    assert summary["region"] == "afdc-WA" and summary["evses"] == 5 + 3222 + 857
    # ports per level, as the data README counts them: 5 Level 1, 3,222 Level 2, 857 DC fast
    assert EVSE.objects.filter(uid__startswith="L1-").count() == 5
    assert EVSE.objects.filter(uid__startswith="L2-").count() == 3222
    assert EVSE.objects.filter(uid__startswith="DC-").count() == 857
    assert not EVSE.objects.filter(connectors=None).exists()
    assert not Connector.objects.filter(evse__uid__startswith="DC-").exclude(power_type="DC").exists()
    assert not Connector.objects.filter(evse__uid__startswith="L2-", power_type="DC").exists()
    # all public and available; the 41 rows with Restricted Access = true are customers-only
    assert set(Charger.objects.values_list("status", flat=True)) == {"available"}
    assert Charger.objects.filter(access="public").count() == 1601
    assert Charger.objects.filter(access="customers").count() == 41
    assert set(EVSE.objects.values_list("status", flat=True)) == {"available"}
    networks = dict(pd.Series(Charger.objects.values_list("network", flat=True)).value_counts())
    assert networks["ChargePoint Network"] == 751 and networks["SemaCharge Network"] == 162
    assert networks["Non-Networked"] == 154 and networks["Tesla Destination"] == 112
    assert set(Charger.objects.values_list("source", "country_code").distinct()) == {("afdc", "US")}
    seattle = Polygon.from_bbox((-122.45, 47.4, -122.2, 47.8))
    assert Charger.objects.filter(location__intersects=seattle).count() == 520
    region = Region.objects.get(name="afdc-WA")
    _, miny, _, maxy = region.boundary.extent
    assert 45.578 < miny < 45.58 and 48.99 < maxy < 49.0 and region.imported_at  # README: 45.58–48.99
    assert Charger.objects.filter(region=region).count() == 1642
    # a Level 2 port: J1772 at 240 V / 30 A
    l2 = Connector.objects.filter(evse__uid="L2-1", standard="IEC_62196_T1").first()
    assert (l2.power_type, l2.power_kw, l2.voltage_v, l2.current_a) == ("AC_1_PHASE", 7.2, 240, 30)
    # Tesla Superchargers are DC; Tesla destination chargers are Level 2
    supercharger = Charger.objects.filter(network="Tesla", evses__uid="DC-1").first()
    assert {(c.standard, c.power_type) for c in Connector.objects.filter(evse__charger=supercharger)
            } == {("TESLA_S", "DC")}
    destination = Charger.objects.filter(network="Tesla Destination").first()
    assert set(Connector.objects.filter(evse__charger=destination).values_list(
        "power_type", flat=True)) == {"AC_1_PHASE"}
    # a dual-standard DC fast dispenser: CHAdeMO and CCS1 on each DC EVSE
    dual = next(c for c in Charger.objects.filter(evses__uid="DC-1").distinct()
                if c.tags.get("afdc:EV Connector Types") == "CHADEMO J1772COMBO")
    dc = dual.evses.filter(uid="DC-1").get()
    assert {c.standard for c in dc.connectors.all()} >= {"CHADEMO", "IEC_62196_T1_COMBO"}
    assert Charger.objects.filter(opening_hours="24/7").count() == 1107  # "24 hours daily…"


@needs_afdc
def test_afdc_reimport_changes_nothing_and_a_newer_export_updates(tmp_path):
    import_afdc(AFDC)
    history_before = Charger.history.count() + EVSE.history.count() + Connector.history.count()
    connectors_before = list(Connector.objects.values_list("pk", flat=True))
    summary = import_afdc(AFDC)
    assert counts(summary, "unchanged") == {"charger": 1642}
    assert summary["chargers_with_new_evses"] == 0
    assert Charger.history.count() + EVSE.history.count() + Connector.history.count() == history_before
    assert list(Connector.objects.values_list("pk", flat=True)) == connectors_before

    frame = pd.read_csv(AFDC, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    electric = frame.index[frame["Fuel Type Code"] == "ELEC"]
    changed_id, removed_id = frame.at[electric[0], "ID"], frame.at[electric[1], "ID"]
    frame.loc[electric[0], ["Status Code", "EV Level2 EVSE Num"]] = ["T", "3"]
    newer = tmp_path / "afdc_newer.csv"
    frame.drop(index=electric[1]).to_csv(newer, index=False, encoding="utf-8-sig")
    summary = import_afdc(newer)
    assert summary["region"] == "afdc-WA"  # the same region: updates, and marks what vanished
    assert counts(summary, "updated") == {"charger": 1}
    assert counts(summary, "vanished") == {"charger": 1}
    assert counts(summary, "unchanged") == {"charger": 1640}
    assert summary["chargers_with_new_evses"] == 1
    changed = Charger.objects.get(source_id=f"afdc:{changed_id}")
    assert changed.status == "out_of_order"
    assert changed.evses.filter(uid__startswith="L2-").count() == 3
    assert set(changed.evses.values_list("status", flat=True)) == {"out_of_order"}
    removed = Charger.objects.get(source_id=f"afdc:{removed_id}")
    assert removed.missing_since is not None and removed.evses.exists()  # marked, not deleted


AFDC_HEADER = ["Fuel Type Code", "Station Name", "Street Address", "City", "State", "ZIP",
               "Status Code", "Groups With Access Code", "Access Days Time",
               "EV Level1 EVSE Num", "EV Level2 EVSE Num", "EV DC Fast Count", "EV Network",
               "Latitude", "Longitude", "ID", "EV Connector Types", "Restricted Access"]


def afdc_csv(tmp_path: Path, rows: list[list[str]], header=AFDC_HEADER) -> Path:
    path = tmp_path / "stations.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def station(id_: str, lat: str = "47.61", lon: str = "-122.33", *, fuel="ELEC", status="E",
            access="Public", hours="24 hours daily", l1="", l2="2", dc="", types="J1772",
            network="ChargePoint Network", restricted="") -> list[str]:
    return [fuel, f"Station {id_}", "1 Main St", "Seattle", "WA", "98101", status, access, hours,
            l1, l2, dc, network, lat, lon, id_, types, restricted]


@pytest.fixture
def bad_afdc(tmp_path) -> Path:
    return afdc_csv(tmp_path, [
        station("1"),
        station("2", lat="abc"),
        station("3", lat="", lon=""),
        station("4", lat="0", lon="0"),
        station("5", lat="95.0"),
        station("6", fuel="LPG"),
        station("7", status="P", access="Private - Government only", l2="", dc="2",
                types="CHADEMO J1772COMBO FOO", hours="Mon 7:00am - 9:00pm; Tue 7:00am - 9:00pm"),
        station("8", status="X"),
        station("1"),
        station("9", l1="1", l2="1", types="J1772 NEMA520", restricted="true",
                hours="Dealership business hours", network="Electrify America", dc="1"),
    ])


def test_afdc_bad_rows_are_skipped_with_reasons(bad_afdc):
    summary = import_afdc(bad_afdc, region_name="test")
    reasons = {row["row"]: row["reason"] for row in summary["skipped"]}
    assert reasons["afdc:2"] == "latitude/longitude not numbers: 'abc', '-122.33'"
    assert reasons["afdc:3"] == "latitude/longitude missing"
    assert "0,0" in reasons["afdc:4"]
    assert "out of range" in reasons["afdc:5"]
    assert "duplicate" in reasons["afdc:1"]
    warnings = {w["row"]: w["message"] for w in summary["warnings"]}
    assert "'FOO'" in warnings["afdc:7"] and "'X'" in warnings["afdc:8"]
    assert "afdc:6" not in reasons and not Charger.objects.filter(source_id="afdc:6").exists()
    assert sorted(Charger.objects.values_list("source_id", flat=True)) == [
        "afdc:1", "afdc:7", "afdc:8", "afdc:9"]
    planned = Charger.objects.get(source_id="afdc:7")
    assert (planned.status, planned.access) == ("planned", "private")
    assert planned.opening_hours == "Mo 07:00-21:00; Tu 07:00-21:00"
    assert [{c.standard for c in e.connectors.all()} for e in planned.evses.all()] == [
        {"CHADEMO", "IEC_62196_T1_COMBO"}] * 2
    assert Charger.objects.get(source_id="afdc:8").status == "unknown"
    dealer = Charger.objects.get(source_id="afdc:9")
    assert dealer.access == "customers" and dealer.opening_hours == "Dealership business hours"
    by_uid = {e.uid: e.connectors.get() for e in dealer.evses.all()}
    assert (by_uid["L1-1"].standard, by_uid["L1-1"].power_kw) == ("OTHER", 1.9)  # NEMA 5-20
    assert (by_uid["L2-1"].standard, by_uid["L2-1"].power_kw) == ("IEC_62196_T1", 7.2)
    # no DC type listed: assumed CCS1, at Electrify America's 150 kW, and said so
    assert (by_uid["DC-1"].standard, by_uid["DC-1"].power_kw) == ("IEC_62196_T1_COMBO", 150.0)
    assert "assumed J1772COMBO" in warnings["afdc:9"]


def test_afdc_strict_rolls_everything_back(bad_afdc):
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_afdc(bad_afdc, strict=True)
    assert nothing_written()
    with pytest.raises(CommandError, match="strict import rolled back"):
        call_command("import_afdc", str(bad_afdc), "--strict")
    assert nothing_written()


def test_afdc_unusable_files_write_nothing(tmp_path):
    with pytest.raises(ImportFailed, match="no such file"):
        import_afdc(tmp_path / "missing.csv")
    header = [c for c in AFDC_HEADER if c not in ("Latitude", "Longitude")]
    no_coords = afdc_csv(tmp_path, [station("1")[:13] + station("1")[15:]], header=header)
    with pytest.raises(ImportFailed, match=r"missing required column.*: Latitude, Longitude"):
        import_afdc(no_coords)
    only_lpg = afdc_csv(tmp_path, [station("1", fuel="LPG")])
    with pytest.raises(ImportFailed, match="no electric stations"):
        import_afdc(only_lpg)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ImportFailed, match="empty"):
        import_afdc(tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage\x89PNG")
    with pytest.raises(ImportFailed, match="could not read"):
        import_afdc(tmp_path / "binary.csv")
    assert nothing_written()


def test_afdc_cli_prints_the_json_report(tmp_path, capsys):
    path = afdc_csv(tmp_path, [station("1"), station("2", dc="1", types="J1772COMBO", l2="")])
    call_command("import_afdc", str(path), "--region", "seattle")
    summary = json.loads(capsys.readouterr().out)
    assert summary["region"] == "seattle" and summary["counts"]["charger"]["created"] == 2
    assert Charger.objects.filter(region__name="seattle").count() == 2


def test_opening_hours():
    assert opening_hours("24 hours daily; for Tesla use only") == "24/7"
    assert opening_hours("; ".join(f"{d} 12:15am - 11:45pm" for d in
                                   ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
                         ) == "Mo-Su 00:15-23:45"
    assert opening_hours("Mon 7:00am - 12:00am") == "Mo 07:00-24:00"
    assert opening_hours("") == ""


# --- GridKit ------------------------------------------------------------------------------------

@pytest.mark.embedded
@needs_japan
def test_gridkit_japan_high_voltage_grid():
    summary = import_gridkit(JAPAN)
    assert counts(summary, "created") == {"substation": 687, "line": 853}
    assert summary["skipped"] == [] and summary["warnings"] == []
    assert summary["region"] == "japan_highvoltage"
    assert summary["vertex_types"] == {"joint": 328, "substation": 320, "merge": 19, "plant": 14,
                                       "sub_station": 5, "station": 1}
    assert summary["length_km_in_file"] == pytest.approx(14484, abs=1)
    raw = pd.Series([line.tags.get("gridkit:voltage") for line in Line.objects.all()])
    assert (raw == "275000").sum() == 254 and (raw == "220000").sum() == 125
    assert (raw == "500000").sum() == 110
    operators = pd.Series([line.tags.get("gridkit:operator") for line in Line.objects.all()])
    assert (operators == "東京電力").sum() == 151 and (operators == "関西電力").sum() == 98
    tokyo = Substation.objects.filter(location__intersects=Polygon.from_bbox((138.9, 35.3, 140.2,
                                                                               36.1)))
    assert tokyo.count() == 116
    # the README's 49 substations there are 48 typ=substation and 1 typ=sub_station
    assert sum(s.tags["gridkit:typ"] in ("substation", "sub_station") for s in tokyo) == 49
    # topology: every line ends at the vertices its link names
    ehv = Line.objects.filter(voltage_kv__in=[275, 500]).select_related("from_substation",
                                                                        "to_substation")
    assert ehv.count() == 601
    for line in ehv:
        assert line.from_substation is not None and line.to_substation is not None
        assert line.from_substation.source_id == f"gridkit:{line.tags['gridkit:v_id_1']}"
        assert line.to_substation.source_id == f"gridkit:{line.tags['gridkit:v_id_2']}"
        start = Point(line.geometry.coords[0], srid=4326)
        assert line.from_substation.location.distance(start) < 0.01  # degrees: < ~1 km
    assert not Line.objects.filter(from_substation=None).exists()
    assert summary["topology"]["largest_component_substations"] > 600
    # electrical parameters: defaults by voltage level, and said so
    line = Line.objects.get(source_id="gridkit:link/601")  # 福島東幹線, 500 kV
    assert (line.r_ohm_per_km, line.x_ohm_per_km, line.c_nf_per_km, line.max_i_ka) == (
        0.03, 0.246, 13.8, 2.58)
    assert line.tags["electrical"]["max_i_ka"] == "default"
    assert line.tags["electrical_defaults"]["type"] == "Al/St 240/40 4-bundle 380.0"
    assert line.name == "福島東幹線2" and line.operator == "東京電力"
    assert Line.objects.filter(voltage_kv=275, r_ohm_per_km=0.04, max_i_ka=1.935).count() == 404
    assert not Line.objects.filter(voltage_kv__isnull=False, r_ohm_per_km__isnull=True).exclude(
        source_id__in=summary["dc_links"]).exists()
    hvdc = Line.objects.get(name="北本直流幹線")  # the Hokkaido–Honshu HVDC link: no AC defaults
    assert hvdc.source_id in summary["dc_links"] and hvdc.r_ohm_per_km is None
    # circuits from cables: 6 cables = 2 three-phase circuits; multi-valued names de-duplicated
    assert Line.objects.get(source_id="gridkit:link/1257").circuits == 2
    shared_towers = next(line for line in Line.objects.all()
                         if line.tags.get("gridkit:name") == "新座線; 下清戸線;新座線; 下清戸線")
    assert shared_towers.name == "新座線; 下清戸線" and shared_towers.voltages_kv == [275.0, 154.0]
    assert shared_towers.circuits == 4  # 12 cables: two 275 kV and two 154 kV circuits
    assert 12_000 < summary["length_km_geometry"] < 14_484  # straight links: shorter than the ways
    assert Region.objects.get(name="japan_highvoltage").boundary.contains(
        Substation.objects.first().location)


def test_default_line_types_by_voltage():
    assert default_line_type(66).name == default_line_type(110).name == "243-AL1/39-ST1A 110.0"
    assert default_line_type(154).name == default_line_type(220).name == "Al/St 240/40 2-bundle 220.0"
    assert default_line_type(187).max_i_ka == 1.29
    assert default_line_type(275).name == "Al/St 240/40 3-bundle 300.0"
    assert default_line_type(500).r_ohm_per_km == 0.03
    assert default_line_type(None) is None and default_line_type(275, kind="cable") is None
    assert default_line_type(110, kind="cable").c_nf_per_km == 135.0


@needs_japan
def test_gridkit_reimport_keeps_operator_values_and_changes_nothing_else(tmp_path):
    archive = tmp_path / "japan.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name in ("japan_highvoltage_vertices.csv", "japan_highvoltage_links.csv"):
            out.write(JAPAN / name, f"grid/{name}")
    import_gridkit(JAPAN)
    line = Line.objects.get(source_id="gridkit:link/601")
    line.r_ohm_per_km = 0.0081  # the operator's measured value replaces the default
    line.save()
    summary = import_gridkit(archive)  # the same files, zipped: the same region and ids
    assert summary["region"] == "japan_highvoltage"
    assert counts(summary, "updated") == {"substation": 0, "line": 1}  # only its tags say so
    assert counts(summary, "unchanged") == {"substation": 687, "line": 852}
    line.refresh_from_db()
    assert line.r_ohm_per_km == 0.0081 and line.x_ohm_per_km == 0.246
    assert line.tags["electrical"]["r_ohm_per_km"] == "operator"
    history = Line.history.count()
    summary = import_gridkit(JAPAN)
    assert counts(summary, "unchanged") == {"substation": 687, "line": 853}
    assert Line.history.count() == history
    with pytest.raises(ImportFailed, match="belong to region 'japan_highvoltage'"):
        import_gridkit(JAPAN, region_name="another")


VERTICES = """v_id#lon#lat#typ#voltage#name#wkt_srid_4326
1#139.70#35.60#substation#275000;66000#A#SRID=4326;POINT(139.70 35.60)
2#139.80#35.70#joint#275000##SRID=4326;POINT(139.80 35.70)
3#139.90#35.80#substation#500000#C#not wkt
4#139.90#35.90#substation#high#D#SRID=4326;POINT(139.90 35.90)
"""
LINKS = """l_id#v_id_1#v_id_2#voltage#cables#frequency#r_ohmkm#i_th_max_a#wkt_srid_4326#type
10#1#2#275000#6;6#50#0.05#2000#SRID=4326;LINESTRING(139.70 35.60,139.80 35.70)#line
11#2#3#500000#6#50###SRID=4326;LINESTRING(139.80 35.70,139.90 35.80)#line
12#2#99#275000#3#50###SRID=4326;LINESTRING(139.80 35.70,139.95 35.75)#line
13#1#4#66000#3#50####line
"""


def gridkit_files(tmp_path: Path, vertices=VERTICES, links=LINKS) -> Path:
    folder = tmp_path / "grid"
    folder.mkdir(exist_ok=True)
    (folder / "test_vertices.csv").write_text(vertices)
    (folder / "test_links.csv").write_text(links)
    return folder


def test_gridkit_bad_rows_are_skipped_with_reasons(tmp_path):
    summary = import_gridkit(gridkit_files(tmp_path) / "test_vertices.csv")
    assert summary["region"] == "test"
    reasons = {row["row"]: row["reason"] for row in summary["skipped"]}
    assert reasons["gridkit:3"].startswith("unreadable wkt_srid_4326")
    assert "gridkit:3 not imported" in reasons["gridkit:link/11"]
    assert "gridkit:99 not imported" in reasons["gridkit:link/12"]
    warnings = {w["row"]: w["message"] for w in summary["warnings"]}
    assert "'high'" in warnings["gridkit:4"]
    assert counts(summary, "created") == {"substation": 3, "line": 2}
    given = Line.objects.get(source_id="gridkit:link/10")
    assert (given.r_ohm_per_km, given.max_i_ka, given.circuits) == (0.05, 2.0, 2)
    assert given.x_ohm_per_km == 0.265  # the 275 kV default fills what the file lacks
    assert given.tags["electrical"] == {"r_ohm_per_km": "file", "max_i_ka": "file",
                                        "x_ohm_per_km": "default", "c_nf_per_km": "default"}
    straight = Line.objects.get(source_id="gridkit:link/13")  # no WKT: between its vertices
    assert straight.geometry.coords == ((139.70, 35.60), (139.90, 35.90))
    assert straight.to_substation.voltages_kv == [] and straight.r_ohm_per_km == 0.1188
    assert Substation.objects.get(source_id="gridkit:1").voltages_kv == [275.0, 66.0]


def test_gridkit_strict_and_unusable_input_write_nothing(tmp_path, capsys):
    folder = gridkit_files(tmp_path)
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_gridkit(folder, strict=True)
    with pytest.raises(CommandError, match="strict import rolled back"):
        call_command("import_gridkit", str(folder), "--strict")
    with pytest.raises(ImportFailed, match="no such file"):
        import_gridkit(tmp_path / "nowhere")
    other = tmp_path / "other"
    other.mkdir()
    no_id = gridkit_files(other, links=LINKS.replace("v_id_2", "v_two"))
    with pytest.raises(ImportFailed, match=r"test_links.csv: missing required column.*: v_id_2"):
        import_gridkit(no_id)
    (no_id / "test_links.csv").unlink()
    with pytest.raises(ImportFailed, match=r"expected exactly one \*links\*.csv, found 0"):
        import_gridkit(no_id)
    assert nothing_written()
    capsys.readouterr()
    call_command("import_gridkit", str(folder / "test_vertices.csv"), str(folder / "test_links.csv"),
                 "--region", "tiny")
    assert json.loads(capsys.readouterr().out)["counts"]["line"]["created"] == 2


# --- pandapower ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def oberrhein():
    import pandapower.networks as pn

    return pn.mv_oberrhein()


@pytest.mark.embedded
def test_pandapower_mv_oberrhein(oberrhein):
    net = oberrhein
    summary = import_pandapower("mv_oberrhein")
    assert counts(summary, "created") == {"substation": 179, "line": 181, "pricing_node": 179}
    assert summary["skipped"] == [] and summary["warnings"] == []
    assert summary["not_stored"]["trafo"] == 2 and summary["not_stored"]["switch"] == 322
    assert summary["lines_drawn_straight"] == 0 and summary["region"] == "mv_oberrhein"
    assert Substation.objects.filter(voltage_kv=20).count() == 177
    assert Substation.objects.filter(voltage_kv=110).count() == 2
    bus = Substation.objects.get(source_id="pp:mv_oberrhein:bus/0")
    lon, lat = json.loads(net.bus.geo[0])["coordinates"]
    assert bus.location.coords == pytest.approx((lon, lat)) and 7 < lon < 8.5 and 48 < lat < 49
    for line in Line.objects.select_related("from_substation", "to_substation"):
        index = line.tags["pp:index"]
        row = net.line.loc[index]
        assert line.source_id == f"pp:mv_oberrhein:line/{index}"
        assert (line.r_ohm_per_km, line.x_ohm_per_km, line.c_nf_per_km, line.max_i_ka) == (
            row.r_ohm_per_km, row.x_ohm_per_km, row.c_nf_per_km, row.max_i_ka)
        assert line.from_substation.source_id == f"pp:mv_oberrhein:bus/{row.from_bus}"
        assert line.to_substation.source_id == f"pp:mv_oberrhein:bus/{row.to_bus}"
        assert line.kind == ("cable" if row.type == "cs" else "line")
        assert line.geometry.valid and line.length_m > 0 and line.voltages_kv == [20.0]
        assert line.tags["pp:length_km"] == row.length_km
    total_m = sum(Line.objects.values_list("length_m", flat=True))
    assert total_m == pytest.approx(net.line.length_km.sum() * 1000, rel=0.02)
    assert Line.objects.filter(kind="cable").count() == 171
    market = Market.objects.get(name="mv_oberrhein")
    assert market.currency == "EUR" and market.nodes.count() == 179
    node = PricingNode.objects.get(market=market, code="bus/0")
    assert node.substation == bus and node.kind == "bus" and node.location == bus.location
    assert not PricingNode.objects.filter(substation=None).exists()


def test_pandapower_json_reimport_and_changes(oberrhein, tmp_path):
    import pandapower as pp

    path = tmp_path / "oberrhein.json"
    pp.to_json(oberrhein, str(path))
    import_pandapower("mv_oberrhein")
    history = Line.history.count() + PricingNode.history.count()
    summary = import_pandapower(path)  # the same network as a file: same key, nothing changes
    assert summary["network"] == "mv_oberrhein"
    assert counts(summary, "unchanged") == {"substation": 179, "line": 181, "pricing_node": 179}
    assert Line.history.count() + PricingNode.history.count() == history

    net = pp.from_json(str(path))
    first, second = net.line.index[:2]
    net.line.at[first, "r_ohm_per_km"] = 0.2
    net.line.at[second, "geo"] = None  # drawn straight between its buses instead
    net.bus.at[net.bus.index[0], "name"] = "Umspannwerk Offenburg"
    pp.to_json(net, str(path))
    summary = import_pandapower(path, currency="CHF")
    assert counts(summary, "updated") == {"substation": 1, "line": 2, "pricing_node": 1}
    assert summary["lines_drawn_straight"] == 1
    assert Line.objects.get(source_id=f"pp:mv_oberrhein:line/{first}").r_ohm_per_km == 0.2
    straight = Line.objects.get(source_id=f"pp:mv_oberrhein:line/{second}")
    assert straight.geometry.num_points == 2
    assert PricingNode.objects.get(code=f"bus/{net.bus.index[0]}").name == "Umspannwerk Offenburg"
    assert Market.objects.get(name="mv_oberrhein").currency == "CHF"


def test_pandapower_bad_input_writes_nothing(oberrhein, tmp_path):
    import pandapower as pp

    with pytest.raises(ImportFailed, match="unknown pandapower network 'mv_oberrhine': did you "
                                           "mean mv_oberrhein"):
        import_pandapower("mv_oberrhine")
    with pytest.raises(ImportFailed, match="no such file"):
        import_pandapower(tmp_path / "missing.json")
    (tmp_path / "garbage.json").write_text('{"not": "a network"')
    with pytest.raises(ImportFailed, match="not a pandapower network"):
        import_pandapower(tmp_path / "garbage.json")
    with pytest.raises(ImportFailed, match="ISO 4217"):
        import_pandapower("mv_oberrhein", currency="euro")
    with pytest.raises(CommandError, match="unknown pandapower network"):
        call_command("import_pandapower", "no_such_net")
    net = copy.deepcopy(oberrhein)
    net.bus["geo"] = None
    pp.to_json(net, str(tmp_path / "nogeo.json"))
    with pytest.raises(ImportFailed, match="none of its 179 buses has coordinates"):
        import_pandapower(tmp_path / "nogeo.json")
    # one bus without coordinates: skipped with its lines; strict rolls everything back
    net = copy.deepcopy(oberrhein)
    lost = net.line.from_bus.iloc[0]
    net.bus.at[lost, "geo"] = None
    pp.to_json(net, str(tmp_path / "onebus.json"))
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_pandapower(tmp_path / "onebus.json", strict=True)
    assert nothing_written()
    summary = import_pandapower(tmp_path / "onebus.json", network_name="oberrhein-test")
    lost_lines = int(((net.line.from_bus == lost) | (net.line.to_bus == lost)).sum())
    assert counts(summary, "skipped") == {"substation": 1, "line": lost_lines, "pricing_node": 0}
    assert Line.objects.count() == 181 - lost_lines
    assert Market.objects.get(name="oberrhein_test").nodes.count() == 178


def test_pandapower_cli_prints_the_json_report(capsys):
    call_command("import_pandapower", "mv_oberrhein", "--region", "offenburg", "--currency", "USD")
    summary = json.loads(capsys.readouterr().out)
    assert summary["region"] == "offenburg" and summary["counts"]["line"]["created"] == 181
    assert summary["not_stored"]["trafo"] == 2
    assert Market.objects.get(name="mv_oberrhein").currency == "USD"


# --- jobs ---------------------------------------------------------------------------------------

def test_import_job_kinds_are_registered_and_check_parameters(tmp_path, settings):
    settings.IMPORT_ROOTS = [tmp_path]  # jobs read only from the import folders
    assert {"twin.import_afdc", "twin.import_gridkit", "twin.import_pandapower"} <= set(JOB_KINDS)
    with pytest.raises(JobParameterError, match=r"missing parameter.*path"):
        import_afdc_job({}, lambda *a: None)
    with pytest.raises(JobParameterError, match=r"unknown parameter.*tolerance"):
        import_gridkit_job({"path": "x", "tolerance": 3}, lambda *a: None)
    with pytest.raises(JobParameterError, match="either path"):
        import_pandapower_job({"path": "a.json", "network": "mv_oberrhein"}, lambda *a: None)
    folder = gridkit_files(tmp_path)
    job = Job.objects.create(kind="twin.import_gridkit", status="queued",
                             parameters={"path": str(folder), "region": "job-test"})
    assert execute_job(job.pk, 1) == "succeeded"
    job.refresh_from_db()
    assert job.result["counts"]["line"]["created"] == 2 and job.progress == 1.0
    failing = Job.objects.create(kind="twin.import_afdc", status="queued",
                                 parameters={"path": str(tmp_path / "missing.csv")})
    assert execute_job(failing.pk, 1) == "failed"
    failing.refresh_from_db()
    assert "no such file" in failing.error
    outside = Job.objects.create(kind="twin.import_afdc", status="queued",
                                 parameters={"path": "/etc/hostname"})
    assert execute_job(outside.pk, 1) == "failed"
    outside.refresh_from_db()
    assert "path must be inside" in outside.error
