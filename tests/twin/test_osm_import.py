"""Importing OpenStreetMap extracts: the real Liechtenstein file, re-imports, changes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import osmium
import pytest
from django.core.management import CommandError, call_command

from tests.conftest import REPO, SHARED_DATA
from twin.ingest.base import ImportFailed
from twin.ingest.osm import import_osm
from twin.models import Charger, Connector, Line, Region, Substation, Support

pytestmark = pytest.mark.django_db
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
THE_220_KV_LINE = 365562192


def counts(summary: dict, outcome: str) -> dict[str, int]:
    return {kind: c[outcome] for kind, c in summary["counts"].items()}


@pytest.mark.embedded
def test_liechtenstein_extract():
    summary = import_osm(DEMO, region_name="liechtenstein")
    assert counts(summary, "created") == {"substation": 5, "line": 15, "support": 186, "charger": 9,
                                          "road": 8248}
    assert summary["skipped"] == [] and summary["warnings"] == []
    assert Line.objects.filter(kind="line").count() == 11
    assert Line.objects.filter(kind="minor_line").count() == 4
    assert Support.objects.filter(kind="tower").count() == 161
    assert Support.objects.filter(kind="pole").count() == 25
    for line in Line.objects.all():
        assert line.geometry.valid and line.geometry.num_points >= 2 and line.length_m > 0
    ehv = Line.objects.get(voltage_kv=220)
    assert ehv.source_id == f"osm:way/{THE_220_KV_LINE}" and ehv.operator == "Swissgrid"
    assert 39_000 < ehv.length_m < 40_000  # 48.5 km of power=line in all, 39.3 km this one
    assert ehv.supports.filter(kind="tower").count() == 115
    assert not Support.objects.filter(lines=None).exists()  # every tower/pole carries a line
    tower = ehv.supports.filter(kind="tower").first()
    created, linked = tower.history.order_by("history_id")
    assert (created.history_type, linked.history_type) == ("+", "~")  # links are in its history
    assert [link.line_id for link in linked.lines.all()] == [ehv.pk] and not created.lines.exists()
    schaan = Substation.objects.get(name="Umspannwerk Schaan")
    assert schaan.voltages_kv == [110.0, 16.0] and schaan.footprint is not None
    assert schaan.footprint.valid and schaan.footprint.contains(schaan.location)
    supercharger = Charger.objects.get(name="Schaan Supercharger")
    assert supercharger.operator == "Tesla, Inc." and supercharger.evses.count() >= 1
    region = Region.objects.get(name="liechtenstein")
    assert region.imported_at and region.boundary.extent == pytest.approx(
        (9.471078, 47.04774, 9.636217, 47.27128), abs=1e-6)
    assert Line.objects.filter(region=region).count() == 15
    assert region.roads.count() == 8248  # the offline basemap (README: 8,271 highway ways,
    # less proposed/construction/platform ways that are no roads to draw)
    assert region.roads.filter(kind="motorway").count() == 0  # Liechtenstein has none
    assert region.roads.filter(kind="primary").exists()


def test_reimport_changes_nothing():
    import_osm(DEMO, region_name="liechtenstein")
    history_before = sum(m.history.count() for m in (Line, Support, Substation, Charger))
    connectors_before = list(Connector.objects.values_list("pk", flat=True))
    summary = import_osm(DEMO, region_name="liechtenstein")
    assert counts(summary, "unchanged") == {"substation": 5, "line": 15, "support": 186,
                                            "charger": 9, "road": 8248}
    for outcome in ("created", "updated", "vanished", "skipped"):
        assert set(counts(summary, outcome).values()) == {0}, outcome
    assert summary["supports_relinked"] == 0
    assert sum(m.history.count() for m in (Line, Support, Substation, Charger)) == history_before
    assert list(Connector.objects.values_list("pk", flat=True)) == connectors_before


def _modified_copy(tmp_path: Path, *, voltage: str | None = None, untag_tower: int | None = None,
                   suffix: str = ".osm.pbf") -> Path:
    """A copy of the demo extract with one line's voltage changed and/or one tower removed."""
    out = tmp_path / f"modified{suffix}"
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(DEMO)):
            if voltage and obj.is_way() and obj.id == THE_220_KV_LINE:
                obj = obj.replace(tags={**dict(obj.tags), "voltage": voltage})
            elif untag_tower and obj.is_node() and obj.id == untag_tower:
                obj = obj.replace(tags={})  # the mapper deleted the tower; the vertex stays
            writer.add(obj)
    return out


