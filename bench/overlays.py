"""Benchmark: the interpolated price surface (GeoTIFF) for 407 real nodes and 10,000 synthetic
nodes, against the same surface built without the KD-tree; and the overlay service end to end.

Run with ``make bench`` (or ``DATABASE_URL=postgis://… .venv/bin/python bench/overlays.py``).

1. **surface_407** — :func:`markets.services.surfaces.surface_grid` + :func:`geotiff_bytes` for the
   407 CAISO SF Bay Area nodes (``../shared/data/lmp``) with their real LMPs of one interval, at
   ``--size`` (1024) pixels on the longer side, IDW (k = 8 nearest, cKDTree) and linear
   (Delaunay), ``--rounds`` times each. Goal: median < 1 s.
2. **baseline** — the same IDW surface (same grid, mask, weights and GeoTIFF) with the k
   nearest nodes found by brute force (the full pixel × node distance matrix in pure numpy, in
   chunks, ``argpartition``) instead of the KD-tree, checked to give the same values (max abs
   difference reported), interleaved with ours.
3. **surface_10k** — 10,000 synthetic nodes: the real node locations copied onto a 5 × 5 grid
   of offsets (each copy shifted by the real area's extent, plus a random jitter of up to
   ±300 m per node), prices the real ones plus noise. Ours at ``--size``; the brute-force
   baseline, which would take minutes there, at ``--baseline-size`` (256) beside ours at the
   same size.
4. **service** — on PostGIS (its own database, ``gridtwin_bench_overlays``, see bench/README.md;
   before measuring and again before reporting it must hold exactly the bench market, its 407
   nodes with one price each and no overlay, :func:`expected_counts`, or the run refuses):
   :func:`get_overlay` for a surface that is not cached (the snapshot query, the build, the
   GeoTIFF written to storage and the cache row), and cached (the snapshot query and the
   digest only), and the PNG rendering of the cached GeoTIFF. Skipped with ``--no-db``.

Progress goes to stderr; the result is one JSON object on stdout, also written to
``bench/results/overlays.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

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

BENCH = "overlays"
LMP = Path(__file__).resolve().parents[2] / "shared/data/lmp"
PRICES = LMP / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
NODES = LMP / "caiso_sfbayarea_node_locations.csv"
INTERVAL = "2022-09-01T23:00:00-00:00"  # an evening interval with congestion (wide price spread)
MARKET = "BENCH-OVERLAYS"
GOAL_S = 1.0
NODES_IN_FILE = 407  # CAISO SF Bay Area nodes with a price at INTERVAL


def log(message: str) -> None:
    print(f"[overlays] {message}", file=sys.stderr, flush=True)


def summary_s(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 4), "min_s": round(min(values), 4),
            "max_s": round(max(values), 4), "n": len(values)}


@functools.cache
def real_nodes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Lon/lat, LMP and code of the 407 CAISO nodes at :data:`INTERVAL`."""
    nodes = pd.read_csv(NODES)
    prices = pd.read_csv(PRICES, usecols=["INTERVALSTARTTIME_GMT", "NODE_ID", "XML_DATA_ITEM",
                                          "PRC"])
    prices = prices[(prices["INTERVALSTARTTIME_GMT"] == INTERVAL)
                    & (prices["XML_DATA_ITEM"] == "LMP_PRC")].set_index("NODE_ID")["PRC"]
    nodes = nodes[nodes["node_id"].isin(prices.index)]
    return (nodes[["longitude", "latitude"]].to_numpy(), prices.loc[nodes["node_id"]].to_numpy(),
            nodes["node_id"].tolist())


