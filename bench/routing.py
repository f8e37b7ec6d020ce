"""Drone routing on the Liechtenstein demo region: matrix speed, plan quality, end to end.

Three questions, measured side by side in one run in the benchmark's own database,
``gridtwin_bench_routing`` (see README.md and ``bench/common.py``; its flight graph file under
``MEDIA_ROOT/bench/gridtwin_bench_routing/``), where the demo region is imported and the graph
built once. Before measuring and again before reporting the database must hold exactly the
region, its 5 drone ports, flight graph and no-fly zones and no flight plans
(:func:`expected_counts`), or the run refuses.

1. **matrix** — the road/corridor distance matrix of 500 targets: one
   ``scipy.sparse.csgraph.dijkstra`` multi-source run (what planning uses) vs per-pair
   ``osmnx.routing.shortest_path`` calls (networkx Dijkstra per pair) and vs one networkx
   ``single_source_dijkstra_path_length`` per target. The per-pair baseline is timed on a random
   sample of pairs and extrapolated to all 500 × 499 pairs (``extrapolated: true``); the
   single-source baseline on a sample of sources. Goal: csgraph ≥ 20× faster than per-pair.
2. **quality** — 300 targets (the region has only 186 supports: all of them plus the first 114
   span midpoints), 4 drones at 2 ports (2 each), 60 km range (``--range-m``; a long-range
   VTOL inspection drone — with 25 km, a third of the targets are out of reach of any pair of
   ports and most fleets need extra sorties, so the runs compare fleets, not routes): total
   length of the PyVRP plan (``--quality-budget-s``) vs the nearest-neighbour heuristic under
   the same constraints (goal ≥ 15% shorter) and vs PyVRP with 10× the time budget (goal
   within 2%). Every choice of 2 ports among the region's 5 substations is one instance (no
   hand-picked pair); the goals apply to the lengths summed over all instances, and each
   instance is listed.
3. **end_to_end** — 500 targets (supports, spans and road points), graph cached on disk but not
   in memory: ``plan_flights`` from loading the graph to the stored plan. Goal: under 30 s.

Map data © OpenStreetMap contributors, ODbL 1.0. Progress goes to stderr; the result is one JSON
object on stdout, also written to ``bench/results/routing.json``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
if not __package__:  # run as a script: this file is named like the app, keep bench/ off the path
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

BENCH = "routing"
DEMO = REPO_DIR / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
REGION = "liechtenstein"
NO_FLY_ZONES = 9  # imported from the extract with the flight graph


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tables() -> tuple:
    """The models whose tables planning reads and writes."""
    from routing.models import DronePort, FlightGraph, FlightPlan, NoFlyZone
    from twin.models import Line, Region, Road, Substation, Support

    return Region, Substation, Line, Support, Road, NoFlyZone, FlightGraph, DronePort, FlightPlan


def expected_counts(graph: bool = True) -> dict[str, Expected]:
    """The demo region (the grid and roads of the Liechtenstein extract), a drone port at each of
    its 5 substations, its flight graph and no-fly zones (``graph``), and no flight plans."""
    names = [m._meta.db_table for m in tables()]
    counts = [1, 5, 15, 186, 8_248, NO_FLY_ZONES if graph else 0, 1 if graph else 0, 5, 0]
    return dict(zip(names, counts, strict=True))


def data_counts() -> dict[str, int]:
    """Rows per table planning uses."""
    return table_counts(tables())


def seed(graph: bool = True):
    """The demo region imported, its flight graph built (``graph``) and a drone port at each
    substation, all kept between runs; (region, flight graph record or None)."""
    from routing.services.graph import build_flight_graph
    from routing.services.planning import substation_ports
    from twin.ingest.osm import import_osm
    from twin.models import Region

    if not Region.objects.filter(name=REGION, imported_at__isnull=False).exists():
        log("importing the demo region")
        import_osm(DEMO, region_name=REGION)
    region = Region.objects.get(name=REGION)
    record = None
    if graph:
        started = time.monotonic()
        record = build_flight_graph(REGION)
        log(f"flight graph ready in {time.monotonic() - started:.1f} s ({record.node_count} nodes)")
    substation_ports(region)
    clean()
    return region, record


def clean() -> None:
    """What a run leaves beside the seeded data: flight plans (each bench deletes its own)."""
    from routing.models import FlightPlan

    FlightPlan.objects.all().delete()


def bench_matrix(record, n_targets: int, pair_sample: int, source_sample: int, seed: int) -> dict:
    import networkx as nx
    import osmnx as ox

    from routing.services.graph import load_graph
    from routing.services.matrix import distance_matrix, graph_arrays, routing_matrix

    graph = load_graph(record)
    arrays = graph_arrays(graph)
    routing = routing_matrix(arrays)
    rng = np.random.default_rng(seed)
    sources = rng.choice(np.flatnonzero(routing.main), n_targets, replace=False)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        matrix = distance_matrix(routing, sources)
        times.append(time.perf_counter() - t)
    csgraph_s = statistics.median(times)
    # the networkx graph with one (cheapest) edge per pair, as csgraph sees it
    simple = nx.DiGraph()
    for e in range(len(arrays.eu)):
        u, v = arrays.nodes[arrays.eu[e]], arrays.nodes[arrays.ev[e]]
        if not simple.has_edge(u, v) or simple[u][v]["cost"] > arrays.cost[e]:
            simple.add_edge(u, v, cost=float(arrays.cost[e]))
    pairs = [(int(a), int(b)) for a, b in rng.choice(sources, (pair_sample, 2)) if a != b]
    t = time.perf_counter()
    mismatches = 0
    index = {s: k for k, s in enumerate(sources)}
    for a, b in pairs:
        path = ox.routing.shortest_path(graph, arrays.nodes[a], arrays.nodes[b], weight="cost")
        cost = sum(min(d["cost"] for d in graph[u][v].values()) for u, v in itertools.pairwise(path))
        if abs(cost - matrix.cost[index[a], index[b]]) > 1e-6 * max(1.0, cost):
            mismatches += 1
    per_pair_s = (time.perf_counter() - t) / len(pairs)
    t = time.perf_counter()
    for a in sources[:source_sample]:
        nx.single_source_dijkstra_path_length(simple, arrays.nodes[a], weight="cost")
    per_source_s = (time.perf_counter() - t) / source_sample
    all_pairs = n_targets * (n_targets - 1)
    return {
        "targets": n_targets, "graph_nodes": len(arrays.nodes), "graph_edges": len(arrays.eu),
        "csgraph_s_median": round(csgraph_s, 3), "csgraph_runs_s": [round(x, 3) for x in times],
        "osmnx_per_pair": {"sampled_pairs": len(pairs), "ms_per_pair": round(per_pair_s * 1000, 2),
                           "extrapolated": True, "all_pairs": all_pairs,
                           "estimated_s": round(per_pair_s * all_pairs, 1),
                           "cost_mismatches_vs_csgraph": mismatches},
        "networkx_single_source": {"sampled_sources": source_sample,
                                   "s_per_source": round(per_source_s, 4), "extrapolated": True,
                                   "estimated_s": round(per_source_s * n_targets, 2)},
        "speedup_vs_per_pair": round(per_pair_s * all_pairs / csgraph_s, 1),
        "speedup_vs_single_source": round(per_source_s * n_targets / csgraph_s, 1),
        "goal_speedup": 20, "met": per_pair_s * all_pairs / csgraph_s >= 20 and mismatches == 0,
    }


def bench_quality(region, budget_s: float, seed: int, range_m: float) -> dict:
    """PyVRP vs nearest-neighbour (and vs PyVRP with 10× the budget) on 300 targets, 4 drones at
    2 ports, for every choice of 2 ports among the region's substations (no hand-picked pair)."""
    from routing.models import FlightPlan
    from routing.services.planning import DroneSpec, plan_flights, substation_ports
    from routing.services.targets import resolve_targets

    supports = resolve_targets(region, "supports")
    targets = supports + resolve_targets(region, "spans", limit=300 - len(supports))
    drone = DroneSpec(range_m=range_m, service_time_s=30)
    instances, totals = [], {"pyvrp": 0.0, "nearest_neighbour": 0.0, "pyvrp_10x": 0.0}
    for pair in itertools.combinations(substation_ports(region), 2):
        fleet = [(port, 2) for port in pair]
        for port in pair:
            port.capacity = max(port.capacity, 2)
        runs = {}
        for label, options in (("pyvrp", {"time_budget_s": budget_s, "seed": seed}),
                               ("nearest_neighbour", {"solver": "nearest-neighbour"}),
                               ("pyvrp_10x", {"time_budget_s": 10 * budget_s, "seed": seed})):
            plan = plan_flights(region, targets, drone, fleet, options=options,
                                skip_ports_in_zones=True)
            runs[label] = {"total_length_m": round(plan.total_length_m, 1),
                           "flights": plan.flights.count(), "skipped": len(plan.skipped),
                           "extra_flights_needed": plan.extra_flights_needed}
            totals[label] += plan.total_length_m
            FlightPlan.objects.filter(pk=plan.pk).delete()
        pv, nn, long = (runs[k]["total_length_m"] for k in totals)
        instances.append({"ports": [p.name for p in pair], "runs": runs,
                          "pyvrp_shorter_than_nn": round(1 - pv / nn, 4),
                          "pyvrp_gap_to_10x_budget": round(pv / long - 1, 4)})
        log(f"quality: {instances[-1]['ports']}: {instances[-1]['pyvrp_shorter_than_nn']:.1%} "
            "shorter than nearest-neighbour")
    shorter = 1 - totals["pyvrp"] / totals["nearest_neighbour"]
    gap = totals["pyvrp"] / totals["pyvrp_10x"] - 1
    return {"targets": len(targets), "targets_note": "186 supports + 114 span midpoints (the "
            "region has only 186 supports)", "drones": 4, "drones_per_port": 2,
            "range_m": range_m, "time_budget_s": budget_s, "instances": instances,
            "total_length_m": {k: round(v, 1) for k, v in totals.items()},
            "pyvrp_shorter_than_nn": round(shorter, 4),
            "pyvrp_shorter_than_nn_median": round(statistics.median(
                i["pyvrp_shorter_than_nn"] for i in instances), 4),
            "pyvrp_gap_to_10x_budget": round(gap, 4),
            "goals": {"shorter_than_nn": 0.15, "gap_to_10x": 0.02,
                      "over": "the sum of total lengths over all port pairs"},
            "met": shorter >= 0.15 and gap <= 0.02}


