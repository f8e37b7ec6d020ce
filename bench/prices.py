"""Benchmark: loading the CAISO LMP file, and the two price queries the map makes.

Run with ``make bench`` (or ``DATABASE_URL=postgis://… .venv/bin/python bench/prices.py``).

1. **load** — ``import_prices caiso-oasis`` of the real CAISO OASIS file (781,440 lines →
   156,288 prices of 407 nodes × 384 intervals, ``../shared/data/lmp``) into an empty price
   table, and a re-import (nothing changes), against ``pandas.read_csv`` of the same file alone
   (all columns, default options), interleaved over ``--rounds``. Goal: first import ≤ 3× the
   read.
2. **queries** — over ``--samples`` random instants / nodes, interleaved: "all nodes at t"
   (:func:`prices_at` materialised, and ``GET /api/v1/prices/nodes/`` through the full DRF stack)
   and "one node over 4 days" (:func:`node_series` and ``GET /api/v1/prices/series/``), beside
   the hand-written SQL for the same rows. Goal: median < 50 ms each on PostGIS.

Works in its own database, ``gridtwin_bench_prices`` (see bench/README.md and
``bench/common.py``); the CAISO market's prices are deleted and the table vacuumed before each
first import. Before the load the database must hold the market, its 407 nodes and no prices,
and while the queries run those nodes and the file's 156,288 prices (:func:`expected_counts`),
or the run refuses; the run deletes its prices at the end. Progress goes to stderr; the result
is one JSON object on stdout, also written to ``bench/results/prices.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
if not __package__:  # run as a script: import from the repository (bench/routing.py is no app)
    sys.path[:] = [str(REPO_DIR), *(p for p in sys.path if Path(p).resolve() != BENCH_DIR)]
from bench.common import (  # noqa: E402
    Expected,
    check_unchanged,
    checked_data,
    migrate,
    setup_django,
    table_counts,
    use_bench_database,
    write_result,
)

BENCH = "prices"
LMP = Path(__file__).resolve().parents[2] / "shared/data/lmp"
PRICES = LMP / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
NODES = LMP / "caiso_sfbayarea_node_locations.csv"
PRICES_IN_FILE = 156_288  # 407 nodes × 384 intervals
LOAD_GOAL = 3.0
QUERY_GOAL_MS = 50.0


def log(message: str) -> None:
    print(f"[prices] {message}", file=sys.stderr, flush=True)


def tables() -> tuple:
    """The models whose tables the import fills and the queries read."""
    from markets.models import Market, NodalPrice, PricingNode

    return Market, PricingNode, NodalPrice


def expected_counts(loaded: bool = False) -> dict[str, Expected]:
    """The CAISO market and its 407 nodes; no prices before the load (each round imports them
    into an empty table), all 156,288 of the file once ``loaded`` (what the queries read)."""
    market, node, price = (m._meta.db_table for m in tables())
    return {market: 1, node: 407, price: PRICES_IN_FILE if loaded else 0}


def data_counts() -> dict[str, int]:
    """Rows per table the benchmark uses."""
    return table_counts(tables())


def seed() -> None:
    """The CAISO market and its nodes (``import_nodes``, which keeps them when unchanged), and
    no prices."""
    from markets.services.nodes import import_nodes

    import_nodes(NODES, market_name="CAISO", currency="USD", time_zone="America/Los_Angeles",
                 interval_min=15, carbon_zone="CISO")
    clean()


def clean() -> None:
    """What a run leaves beside the seeded data: the prices it loaded."""
    from django.db import connection

    from markets.models import NodalPrice

    NodalPrice.objects.filter(node__market__name="CAISO").delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {NodalPrice._meta.db_table}")


def summary_ms(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
            "n": len(ordered)}


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_load(rounds: int) -> dict:
    import pandas as pd
    from django.db import connection

    from markets.models import Market, NodalPrice
    from markets.services.prices import import_prices

    market = Market.objects.get(name="CAISO")
    read, first, again = [], [], []
    for i in range(rounds):
        NodalPrice.objects.filter(node__market=market).delete()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE markets_nodalprice")
        steps = [("read", lambda: pd.read_csv(PRICES)),
                 ("first", lambda: import_prices("caiso-oasis", PRICES, market_name="CAISO"))]
        for name, fn in (steps if i % 2 == 0 else steps[::-1]):
            seconds, result = timed(fn)
            (read if name == "read" else first).append(seconds)
            if name == "first":
                assert result["counts"]["price"]["created"] == 156_288, result["counts"]
        seconds, result = timed(lambda: import_prices("caiso-oasis", PRICES, market_name="CAISO"))
        assert result["counts"]["price"]["unchanged"] == 156_288, result["counts"]
        again.append(seconds)
        log(f"round {i + 1}: read_csv {read[-1]:.2f} s, import {first[-1]:.2f} s, "
            f"re-import {again[-1]:.2f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE markets_nodalprice")
    baseline = statistics.median(read)
    ratio = statistics.median(first) / baseline
    return {
        "rows_in_file": 781_440, "prices": 156_288,
        "pandas_read_csv_s": round(baseline, 3),
        "import_first_s": round(statistics.median(first), 3),
        "reimport_s": round(statistics.median(again), 3),
        "ratio_first": round(ratio, 2),
        "ratio_reimport": round(statistics.median(again) / baseline, 2),
        "goal_ratio": LOAD_GOAL, "met": ratio <= LOAD_GOAL, "rounds": rounds,
    }


RAW_AT = """SELECT n.id, n.code, ST_X(n.location), ST_Y(n.location), p.lmp_per_mwh,
    p.energy_per_mwh, p.congestion_per_mwh, p.loss_per_mwh, p.ghg_per_mwh, p.interval_start,
    p.interval_end FROM markets_nodalprice p JOIN markets_pricingnode n ON n.id = p.node_id
    WHERE n.market_id = %s AND p.run = 'real-time' AND p.is_current AND p.interval_start = %s
    AND n.location IS NOT NULL ORDER BY n.code"""
RAW_SERIES = """SELECT interval_start, interval_end, lmp_per_mwh, energy_per_mwh,
    congestion_per_mwh, loss_per_mwh, ghg_per_mwh FROM markets_nodalprice WHERE node_id = %s
    AND run = 'real-time' AND is_current AND interval_start >= %s AND interval_start < %s
    ORDER BY interval_start"""


def sample_runs(market, client, raw, *, at, start, node, s0, s1) -> list[tuple[str, object]]:
    """The six timed calls of one sample (same instant, node and range for each)."""
    from markets.services.queries import node_series, prices_at

    return [
        ("at_service", lambda: list(prices_at(market, "real-time", at))),
        ("at_api", lambda: client.get("/api/v1/prices/nodes/", {
            "market": "CAISO", "run": "real-time", "at": at.isoformat()})),
        ("at_raw_sql", lambda: raw(RAW_AT, [market.pk, start])),
        ("series_service", lambda: node_series(node, "real-time", s0, s1)),
        ("series_api", lambda: client.get("/api/v1/prices/series/", {
            "node": node.pk, "run": "real-time", "start": s0.isoformat(),
            "end": s1.isoformat()})),
        ("series_raw_sql", lambda: raw(RAW_SERIES, [node.pk, s0, s1])),
    ]


def bench_queries(samples: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.test import APIClient

    from markets.models import Market
    from markets.services.queries import intervals

    market = Market.objects.get(name="CAISO")
    user, _ = User.objects.get_or_create(username="bench-prices")
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user)
    starts = intervals(market, "real-time")
    node_ids = list(market.nodes.values_list("id", flat=True))
    nodes = {n.pk: n for n in market.nodes.all()}
    rng = random.Random(7)
    times: dict[str, list[float]] = {k: [] for k in (
        "at_service", "at_api", "at_raw_sql", "series_service", "series_api", "series_raw_sql")}

    def raw(sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    for i in range(samples):
        start = rng.choice(starts)
        at = start + timedelta(minutes=rng.randrange(15))
        node = nodes[rng.choice(node_ids)]
        s0 = rng.choice(starts[: len(starts) - 4 * 96 + 1])  # the file holds exactly 4 days
        s1 = s0 + timedelta(days=4)
        runs = sample_runs(market, client, raw, at=at, start=start, node=node, s0=s0, s1=s1)
        if i % 2:
            runs.reverse()
        results = {}
        for name, fn in runs:
            seconds, results[name] = timed(fn)
            times[name].append(seconds)
        assert len(results["at_service"]) == len(results["at_raw_sql"]) == 407
        assert results["at_api"].status_code == 200
        assert len(results["at_api"].json()["features"]) == 407
        assert len(results["series_service"]) == len(results["series_raw_sql"]) == 4 * 96
        assert results["series_api"].status_code == 200
    out = {name: summary_ms(values) for name, values in times.items()}
    worst = max(out[k]["median_ms"] for k in ("at_service", "at_api", "series_service",
                                              "series_api"))
    out.update(goal_median_ms=QUERY_GOAL_MS, met=worst < QUERY_GOAL_MS,
               ratio_at_api_vs_sql=round(out["at_api"]["median_ms"]
                                         / out["at_raw_sql"]["median_ms"], 1),
               ratio_series_api_vs_sql=round(out["series_api"]["median_ms"]
                                             / out["series_raw_sql"]["median_ms"], 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="load rounds (default 3)")
    parser.add_argument("--samples", type=int, default=60, help="query samples (default 60)")
    args = parser.parse_args()
    if not PRICES.is_file():
        sys.exit(f"prices: {PRICES} not found (needs ../shared/data)")
    database = use_bench_database(BENCH)
    setup_django()
    log(f"migrating {database}")
    migrate()
    seed()
    checked = checked_data(BENCH, data_counts(), expected_counts())
    log("loading the CAISO file")
    load = bench_load(args.rounds)
    queried = checked_data(BENCH, data_counts(), expected_counts(loaded=True))
    log("timing the queries")
    queries = bench_queries(args.samples)
    check_unchanged(BENCH, queried, data_counts())
    clean()
    check_unchanged(BENCH, checked, data_counts())
    result = {"bench": "prices", "load": load, "queries": queries,
              "met": load["met"] and queries["met"]}
    write_result(result, BENCH_DIR / "results" / "prices.json",
                 data={**checked, "counts_queried": queried["counts"],
                       "expected_queried": queried["expected"]})


if __name__ == "__main__":
    main()
