"""The benchmarks' data: each bench seeds and cleans its own database, so that any bench can run
alone, in any order and twice in a row on the same data (bench/README.md).

The benches' seeding and clean-up run here at a small scale (a few copies, no flight graph),
twice, in two orders, each in a throwaway database on the test PostGIS server (dropped at the
end), and every bench's row counts must be the same each time and what the bench expects.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from bench import charger_near, common, opf, osm_import, overlays, prices, tiles
from bench import routing as routing_bench
from tests.conftest import REPO, SHARED_DATA

DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
BENCHES = ("charger_near", "osm_import", "tiles", "opf", "routing", "prices", "overlays")
SMALL = {"charger_near": 200, "tiles": 3}  # chargers; copies of the grid


@contextmanager
def using_database(name: str):
    """Django's default connection on database ``name`` (same server) for the block."""
    connection = connections["default"]
    saved = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    ContentType.objects.clear_cache()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = saved
        ContentType.objects.clear_cache()


@pytest.fixture(scope="module")
def bench_databases(django_db_setup, django_db_blocker):
    """A migrated throwaway database per bench (copies of one migrated template), dropped after."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("the benchmarks need PostGIS")
    tag = uuid.uuid4().hex[:8]
    template = f"test_bench_{tag}_template"
    names = {bench: f"test_bench_{tag}_{bench}" for bench in BENCHES}
    url = settings.DATABASE_URL
    try:
        with django_db_blocker.unblock():
            common.create_database(template, url=url)
            with using_database(template):
                common.migrate()
            for name in names.values():
                common.create_database(name, template=template, url=url)
        yield names
    finally:
        for name in [*names.values(), template]:
            common.drop_database(name, url=url)


def seed_osm_import() -> None:
    """What each first import of the bench starts from and does: an empty region, an import."""
    from twin.ingest.osm import import_osm

    osm_import.seed()
    assert osm_import.data_counts() == osm_import.expected_counts()
    import_osm(DEMO, region_name=osm_import.REGION)


def clean_opf() -> None:
    """What a round of the opf bench leaves (its prices, here of 2 intervals), then its clean-up."""
    from markets.services.opf import compute_lmps

    compute_lmps(opf.MARKET, {"name": "bench", "start": opf.START.isoformat(),
                              "grid_price_per_mwh": 60.0}, 2)
    assert opf.data_counts()[opf.tables()[-1]._meta.db_table] == 2 * 179
    opf.clean()


# bench: (seed, clean, expected counts after seeding, after cleaning)
STEPS = {
    "charger_near": (lambda: charger_near.seed(SMALL["charger_near"]), charger_near.clean,
                     lambda: charger_near.expected_counts(SMALL["charger_near"]), None),
    "osm_import": (seed_osm_import, osm_import.clean,
                   lambda: osm_import.expected_counts("liechtenstein"), osm_import.expected_counts),
    "tiles": (lambda: tiles.seed(SMALL["tiles"], pbf=DEMO), tiles.clean,
              lambda: tiles.expected_counts(SMALL["tiles"]), None),
    "opf": (opf.seed, clean_opf, opf.expected_counts, None),
    "routing": (lambda: routing_bench.seed(graph=False), routing_bench.clean,
                lambda: routing_bench.expected_counts(graph=False), None),
    "prices": (prices.seed, prices.clean, prices.expected_counts, None),
    "overlays": (overlays.seed, overlays.clean, overlays.expected_counts, None),
}
MODULES = {"charger_near": charger_near, "osm_import": osm_import, "tiles": tiles, "opf": opf,
           "routing": routing_bench, "prices": prices, "overlays": overlays}


@pytest.mark.skipif(not (SHARED_DATA / "lmp").is_dir() or not charger_near.DEFAULT_PBF.is_file(),
                    reason="needs ../shared/data (CAISO prices, the Liechtenstein extract)")
def test_benches_seed_and_clean_their_own_data_the_same_in_any_order(bench_databases,
                                                                      django_db_blocker):
    counts: dict[str, dict[str, list]] = {b: {"seeded": [], "cleaned": []} for b in BENCHES}
    with django_db_blocker.unblock():
        for order in (BENCHES, BENCHES[::-1]):  # e.g. routing before and after osm_import
            for step, stage in ((0, "seeded"), (1, "cleaned")):
                for bench in order:
                    with using_database(bench_databases[bench]):
                        STEPS[bench][step]()
                        counts[bench][stage].append(MODULES[bench].data_counts())
    for bench, (_, _, seeded, cleaned) in STEPS.items():
        first, second = counts[bench]["seeded"]
        assert first == second, bench
        assert not common.count_problems(first, seeded()), (bench, first)
        first, second = counts[bench]["cleaned"]
        assert first == second, bench
        assert not common.count_problems(first, (cleaned or seeded)()), (bench, first)
    assert counts["tiles"]["seeded"][0]["twin_support"] == 186 * (SMALL["tiles"] + 1)
    assert counts["osm_import"]["cleaned"][0]["twin_substation"] == 0


def test_a_bench_refuses_to_report_on_other_data():
    """The tiles run that measured 46 supports per copy (306,868 in all) is refused."""
    counts = {"twin_line": 100_020, "twin_support": 306_868, "twin_substation": 33_340,
              "twin_charger": 60_012}
    with pytest.raises(SystemExit) as refused:
        common.checked_data("tiles", counts, tiles.expected_counts())
    message = str(refused.value)
    assert message.startswith("tiles: refusing to report")
    assert "twin_support: 306,868 rows, expected 1,240,248" in message
    assert "twin_line" not in message  # the counts that agree are not listed
    assert common.count_problems(tiles.expected_counts(), tiles.DOCUMENTED_MINIMUM) == []
    assert common.count_problems(tiles.expected_counts(10), tiles.DOCUMENTED_MINIMUM) == [
        "twin_support: 2,046 rows, expected at least 1,000,000",
        "twin_line: 165 rows, expected at least 100,000"]
    data = common.checked_data("tiles", tiles.expected_counts(), tiles.expected_counts())
    assert data["database"] == "gridtwin_bench_tiles"
    assert common.database_url(data["database"], "postgis://u:p@db:5432/gridtwin") == \
        "postgis://u:p@db:5432/gridtwin_bench_tiles"