def bench_end_to_end(region, record, n_targets: int, budget_s: float, seed: int) -> dict:
    from routing.models import FlightPlan
    from routing.services import graph as graph_module
    from routing.services import matrix as matrix_module
    from routing.services.graph import load_graph
    from routing.services.planning import DroneSpec, distribute_drones, plan_flights, substation_ports
    from routing.services.targets import point_targets, resolve_targets

    targets = resolve_targets(region, "supports") + resolve_targets(region, "spans")
    rng = np.random.default_rng(seed)
    arrays = matrix_module.graph_arrays(load_graph(record))
    road = np.flatnonzero(np.array([k == "road" for k in arrays.kind]))
    picks = rng.choice(road, n_targets - len(targets), replace=False)
    points = [list(arrays.geoms[e].interpolate(0.5, normalized=True).coords[0]) for e in picks]
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(record.crs, "EPSG:4326", always_xy=True)
    targets += point_targets([list(to_wgs.transform(x, y)) for x, y in points])
    fleet = distribute_drones(substation_ports(region), 8, targets)
    for port, n in fleet:
        port.capacity = max(port.capacity, n)
    graph_module._LOADED.clear()  # graph cached on disk, not in this process
    matrix_module._ARRAYS.clear()
    t = time.perf_counter()
    plan = plan_flights(region, targets, DroneSpec(range_m=25_000, service_time_s=30), fleet,
                        options={"time_budget_s": budget_s, "seed": seed},
                        skip_ports_in_zones=True)
    elapsed = time.perf_counter() - t
    result = {"targets": len(targets), "drones": 8, "ports": len(fleet), "time_budget_s": budget_s,
              "seconds": round(elapsed, 2), "flights": plan.flights.count(),
              "skipped": len(plan.skipped), "extra_flights_needed": plan.extra_flights_needed,
              "total_length_m": round(plan.total_length_m, 1), "goal_s": 30, "met": elapsed < 30}
    FlightPlan.objects.filter(pk=plan.pk).delete()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--pair-sample", type=int, default=200)
    parser.add_argument("--source-sample", type=int, default=40)
    parser.add_argument("--budget-s", type=float, default=5.0, help="PyVRP time budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--range-m", type=float, default=60_000,
                        help="drone range for the quality runs (60 km: a long-range VTOL class)")
    parser.add_argument("--quality-budget-s", type=float, default=3.0,
                        help="PyVRP time budget per quality instance (10x for the comparison)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/routing.json")
    args = parser.parse_args()
    database = use_bench_database(BENCH)
    setup_django()
    from django.conf import settings

    settings.ROUTING_GRAPH_DIR = str(Path(settings.MEDIA_ROOT) / "bench" / database / "graphs")
    log(f"migrating {database}")
    migrate()
    region, record = seed()
    checked = checked_data(BENCH, data_counts(), expected_counts(),
                           graph_nodes=record.node_count, graph_edges=record.edge_count)
    log("matrix: csgraph vs osmnx per pair")
    result = {"bench": "routing", "matrix": bench_matrix(record, args.targets, args.pair_sample,
                                                           args.source_sample, args.seed)}
    result["quality"] = bench_quality(region, args.quality_budget_s, args.seed, args.range_m)
    log("end to end")
    result["end_to_end"] = bench_end_to_end(region, record, args.targets, args.budget_s, args.seed)
    clean()
    check_unchanged(BENCH, checked, data_counts())
    write_result(result, args.output, data=checked)


if __name__ == "__main__":
    main()