def test_newer_extract_updates_exactly_what_changed(tmp_path):
    import_osm(DEMO, region_name="liechtenstein")
    ehv = Line.objects.get(source_id=f"osm:way/{THE_220_KV_LINE}")
    tower = ehv.supports.filter(kind="tower").order_by("source_id").first()
    tower_node = int(tower.source_id.rsplit("/", 1)[1])
    tower.condition_score = 35  # an operator's assessment, kept across imports
    tower.save()
    newer = _modified_copy(tmp_path, voltage="380000", untag_tower=tower_node)
    summary = import_osm(newer, region_name="liechtenstein")
    assert counts(summary, "updated") == {"substation": 0, "line": 1, "support": 0, "charger": 0,
                                          "road": 0}
    assert counts(summary, "vanished") == {"substation": 0, "line": 0, "support": 1, "charger": 0,
                                           "road": 0}
    assert counts(summary, "unchanged") == {"substation": 5, "line": 14, "support": 185,
                                            "charger": 9, "road": 8248}
    ehv.refresh_from_db()
    assert ehv.voltages_kv == [380.0] and ehv.voltage_kv == 380.0
    assert ehv.history.first().history_type == "~"
    tower.refresh_from_db()
    assert tower.missing_since is not None and tower.condition_score == 35  # marked, not deleted
    # and back: the tower reappears in a later extract
    summary = import_osm(DEMO, region_name="liechtenstein")
    assert counts(summary, "restored")["support"] == 1 and counts(summary, "updated")["line"] == 1
    tower.refresh_from_db()
    assert tower.missing_since is None


def test_cli_prints_json_summary(capsys):
    call_command("import_osm", str(DEMO), "--region", "li")
    summary = json.loads(capsys.readouterr().out)
    assert summary["region"] == "li" and summary["counts"]["line"]["created"] == 15


@pytest.mark.skipif(not (SHARED_DATA / "osm").exists(), reason="needs ../shared/data")
def test_schaan_vaduz_xml_clip():
    summary = import_osm(SHARED_DATA / "osm" / "liechtenstein-schaan-vaduz-2024-03-04.osm.bz2")
    assert summary["region"] == "liechtenstein-schaan-vaduz-2024-03-04"
    assert Line.objects.filter(kind="line").count() == 6
    assert Support.objects.filter(kind="tower").count() == 132
    assert Support.objects.filter(kind="pole").count() == 8
    assert Substation.objects.count() == 2 and Charger.objects.count() == 4


def test_line_ends_connect_to_substations_within_tolerance():
    summary = import_osm(DEMO, region_name="liechtenstein", tolerance_m=250)
    schaan = Substation.objects.get(name="Umspannwerk Schaan")
    connected = Line.objects.filter(from_substation=schaan) | Line.objects.filter(to_substation=schaan)
    assert connected.count() >= 3
    assert len(summary["lines_without_substation"]) == 15 - Line.objects.exclude(
        from_substation=None, to_substation=None).count()


# --- bad input ----------------------------------------------------------------------------------

BAD_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="gridtwin-tests">
  <node id="1" version="1" lat="47.10" lon="9.50"/>
  <node id="2" version="1" lat="47.11" lon="9.51"/>
  <node id="3" version="1" lat="47.10" lon="9.51"/>
  <node id="4" version="1" lat="47.11" lon="9.50"/>
  <node id="5" version="1" lat="47.12" lon="9.52"><tag k="power" v="tower"/></node>
  <node id="6" version="1" lat="95.0" lon="9.52"><tag k="power" v="pole"/></node>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="power" v="substation"/><tag k="name" v="Bowtie"/><tag k="voltage" v="20000"/></way>
  <way id="11" version="1"><nd ref="2"/><nd ref="5"/>
    <tag k="power" v="line"/><tag k="voltage" v="medium"/></way>
  <way id="12" version="1"><nd ref="5"/><nd ref="99"/><tag k="power" v="line"/></way>
