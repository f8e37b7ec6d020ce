"""Benchmark: LMPs computed from the twin (``compute_lmps``) against pandapower's ``rundcopp`` alone.

Run with ``make bench`` (or ``DATABASE_URL=postgis://… .venv/bin/python bench/opf.py``).

* Works in its own database, ``gridtwin_bench_opf`` on the server of ``DATABASE_URL`` (see
  ``bench/common.py``); imports pandapower's ``mv_oberrhein`` (179 buses, 181 lines) into the
  twin when it is not there, and checks the twin holds exactly that and no prices
  (:func:`expected_counts`) before measuring and, the run's prices deleted, before reporting.
* Profiles from real series: the grid price follows the mean CAISO RTPD LMP by local hour of the
  September 2022 file, the load the EIA-930 CISO net generation by local hour of September 2022
  (both from ``../shared/data``; flat when missing, said in ``notes``).
* Times, interleaved, ``--rounds`` times each, for ``--intervals`` hourly intervals:
  **pipeline** — ``compute_lmps`` as the CLI and job run it: reading the twin, building the
  network, a DC OPF per interval, and storing every node's price (``store_prices``, COPY upsert;
  the run's earlier prices are deleted before the clock starts so every round writes them all);
  **rundcopp** — the bare loop on the *same* pandapower net and profiles: set the loads and the
  supply cost, ``pp.rundcopp``, copy ``res_bus.lam_p``. Both must give the same prices.

Progress goes to stderr; the result is one JSON object on stdout, also written to
``bench/results/opf.json``. Goal: pipeline ≤ 1.5× rundcopp alone (median).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SHARED = BENCH_DIR.parents[1] / "shared" / "data"
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

BENCH = "opf"
GOAL_RATIO = 1.5
MARKET = "mv_oberrhein"
START = datetime(2022, 9, 1, 7, tzinfo=UTC)  # local midnight in California


def log(message: str) -> None:
    print(f"[opf] {message}", file=sys.stderr, flush=True)


def tables() -> tuple:
    """The models whose tables the pipeline reads and writes."""
    from markets.models import Market, NodalPrice, PricingNode
    from twin.models import Line, Region, Substation

    return Region, Substation, Line, Market, PricingNode, NodalPrice


def expected_counts() -> dict[str, Expected]:
    """pandapower's ``mv_oberrhein`` in the twin (one region: 179 buses as substations, 181
    lines; one market: 179 pricing nodes) and no prices: each round stores its own."""
    region, substation, line, market, node, price = (m._meta.db_table for m in tables())
    return {region: 1, substation: 179, line: 181, market: 1, node: 179, price: 0}


def data_counts() -> dict[str, int]:
    """Rows per table the pipeline uses."""
    return table_counts(tables())


def seed() -> None:
    """``mv_oberrhein`` imported into the twin when it is not there; no prices."""
    from markets.models import PricingNode
    from twin.ingest.pandapower import import_pandapower

    if not PricingNode.objects.filter(market__name=MARKET).exists():
        log("importing mv_oberrhein into the twin")
        import_pandapower(MARKET)
    clean()


def clean() -> None:
    """What a run leaves beside the seeded data: the prices of its last round."""
    from markets.models import NodalPrice

    NodalPrice.objects.filter(node__market__name=MARKET).delete()


def real_shapes(notes: list[str]) -> tuple[list[float] | str, list[float] | str]:
    """(price shape, load shape): 24 hourly factors in California local time, or "flat"."""
    import pandas as pd

    price, load = "flat", "flat"
    lmp = SHARED / "lmp" / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
    if lmp.exists():
        frame = pd.read_csv(lmp, usecols=["INTERVALSTARTTIME_GMT", "LMP_TYPE", "PRC"])
        frame = frame[frame.LMP_TYPE == "LMP"]
        hours = pd.to_datetime(frame.INTERVALSTARTTIME_GMT, utc=True).dt.tz_convert(
            "America/Los_Angeles").dt.hour
        means = frame.groupby(hours).PRC.mean()
        price = list((means / means.mean()).round(6))
    else:
        notes.append(f"{lmp.name} missing: flat price")
    eia = SHARED / "carbon" / "eia930_CISO_2022_hourly_genmix_avgCI.csv"
    if eia.exists():
        frame = pd.read_csv(eia)
        local = pd.to_datetime(frame.timestamp, utc=True).dt.tz_convert("America/Los_Angeles")
        total = frame[["WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH"]].sum(axis=1)
        september = total[local.dt.month == 9].groupby(local[local.dt.month == 9].dt.hour).mean()
        load = list((september / september.max()).round(6))
    else:
        notes.append(f"{eia.name} missing: flat load")
    return price, load


def bare_loop(net, intervals: int, load_factor: np.ndarray, price: np.ndarray, supply_cost) -> tuple:
    """pandapower alone: per interval set loads and costs, run the DC OPF, keep the LMPs."""
    import pandapower as pp

    peak = net.load["p_mw"].to_numpy().copy()
    out = []
    started = time.perf_counter()
    for i in range(intervals):
        net.load["p_mw"] = peak * load_factor[i]
        net.poly_cost.loc[supply_cost, "cp1_eur_per_mw"] = price[i]
        pp.rundcopp(net, numba=False, verbose=False)
        out.append(net.res_bus["lam_p"].to_numpy().copy())
    elapsed = time.perf_counter() - started
    net.load["p_mw"] = peak
    return elapsed, np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intervals", type=int, default=96, help="hourly intervals (96)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per method (5)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/opf.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    database = use_bench_database(BENCH)
    setup_django()
    from markets.models import NodalPrice
    from markets.services.opf import build_network, compute_lmps

    log(f"migrating {database}")
    migrate()
    seed()
    checked = checked_data(BENCH, data_counts(), expected_counts())
    notes: list[str] = []
    price_shape, load_shape = real_shapes(notes)
    scenario = {"name": "bench", "start": START.isoformat(), "grid_price_per_mwh": 60.0,
                "price_shape": price_shape, "load_shape": load_shape}
    # The market keeps UTC: turn the California-local shapes (PDT = UTC−7) into UTC-hour ones.
    if price_shape != "flat":
        price_shape = [price_shape[(h - 7) % 24] for h in range(24)]
    if load_shape != "flat":
        load_shape = [load_shape[(h - 7) % 24] for h in range(24)]
    scenario.update(price_shape=price_shape, load_shape=load_shape)
    hours = np.array([(START.hour + i) % 24 for i in range(args.intervals)])  # UTC hour
    load_factor = np.ones(args.intervals) if load_shape == "flat" else np.asarray(load_shape)[hours]
    price = 60.0 * (np.ones(args.intervals) if price_shape == "flat" else np.asarray(price_shape)[hours])
    twin = build_network(MARKET, scenario)
    net = twin.net
    supply = set(twin.supply)
    supply_cost = net.poly_cost.index[[(et, el) in supply for et, el in zip(
        net.poly_cost.et, net.poly_cost.element, strict=True)]]
    stored = NodalPrice.objects.filter(node__market__name=MARKET, run="computed")

    log("warming up")
    bare_loop(net, 3, load_factor, price, supply_cost)
    compute_lmps(MARKET, {**scenario}, 3)
    times = {"pipeline": [], "rundcopp": []}
    summaries = []
    lmps = None
    for r in range(args.rounds):
        order = ["pipeline", "rundcopp"] if r % 2 == 0 else ["rundcopp", "pipeline"]
        for method in order:
            if method == "pipeline":
                stored.delete()
                started = time.perf_counter()
                summary = compute_lmps(MARKET, scenario, args.intervals)
                times["pipeline"].append(time.perf_counter() - started)
                summaries.append(summary)
            else:
                elapsed, lmps = bare_loop(net, args.intervals, load_factor, price, supply_cost)
                times["rundcopp"].append(elapsed)
        log(f"round {r + 1}: pipeline {times['pipeline'][-1]:.2f} s, "
            f"rundcopp {times['rundcopp'][-1]:.2f} s")
    # Same prices: the stored ones against the bare loop's.
    by_bus = {name: i for i, name in enumerate(net.bus["name"])}
    diff = 0.0
    rows = stored.values_list("node__code", "interval_start", "lmp_per_mwh")
    for code, start, lmp in rows:
        k = int((start - START).total_seconds() // 3600)
        diff = max(diff, abs(lmp - lmps[k][by_bus[code]]))
    median = {k: statistics.median(v) for k, v in times.items()}
    last = summaries[-1]
    ratio = median["pipeline"] / median["rundcopp"]
    result = {
        "benchmark": "opf",
        "network": {"name": MARKET, **{k: last["network"][k] for k in (
            "buses", "lines", "trafos_derived", "loads", "supply_points")}},
        "intervals": args.intervals, "rounds": args.rounds,
        "prices_stored_per_round": last["stored"]["created"],
        "median_s": {k: round(v, 3) for k, v in median.items()},
        "min_s": {k: round(min(v), 3) for k, v in times.items()},
        "ms_per_interval": {k: round(1000 * v / args.intervals, 2) for k, v in median.items()},
        "pipeline_breakdown_s_median": {
            part: round(statistics.median(s["seconds"][part] for s in summaries), 3)
            for part in ("solve", "store", "total")},
        "ratio_median": round(ratio, 3),
        "max_abs_price_difference": diff,
        "lmp_per_mwh": last["lmp_per_mwh"],
        "goal": f"pipeline (read twin, build net, DC OPF per interval, store) ≤ {GOAL_RATIO:g}× "
                "pandapower rundcopp alone on the same net and profiles (median)",
        "met": ratio <= GOAL_RATIO and diff < 1e-4 and last["intervals"]["solved"] == args.intervals,
        "notes": notes,
    }
    clean()
    check_unchanged(BENCH, checked, data_counts())
    write_result(result, args.output, data=checked)


if __name__ == "__main__":
    main()