def synthetic_nodes(lonlat: np.ndarray, lmp: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` nodes: the real locations translated onto a grid of copies, jittered."""
    span = np.ptp(lonlat, axis=0)
    copies = int(np.ceil(np.sqrt(n / len(lonlat))))
    out, values = [], []
    for i in range(copies):
        for j in range(copies):
            out.append(lonlat + span * [i, j])
            values.append(lmp + rng.normal(0, 5, len(lmp)))
    points = np.vstack(out)[:n]
    jitter_deg = 300 / 111_000
    points = points + rng.uniform(-jitter_deg, jitter_deg, points.shape)
    return points, np.concatenate(values)[:n]


def brute_force_idw(points_xy, values, query_xy, *, k=8, power=2.0, chunk=4096) -> np.ndarray:
    """The same IDW with the k nearest nodes found from the full distance matrix (no index)."""
    from markets.services.interpolate import shepard_average

    out = np.empty(len(query_xy))
    for start in range(0, len(query_xy), chunk):
        q = query_xy[start:start + chunk]
        d2 = ((q[:, None, :] - points_xy[None, :, :]) ** 2).sum(axis=2)
        index = np.argpartition(d2, k - 1, axis=1)[:, :k]
        d2k = np.take_along_axis(d2, index, axis=1)
        order = np.argsort(d2k, axis=1)
        index = np.take_along_axis(index, order, axis=1)
        distance = np.sqrt(np.take_along_axis(d2k, order, axis=1))
        out[start:start + chunk] = shepard_average(distance, index, values, power=power)
    return out


def baseline_surface(lonlat, values, size) -> dict:
    """:func:`surface_grid`'s IDW surface with brute-force neighbours: same grid, same
    coverage mask, same GeoTIFF, no KD-tree."""
    import shapely

    from markets.services import surfaces
    from markets.services.interpolate import coverage

    geometry = surfaces.grid_geometry(lonlat, size=size)
    nodes_xy, query_xy = geometry.pop("nodes_xy"), geometry.pop("query_xy")
    hull = coverage(nodes_xy, buffer_m=geometry["buffer_m"])
    shapely.prepare(hull)
    inside = shapely.intersects_xy(hull, query_xy[:, 0], query_xy[:, 1])
    out = np.full(len(query_xy), np.nan)
    out[inside] = brute_force_idw(nodes_xy, values, query_xy[inside])
    geometry["array"] = out.reshape(geometry["height"], geometry["width"]).astype(np.float32)
    surfaces.geotiff_bytes(geometry)
    return geometry


def time_ours(lonlat, values, *, method, size) -> tuple[float, dict]:
    from markets.services import surfaces

    started = time.perf_counter()
    grid = surfaces.surface_grid(lonlat, values, method=method, size=size)
    surfaces.geotiff_bytes(grid)
    return time.perf_counter() - started, grid


def bench_surfaces(args) -> dict:
    lonlat, lmp, _ = real_nodes()
    log(f"{len(lonlat)} real nodes, LMP {lmp.min():.2f}…{lmp.max():.2f} at {INTERVAL}")
    result: dict = {"nodes": len(lonlat), "size": args.size, "interval": INTERVAL}
    ours = {"idw": [], "linear": []}
    baseline = []
    for r in range(args.rounds):
        for method in ("idw", "linear"):
            seconds, grid = time_ours(lonlat, lmp, method=method, size=args.size)
            ours[method].append(seconds)
        if r < args.baseline_rounds:
            started = time.perf_counter()
            reference = baseline_surface(lonlat, lmp, args.size)["array"]
            baseline.append(time.perf_counter() - started)
            if r == 0:
                _, idw_grid = time_ours(lonlat, lmp, method="idw", size=args.size)
                same_mask = bool((np.isnan(reference) == np.isnan(idw_grid["array"])).all())
                diff = float(np.nanmax(np.abs(reference - idw_grid["array"])))
                result["baseline_same_mask"] = same_mask
                result["baseline_max_abs_diff"] = round(diff, 6)
        log(f"round {r + 1}: idw {ours['idw'][-1]:.3f} s, linear {ours['linear'][-1]:.3f} s"
            + (f", brute force {baseline[-1]:.3f} s" if r < args.baseline_rounds else ""))
    megapixels = grid["width"] * grid["height"] / 1e6
    result["grid"] = {"width": grid["width"], "height": grid["height"],
                      "megapixels": round(megapixels, 3),
                      "covered_fraction": round(float(np.isfinite(grid["array"]).mean()), 4)}
    result["idw"] = summary_s(ours["idw"])
    result["linear"] = summary_s(ours["linear"])
    # Per 1024 × 1024 pixels, for areas whose grid is not square (pixels are square).
    result["idw_median_s_per_1024x1024"] = round(
        statistics.median(ours["idw"]) * 1.048576 / megapixels, 4)
    result["linear_median_s_per_1024x1024"] = round(
        statistics.median(ours["linear"]) * 1.048576 / megapixels, 4)
    result["baseline_bruteforce_idw"] = summary_s(baseline)
    result["ratio_baseline_vs_idw"] = round(statistics.median(baseline)
                                            / statistics.median(ours["idw"]), 2)
    result["goal_s"] = GOAL_S
    result["met"] = max(result["idw_median_s_per_1024x1024"],
                        result["linear_median_s_per_1024x1024"]) < GOAL_S
    return result


def bench_synthetic(args) -> dict:
    rng = np.random.default_rng(args.seed)
    lonlat, lmp, _ = real_nodes()
    points, values = synthetic_nodes(lonlat, lmp, args.synthetic, rng)
    log(f"{len(points)} synthetic nodes over {np.ptp(points[:, 0]):.2f}° × "
        f"{np.ptp(points[:, 1]):.2f}°")
    result: dict = {"nodes": len(points), "size": args.size}
    for method in ("idw", "linear"):
        times = []
        for _ in range(args.rounds):
            seconds, grid = time_ours(points, values, method=method, size=args.size)
            times.append(seconds)
        result[method] = summary_s(times)
        log(f"10k {method}: median {result[method]['median_s']:.3f} s")
    result["grid"] = {"width": grid["width"], "height": grid["height"]}
    small = {"size": args.baseline_size}
    ours_small, base_small = [], []
    for _ in range(max(1, args.baseline_rounds)):
        ours_small.append(time_ours(points, values, method="idw", size=args.baseline_size)[0])
        started = time.perf_counter()
        baseline_surface(points, values, args.baseline_size)
        base_small.append(time.perf_counter() - started)
    small["idw"] = summary_s(ours_small)
    small["baseline_bruteforce_idw"] = summary_s(base_small)
    small["ratio_baseline_vs_idw"] = round(statistics.median(base_small)
                                           / statistics.median(ours_small), 2)
    result["at_baseline_size"] = small
    log(f"10k at {args.baseline_size}px: ours {small['idw']['median_s']:.3f} s, brute force "
        f"{small['baseline_bruteforce_idw']['median_s']:.3f} s")
    return result


def tables() -> tuple:
    """The models whose tables the overlay service reads and writes."""
    from markets.models import Market, NodalPrice, PriceOverlay, PricingNode

    return Market, PricingNode, NodalPrice, PriceOverlay


def expected_counts() -> dict[str, Expected]:
    """The bench market, its 407 nodes with one price each (the file's, at :data:`INTERVAL`),
    and no overlay: each round builds its own."""
    market, node, price, overlay = (m._meta.db_table for m in tables())
    return {market: 1, node: NODES_IN_FILE, price: NODES_IN_FILE, overlay: 0}


def data_counts() -> dict[str, int]:
    """Rows per table the service uses."""
    return table_counts(tables())


def seed() -> None:
    """The bench market with the real nodes and their prices at :data:`INTERVAL` (kept when
    there), and no overlays."""
    from django.contrib.gis.geos import Point

    from markets.models import Market, PricingNode
    from markets.services.storage import store_prices

    lonlat, lmp, codes = real_nodes()
    start = pd.Timestamp(INTERVAL).to_pydatetime()
    market, _ = Market.objects.get_or_create(name=MARKET, defaults={"currency": "USD",
                                                                     "interval_min": 15})
    if PricingNode.objects.filter(market=market).count() != len(codes):
        PricingNode.objects.filter(market=market).delete()
        PricingNode.objects.bulk_create([
            PricingNode(market=market, code=code, location=Point(*xy, srid=4326))
            for code, xy in zip(codes, lonlat, strict=True)])
    ids = dict(PricingNode.objects.filter(market=market).values_list("code", "id"))
    store_prices([{"node_id": ids[c], "run": "real-time", "interval_start": start,
                   "interval_end": start + timedelta(minutes=15), "lmp_per_mwh": float(p)}
                  for c, p in zip(codes, lmp, strict=True)], source="bench-overlays")
    clean()


def clean() -> None:
    """What a run leaves beside the seeded data: overlays (each round deletes its own)."""
    from markets.models import PriceOverlay

    PriceOverlay.objects.filter(market__name=MARKET).delete()


def bench_service(args) -> dict:
    from django.test import override_settings

    from markets.models import Market, NodalPrice, PriceOverlay
    from markets.services import overlays

    start = pd.Timestamp(INTERVAL).to_pydatetime()
    market = Market.objects.get(name=MARKET)
    at = start + timedelta(minutes=5)
    result: dict = {"nodes": NodalPrice.objects.filter(node__market=market).count()}
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
        build, cached, png = [], [], []
        for _ in range(args.rounds):
            PriceOverlay.objects.filter(market=market).delete()
            started = time.perf_counter()
            overlay, built = overlays.get_overlay(market, "real-time", at, kind="surface",
                                                  size=args.size)
            build.append(time.perf_counter() - started)
            assert built
            started = time.perf_counter()
            _, built = overlays.get_overlay(market, "real-time", at, kind="surface",
                                            size=args.size)
            cached.append(time.perf_counter() - started)
            assert not built
            started = time.perf_counter()
            overlays.overlay_png(overlay)
            png.append(time.perf_counter() - started)
        PriceOverlay.objects.filter(market=market).delete()
    result["uncached_build"] = summary_s(build)
    result["cached_lookup"] = summary_s(cached)
    result["png_render"] = summary_s(png)
    log(f"service: build {result['uncached_build']['median_s']:.3f} s, cached "
        f"{result['cached_lookup']['median_s'] * 1000:.1f} ms, png {result['png_render']['median_s']:.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="pixels, longer side (1024)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--baseline-rounds", type=int, default=2,
                        help="rounds of the brute-force baseline (2)")
    parser.add_argument("--synthetic", type=int, default=10_000, help="synthetic nodes (10000)")
    parser.add_argument("--baseline-size", type=int, default=256,
                        help="grid size of the 10k-node baseline comparison (256)")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--no-db", action="store_true", help="skip the PostGIS service part")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/overlays.json")
    args = parser.parse_args()
    if not PRICES.exists():
        sys.exit(f"overlays: CAISO prices not found: {PRICES}")
    if not args.no_db:
        database = use_bench_database(BENCH)
    setup_django()
    # The surfaces are made from the file's nodes (the 10k from copies of them): checked too.
    inputs = {"nodes_in_file": len(real_nodes()[0])}
    counts, expected = inputs, {"nodes_in_file": NODES_IN_FILE}
    if not args.no_db:
        log(f"migrating {database}")
        migrate()
        seed()
        counts, expected = {**inputs, **data_counts()}, {**expected, **expected_counts()}
    checked = checked_data(BENCH, counts, expected, synthetic_nodes=args.synthetic)
    if args.no_db:
        checked["database"] = None
    result = {"benchmark": "overlays", "load_average_start": [round(v, 2) for v in os.getloadavg()],
              "surface_407": bench_surfaces(args), "surface_10k": bench_synthetic(args)}
    if not args.no_db:
        result["service"] = bench_service(args)
        clean()
        check_unchanged(BENCH, checked, {**inputs, **data_counts()})
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    write_result(result, args.output, data=checked)


if __name__ == "__main__":
    main()
