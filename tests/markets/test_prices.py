"""Market data: bulk price storage, the CAISO/generic/JEPX/EIA-930 importers and their bad input.

Real data from ``../shared/data`` (CAISO OASIS RTPD LMPs, JEPX spot summary, EIA-930 carbon);
a small CAISO excerpt ships in tests/fixtures for machines without it.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Sum
from django.db.models.functions import Abs

from markets.models import Market, NodalPrice, PricingNode
from markets.services.carbon import carbon_at, carbon_series, import_carbon
from markets.services.nodes import import_nodes
from markets.services.prices import import_prices
from markets.services.queries import intervals, node_series, prices_at
from markets.services.storage import store_prices
from tests.conftest import FIXTURES, SHARED_DATA
from twin.ingest.base import ImportFailed
from twin.jobs import execute_job
from twin.models import Job

T0 = datetime(2022, 9, 1, 7, tzinfo=UTC)


def _rows(nodes, n, *, lmp=10.0, version=1):
    return [{"node_id": node.pk, "run": "real-time", "interval_start": T0 + timedelta(minutes=15 * i),
             "interval_end": T0 + timedelta(minutes=15 * (i + 1)), "lmp_per_mwh": lmp + i,
             "energy_per_mwh": lmp, "congestion_per_mwh": i, "loss_per_mwh": 0.0,
             "version": version} for node in nodes for i in range(n)]


@pytest.fixture
def two_nodes(db):
    market = Market.objects.create(name="CAISO", currency="USD", time_zone="America/Los_Angeles",
                                   interval_min=15, carbon_zone="CISO")
    return [PricingNode.objects.create(market=market, code=c, location=Point(-122 + i, 37.5))
            for i, c in enumerate(("A", "B"))]


@pytest.mark.embedded
@pytest.mark.django_db
def test_store_prices_is_an_idempotent_upsert(two_nodes):
    rows = _rows(two_nodes, 8)
    assert store_prices(rows, source="t") == {"created": 16, "updated": 0, "unchanged": 0}
    assert store_prices(rows, source="t") == {"created": 0, "updated": 0, "unchanged": 16}
    rows[3]["lmp_per_mwh"] += 1
    rows.append({**rows[0], "interval_start": T0 + timedelta(hours=5),
                 "interval_end": T0 + timedelta(hours=5, minutes=15)})
    assert store_prices(rows, source="t") == {"created": 1, "updated": 1, "unchanged": 15}
    assert NodalPrice.objects.count() == 17
    stored = NodalPrice.objects.get(node=two_nodes[0], interval_start=rows[3]["interval_start"])
    assert stored.lmp_per_mwh == rows[3]["lmp_per_mwh"] and stored.ghg_per_mwh is None
    # A revision: version 2 becomes current, version 1 stays but is no longer current.
    revised = [{**r, "lmp_per_mwh": 99.0, "version": 2} for r in _rows(two_nodes[:1], 2)]
    assert store_prices(revised)["created"] == 2
    current = NodalPrice.objects.filter(node=two_nodes[0], interval_start=T0)
    assert sorted(current.values_list("version", "is_current")) == [(1, False), (2, True)]


@pytest.mark.embedded
@pytest.mark.django_db
def test_store_prices_refuses_bad_rows_and_writes_nothing(two_nodes):
    rows = _rows(two_nodes, 4)
    with pytest.raises(ValueError, match="more than once"):
        store_prices(rows + rows[:1])
    with pytest.raises(ValueError, match="not pricing nodes"):
        store_prices([*rows, {**rows[0], "node_id": 10**9}])
    with pytest.raises(ValueError, match="not after"):
        store_prices([{**rows[0], "interval_end": rows[0]["interval_start"]}])
    with pytest.raises(ValueError, match="timezone-aware"):
        store_prices([{**rows[0], "interval_start": datetime(2022, 9, 1)}])
    with pytest.raises(ValueError, match="run"):
        store_prices([{**rows[0], "run": "intraday"}])
    assert NodalPrice.objects.count() == 0


# ---- the real files -----------------------------------------------------------------------------

LMP = SHARED_DATA / "lmp"
CAISO_PRICES = LMP / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
CAISO_NODES = LMP / "caiso_sfbayarea_node_locations.csv"
JEPX = LMP / "jepx_spot_summary_2023.csv"
EIA930 = SHARED_DATA / "carbon" / "eia930_CISO_2022_hourly_genmix_avgCI.csv"
EXCERPT_PRICES = FIXTURES / "caiso_excerpt_rtpd_2022-09-01.csv.gz"
EXCERPT_NODES = FIXTURES / "caiso_excerpt_nodes.csv"
needs_shared = pytest.mark.skipif(not CAISO_PRICES.is_file(), reason="needs ../shared/data")


def caiso_market(nodes_csv=CAISO_NODES) -> Market:
    report = import_nodes(nodes_csv, market_name="CAISO", currency="USD",
                          time_zone="America/Los_Angeles", interval_min=15, carbon_zone="CISO")
    assert report["counts"]["node"]["skipped"] == 0
    return Market.objects.get(name="CAISO")


def _price_stats(market: Market) -> dict:
    return NodalPrice.objects.filter(node__market=market).aggregate(
        n=Count("id"), nodes=Count("node", distinct=True),
        starts=Count("interval_start", distinct=True), first=Min("interval_start"),
        last=Max("interval_end"), max_id=Max("id"), lmp_sum=Sum("lmp_per_mwh"),
        energy=Count("energy_per_mwh"), congestion=Count("congestion_per_mwh"),
        loss=Count("loss_per_mwh"), ghg=Count("ghg_per_mwh"))


@needs_shared
@pytest.mark.django_db
def test_caiso_file_loads_completely_and_reimport_changes_nothing():
    market = caiso_market()
    assert market.nodes.count() == 407 and not market.nodes.filter(location__isnull=True).exists()
    report = import_prices("caiso-oasis", CAISO_PRICES, market_name="CAISO")
    assert report["counts"]["price"] == {**report["counts"]["price"], "created": 407 * 384,
                                         "updated": 0, "unchanged": 0, "skipped": 0}
    assert report["file_rows"] == 781_440 and report["nodes_with_prices"] == 407
    stats = _price_stats(market)
    assert stats["n"] == 156_288 and stats["nodes"] == 407 and stats["starts"] == 384
    # every component of every row
    assert stats["energy"] == stats["congestion"] == stats["loss"] == stats["ghg"] == 156_288
    # UTC and half-open: 384 back-to-back quarter hours from 07:00Z (midnight PDT)
    assert stats["first"] == datetime(2022, 9, 1, 7, tzinfo=UTC)
    assert stats["last"] == datetime(2022, 9, 5, 7, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    assert not NodalPrice.objects.exclude(interval_end=F("interval_start") + quarter).exists()
    with connection.cursor() as cursor:  # each node's next interval starts where this one ends
        cursor.execute("""SELECT count(*) FROM (SELECT interval_end, lead(interval_start) OVER
            (PARTITION BY node_id ORDER BY interval_start) AS next FROM markets_nodalprice) t
            WHERE next IS NOT NULL AND next <> interval_end""")
        assert cursor.fetchone()[0] == 0
    # LMP = MCE + MCC + MCL within rounding (OASIS publishes 5 decimals) on every row
    worst = NodalPrice.objects.aggregate(worst=Max(Abs(
        F("lmp_per_mwh") - F("energy_per_mwh") - F("congestion_per_mwh") - F("loss_per_mwh"))))
    assert worst["worst"] < 1e-3
    # one known row: ADCC_2_N001's first interval, LMP 81.19759 in the file
    first = NodalPrice.objects.get(node__code="ADCC_2_N001", interval_start=stats["first"])
    assert first.lmp_per_mwh == pytest.approx(81.19759) and first.run == "real-time"
    assert first.is_current and first.version == 1
    again = import_prices("caiso-oasis", CAISO_PRICES, market_name="CAISO")
    assert again["counts"]["price"]["unchanged"] == 156_288
    assert again["counts"]["price"]["created"] == again["counts"]["price"]["updated"] == 0
    assert _price_stats(market) == stats


@pytest.mark.embedded
@pytest.mark.django_db
def test_caiso_excerpt_loads_on_both_backends():
    market = caiso_market(EXCERPT_NODES)
    report = import_prices("caiso-oasis", EXCERPT_PRICES, market_name="CAISO")
    assert report["counts"]["price"]["created"] == 24 * 96 and not report["skipped"]
    stats = _price_stats(market)
    assert (stats["n"], stats["nodes"], stats["starts"]) == (24 * 96, 24, 96)
    assert stats["first"] == datetime(2022, 9, 1, 7, tzinfo=UTC)
    assert stats["last"] == datetime(2022, 9, 2, 7, tzinfo=UTC)
    assert import_prices("caiso-oasis", EXCERPT_PRICES, market_name="CAISO")[
        "counts"]["price"]["unchanged"] == 24 * 96
    at = datetime(2022, 9, 1, 23, 7, tzinfo=UTC)
    now = list(prices_at(market, "real-time", at))
    assert len(now) == 24 and {p.interval_start for p in now} == {datetime(2022, 9, 1, 23,
                                                                           tzinfo=UTC)}
    node = market.nodes.get(code=now[0].node.code)
    series = node_series(node, "real-time", datetime(2022, 9, 1, 8, 5, tzinfo=UTC),
                         datetime(2022, 9, 1, 9, tzinfo=UTC))
    assert [s["interval_start"].minute for s in series] == [0, 15, 30, 45]  # overlap semantics
    assert len(intervals(market, "real-time")) == 96


@needs_shared
@pytest.mark.django_db
def test_jepx_areas_in_jst_converted_to_utc_and_per_mwh():
    report = import_prices("jepx", JEPX)
    assert report["market_created"] and report["counts"]["node"]["created"] == 10
    assert report["counts"]["price"]["created"] == 10_992 * 10 and not report["skipped"]
    market = Market.objects.get(name="JEPX")
    assert (market.time_zone, market.currency, market.interval_min) == ("Asia/Tokyo", "JPY", 30)
    assert market.nodes.filter(kind="zone").count() == 10
    assert market.nodes.filter(location__isnull=True).get().code == "SYSTEM"
    tokyo = NodalPrice.objects.filter(node__code="TOKYO").order_by("interval_start")
    assert tokyo.count() == 229 * 48
    # 2023/4/1 slot 1 = 00:00 JST = 2023-03-31T15:00Z, 14.68 yen/kWh
    assert tokyo[0].interval_start == datetime(2023, 3, 31, 15, tzinfo=UTC)
    assert tokyo[0].interval_end - tokyo[0].interval_start == timedelta(minutes=30)
    assert tokyo[0].lmp_per_mwh == pytest.approx(14_680) and tokyo[0].run == "day-ahead"
    # slot 48 of the last day (2023/11/15 23:30 JST) ends at 2023-11-16T00:00 JST
    assert tokyo.last().interval_end == datetime(2023, 11, 15, 15, tzinfo=UTC)
    hokkaido = NodalPrice.objects.get(node__code="HOKKAIDO", interval_start=tokyo[0].interval_start)
    assert hokkaido.lmp_per_mwh == pytest.approx(16_530)


@needs_shared
@pytest.mark.django_db
def test_eia930_carbon_hourly_utc_with_gaps_reported():
    report = import_carbon("eia930", EIA930, zone="CISO")
    assert report["counts"]["carbon"]["created"] == 8_757
    assert report["counts"]["carbon"]["skipped"] == 3  # three hours without avg_CI in the file
    assert all(s["reason"] == "avg_CI is empty" for s in report["skipped"])
    assert report["interval_range"] == ["2022-01-01T00:00:00+00:00", "2023-01-01T00:00:00+00:00"]
    assert import_carbon("eia930", EIA930, zone="CISO")["counts"]["carbon"]["unchanged"] == 8_757
    market = Market.objects.create(name="CAISO", time_zone="America/Los_Angeles",
                                   carbon_zone="CISO")
    # the file's row "2022-09-01 07:00:00+00:00" (337.93… g/kWh) applies 07:00–08:00Z
    at = carbon_at(market, datetime(2022, 9, 1, 7, 40, tzinfo=UTC))
    assert at["interval_start"] == datetime(2022, 9, 1, 7, tzinfo=UTC)
    assert at["average_g_per_kwh"] == pytest.approx(_eia_value("2022-09-01 07:00:00+00:00"))
    series = carbon_series("CISO", datetime(2022, 9, 1, 7, tzinfo=UTC),
                           datetime(2022, 9, 5, 7, tzinfo=UTC))
    assert len(series) == 96
    assert sum(s["average_g_per_kwh"] for s in series) / 96 == pytest.approx(316.4, abs=1)


def _eia_value(timestamp: str) -> float:
    for line in EIA930.read_text().splitlines():
        if line.startswith(timestamp):
            return float(line.rsplit(",", 1)[1])
    raise AssertionError(timestamp)


# ---- the generic CSV and bad input ------------------------------------------------------------

GENERIC_HEADER = "node_id,interval_start,interval_end,run,lmp,energy,congestion,loss,ghg\n"


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.embedded
@pytest.mark.django_db
def test_generic_csv_with_offsets_local_times_and_row_reports(two_nodes, tmp_path):
    path = _write(tmp_path, "prices.csv", GENERIC_HEADER + "\n".join([
        "A,2022-11-06T07:00:00Z,2022-11-06T08:00:00Z,day-ahead,40.5,40,0.5,0,",  # ok (UTC)
        "B,2022-11-06T00:00:00-07:00,2022-11-06T01:00:00-07:00,day-ahead,41,,,,",  # ok (offset)
        "A,2022-11-06 01:30,2022-11-06 02:30,day-ahead,42,,,,",  # 01:30 PDT or PST? ambiguous
        "A,2022-03-13 02:30,2022-03-13 03:30,day-ahead,43,,,,",  # in the spring-forward gap
        "A,2022-11-06 03:00,2022-11-06 04:00,day-ahead,44,,,,",  # naive local, unambiguous
        "A,yesterday,2022-11-06T08:00:00Z,day-ahead,45,,,,",
        "A,2022-11-06T09:00:00Z,2022-11-06T09:00:00Z,day-ahead,46,,,,",  # empty interval
        "B,2022-11-06T07:00:00Z,2022-11-06T08:00:00Z,intraday,47,,,,",
        "B,2022-11-06T10:00:00Z,2022-11-06T11:00:00Z,real-time,abc,,,,",
        "A,2022-11-06T07:00:00Z,2022-11-06T08:00:00Z,day-ahead,40.5,40,0.5,0,",  # duplicate
        "Z,2022-11-06T07:00:00Z,2022-11-06T08:00:00Z,day-ahead,50,,,,",  # unknown node
    ]) + "\n")
    report = import_prices("generic", path, market_name="CAISO")
    assert report["counts"]["price"]["created"] == 3
    assert report["counts"]["price"]["skipped"] == 8
    reasons = " | ".join(f"{s['row']}: {s['reason']}" for s in report["skipped"])
    for expected in ("line 4: interval_start: local time 2022-11-06T01:30:00 is ambiguous",
                     "line 5: interval_start: local time 2022-03-13T02:30:00 does not exist",
                     "line 7: interval_start: unparsable timestamp 'yesterday'",
                     "line 8: interval_end is not after", "line 9: run must be one of",
                     "line 10: lmp: not a number", "line 11: duplicate row; kept the first",
                     "unknown node 'Z'"):
        assert expected in reasons
    local = NodalPrice.objects.get(lmp_per_mwh=44)  # 03:00 PST = 11:00Z
    assert local.interval_start == datetime(2022, 11, 6, 11, tzinfo=UTC)
    assert NodalPrice.objects.get(lmp_per_mwh=41).interval_start == datetime(2022, 11, 6, 7,
                                                                             tzinfo=UTC)
    first = NodalPrice.objects.get(lmp_per_mwh=40.5)
    assert (first.energy_per_mwh, first.congestion_per_mwh, first.ghg_per_mwh) == (40, 0.5, None)
    # resolved explicitly: the later 01:30 (PST, 09:30Z), reported as a warning
    resolved = import_prices("generic", path, market_name="CAISO", ambiguous="later")
    assert resolved["counts"]["price"]["created"] == 1
    assert "taken as 2022-11-06T09:30:00+00:00 (later)" in resolved["warnings"][0]["message"]
    # --strict: any problem row rolls the whole file back
    before = NodalPrice.objects.count()
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_prices("generic", _write(tmp_path, "p2.csv", GENERIC_HEADER
                      + "A,2022-12-01T00:00Z,2022-12-01T01:00Z,day-ahead,1,,,,\n"
                      + "A,2022-12-01T01:00Z,2022-12-01T02:00Z,day-ahead,x,,,,\n"),
                      market_name="CAISO", strict=True)
    assert NodalPrice.objects.count() == before


@pytest.mark.django_db
def test_bad_input_is_refused_with_clear_errors_and_nothing_half_loaded(two_nodes, tmp_path):
    with pytest.raises(ImportFailed, match="unknown market 'NOPE'"):
        import_prices("caiso-oasis", EXCERPT_PRICES, market_name="NOPE")
    with pytest.raises(ImportFailed, match="unknown price format 'nyiso'"):
        import_prices("nyiso", EXCERPT_PRICES, market_name="CAISO")
    with pytest.raises(ImportFailed, match=r"missing required column.*LMP_TYPE"):
        import_prices("caiso-oasis", _write(tmp_path, "c.csv", "INTERVALSTARTTIME_GMT,"
                      "INTERVALENDTIME_GMT,NODE_ID,MARKET_RUN_ID,PRC\n"), market_name="CAISO")
    with pytest.raises(ImportFailed, match=r"missing required column.*interval_end"):
        import_prices("generic", _write(tmp_path, "g.csv", "node_id,interval_start,run,lmp\n"
                      "A,2022-01-01T00:00Z,day-ahead,1\n"), market_name="CAISO")
    with pytest.raises(ImportFailed, match="no such file"):
        import_prices("generic", tmp_path / "missing.csv", market_name="CAISO")
    with pytest.raises(ImportFailed, match="unknown carbon format"):
        import_carbon("watttime", EIA930, zone="CISO")
    with pytest.raises(ImportFailed, match="no UTC offset"):
        import_carbon("eia930", _write(tmp_path, "e.csv", "timestamp,avg_CI\n"
                      "2022-01-01 00:00,200\n"), zone="CISO", strict=True)
    assert NodalPrice.objects.count() == 0


@pytest.mark.django_db
def test_caiso_bad_rows_reported_and_strict_rolls_back(tmp_path):
    caiso_market(EXCERPT_NODES)
    with gzip.open(EXCERPT_PRICES, "rt") as handle:
        lines = handle.read().splitlines()
    header, rows = lines[0], lines[1:]
    changed = rows[2].split(",")
    changed[13] = "999.5"  # PRC
    broken = [rows[0].replace("2022-09-01T07:00:00-00:00", "2022-13-01T07:00:00", 1),  # bad time
              rows[1].replace(",LMP,", ",XYZ,"), rows[2], ",".join(changed),
              rows[3].replace("ADCC_2_N001", "NEW_NODE")]
    path = tmp_path / "caiso.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write("\n".join([header, *broken, *rows[5:]]) + "\n")
    report = import_prices("caiso-oasis", path, market_name="CAISO")
    reasons = [s["reason"] for s in report["skipped"]]
    assert any(r.startswith("INTERVALSTARTTIME_GMT: unparsable timestamp") for r in reasons)
    assert any(r.startswith("LMP_TYPE: unknown LMP_TYPE 'XYZ'") for r in reasons)
    assert any(r.startswith("duplicate row (same node, run, interval and LMP_TYPE) with a "
                            "different value") for r in reasons)
    assert any("unknown node 'NEW_NODE'" in r for r in reasons)
    assert any("without an LMP row" in r for r in reasons)
    # ADCC_2_N001 lost the LMP of four intervals: bad time, bad type, renamed node, line dropped
    assert NodalPrice.objects.count() == 24 * 96 - 4
    NodalPrice.objects.all().delete()
    with pytest.raises(ImportFailed, match="strict import rolled back"):
        import_prices("caiso-oasis", path, market_name="CAISO", strict=True)
    assert NodalPrice.objects.count() == 0
    created = import_prices("caiso-oasis", path, market_name="CAISO", create_nodes=True)
    node = PricingNode.objects.get(code="NEW_NODE")
    assert node.location is None and node.prices.count() == 1
    assert any("created without a location" in w["message"] for w in created["warnings"])


@pytest.mark.django_db
def test_import_nodes_reports_unlocated_duplicate_and_bad_rows(tmp_path):
    path = _write(tmp_path, "nodes.csv", "node_id,latitude,longitude,node_type,area\n"
                  "N1,37.5,-122.1,LOAD,CA\nN2,,,GEN,CA\nN3,95,-122,LOAD,CA\nN1,37.6,-122.2,,\n"
                  "N4,37.7,-122.3,PUMP,CA\n")
    report = import_nodes(path, market_name="M", currency="usd", time_zone="America/Los_Angeles",
                          interval_min=5)
    reasons = [s["reason"] for s in report["skipped"]]
    assert report["counts"]["node"]["created"] == 2 and len(reasons) == 3
    assert "has no location" in reasons[0] and "not a valid WGS84 position" in reasons[1]
    assert "duplicate node_id 'N1'" in reasons[2]
    assert "unknown node_type 'pump'" in report["warnings"][0]["message"]
    market = Market.objects.get(name="M")
    assert (market.currency, market.interval_min) == ("USD", 5)
    again = import_nodes(path, market_name="M", allow_unlocated=True, time_zone="UTC")
    assert again["counts"]["node"]["created"] == 1  # N2, without a location
    assert any("kept the existing market's time_zone" in w["message"] for w in again["warnings"])
    assert PricingNode.objects.get(code="N2").location is None
    with pytest.raises(ImportFailed, match="not an IANA name"):
        import_nodes(path, market_name="X", time_zone="Mars/Olympus")
    with pytest.raises(CommandError, match="missing required column"):
        call_command("import_nodes", str(_write(tmp_path, "n.csv", "node_id,lat,lon\n")),
                     "--market", "M", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_commands_print_the_json_report(tmp_path):
    out = io.StringIO()
    call_command("import_nodes", str(EXCERPT_NODES), "--market", "CAISO", "--currency", "USD",
                 "--time-zone", "America/Los_Angeles", "--interval-min", "15", stdout=out,
                 stderr=io.StringIO())
    assert json.loads(out.getvalue())["counts"]["node"]["created"] == 24
    out = io.StringIO()
    call_command("import_prices", "caiso-oasis", str(EXCERPT_PRICES), "--market", "CAISO",
                 stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["counts"]["price"]["created"] == 24 * 96
    with pytest.raises(CommandError, match="unknown price format"):
        call_command("import_prices", "pjm", str(EXCERPT_PRICES), "--market", "CAISO",
                     stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_import_jobs_run_and_fail_with_their_report(settings, tmp_path):
    settings.IMPORT_ROOTS = [tmp_path]
    shutil.copy(EXCERPT_NODES, tmp_path / "nodes.csv")
    shutil.copy(EXCERPT_PRICES, tmp_path / "prices.csv.gz")
    job = Job.objects.create(kind="markets.import_nodes", parameters={
        "path": "nodes.csv", "market": "CAISO", "currency": "USD",
        "time_zone": "America/Los_Angeles", "interval_min": 15})
    assert execute_job(job.pk, 1) == "succeeded"
    job = Job.objects.create(kind="markets.import_prices", parameters={
        "path": "prices.csv.gz", "format": "caiso-oasis", "market": "CAISO"})
    assert execute_job(job.pk, 1) == "succeeded"
    job.refresh_from_db()
    assert job.result["counts"]["price"]["created"] == 24 * 96
    bad = Job.objects.create(kind="markets.import_prices", parameters={
        "path": "prices.csv.gz", "format": "caiso-oasis", "market": "NOPE"})
    assert execute_job(bad.pk, 1) == "failed"
    bad.refresh_from_db()
    assert "unknown market 'NOPE'" in bad.error
    outside = Job.objects.create(kind="markets.import_carbon", parameters={
        "path": "/etc/passwd", "zone": "CISO"})
    assert execute_job(outside.pk, 1) == "failed"