</osm>
"""


@pytest.fixture
def bad_osm(tmp_path) -> Path:
    path = tmp_path / "bad.osm"
    path.write_text(BAD_OSM)
    return path


def test_bad_rows_are_skipped_or_repaired_and_listed(bad_osm):
    summary = import_osm(bad_osm)
    reasons = {row["row"]: row["reason"] for row in summary["skipped"]}
    warnings = {w["row"]: w["message"] for w in summary["warnings"]}
    assert "Self-intersection" in warnings["osm:way/10"] and "make_valid" in warnings["osm:way/10"]
    assert "'medium'" in warnings["osm:way/11"]
    assert "osm:way/12" in reasons and "incomplete geometry" in reasons["osm:way/12"]
    assert "osm:node/6" in reasons  # latitude 95
    bowtie = Substation.objects.get(name="Bowtie")
    assert bowtie.footprint.valid and bowtie.footprint.num_geom == 2
    line = Line.objects.get(source_id="osm:way/11")
    assert line.voltages_kv == []
    assert Support.objects.count() == 1


def test_strict_rolls_everything_back(bad_osm):
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_osm(bad_osm, strict=True)
    assert not (Line.objects.exists() or Substation.objects.exists() or Support.objects.exists())
    assert not Region.objects.exists()
    with pytest.raises(CommandError, match="strict import rolled back"):
        call_command("import_osm", str(bad_osm), "--strict")


def test_a_region_keeps_its_own_copy_of_its_file(tmp_path, settings,
                                                django_capture_on_commit_callbacks):
    """The file may be anywhere (the command line reads what the operator names); the region
    records a copy in the media folder, which its later jobs read (``build_flight_graph``)."""
    from routing.services.errors import RoutingInputError
    from routing.services.graph import region_osm_file

    settings.MEDIA_ROOT = tmp_path / "media"
    original = tmp_path / "srv" / "andorra.osm"  # outside the import folders
    original.parent.mkdir()
    original.write_text(BAD_OSM)
    with django_capture_on_commit_callbacks(execute=True):
        import_osm(original, region_name="Andorra")
    region = Region.objects.get(name="Andorra")
    kept = settings.MEDIA_ROOT / region.source_file
    assert region.source_file.startswith("regions/andorra-") and kept.name.endswith("-andorra.osm")
    assert kept.read_bytes() == original.read_bytes()
    original.unlink()
    assert region_osm_file(region) == kept.resolve()

    # The same content again (here: the copy itself) is the same copy, untouched.
    modified = kept.stat().st_mtime_ns
    with django_capture_on_commit_callbacks(execute=True):
        import_osm(kept, region_name="Andorra")
    region.refresh_from_db()
    assert settings.MEDIA_ROOT / region.source_file == kept and kept.stat().st_mtime_ns == modified

    # A newer file replaces it once the import commits; one that rolls back changes nothing.
    original.write_text(BAD_OSM.replace("Bowtie", "Bowtie 2"))
    with django_capture_on_commit_callbacks(execute=True):
        import_osm(original, region_name="Andorra")
    region.refresh_from_db()
    newer = settings.MEDIA_ROOT / region.source_file
    assert newer != kept and list(newer.parent.iterdir()) == [newer]
    original.write_text(BAD_OSM.replace("Bowtie", "Bowtie 3"))
    with pytest.raises(ImportFailed), django_capture_on_commit_callbacks(execute=True):
        import_osm(original, region_name="Andorra", strict=True)
    region.refresh_from_db()
    assert settings.MEDIA_ROOT / region.source_file == newer and newer.is_file()

    # Another region, even one named alike, has a folder of its own.
    with django_capture_on_commit_callbacks(execute=True):
        import_osm(newer, region_name="andorra")
    other = Region.objects.get(name="andorra")
    assert Path(other.source_file).parent != Path(region.source_file).parent and newer.is_file()

    # Another source adding to the region (here a pandapower network) keeps the region's OSM
    # copy, which its flight graph is built from.
    from twin.ingest.pandapower import import_pandapower

    import_pandapower("mv_oberrhein", region_name="Andorra")
    region.refresh_from_db()
    assert settings.MEDIA_ROOT / region.source_file == newer
    assert region_osm_file(region) == newer.resolve()
    assert region.summary["network"] == "mv_oberrhein"  # the last import's report all the same

    # A recorded path outside the media folder is not read.
    region.source_file = "../../../../../../etc/hostname"
    with pytest.raises(RoutingInputError, match="was not found"):
        region_osm_file(region)


@pytest.mark.parametrize("content,name,message", [
    (None, "truncated.osm.pbf", "unexpected EOF"),
    (b"not a pbf at all" * 64, "garbage.osm.pbf", "could not read the OSM file"),
    (b"<osm><node id='1' lat=", "broken.osm", "could not read the OSM file"),
    (b"a,b\n1,2\n", "grid.csv", "unknown format"),
])
def test_unreadable_files_write_nothing(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content if content is not None else DEMO.read_bytes()[: DEMO.stat().st_size // 2])
    with pytest.raises(ImportFailed, match=message):
        import_osm(path)
    assert not (Line.objects.exists() or Support.objects.exists() or Region.objects.exists())
