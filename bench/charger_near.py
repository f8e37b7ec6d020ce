"""Benchmark: ``GET /api/v1/chargers/?near=…&radius_m=…`` against the same query in raw SQL.

Run with ``make bench`` (or ``DATABASE_URL=postgis://… .venv/bin/python bench/charger_near.py``).

* Works in its own database, ``gridtwin_bench_charger_near`` on the server of ``DATABASE_URL``
  (created, with PostGIS, when missing; migrated on every run; see ``bench/common.py``).
* Seeds ``--n`` synthetic chargers (1–4 EVSEs, one connector each) on points interpolated along
  the real roads of the Liechtenstein OSM extract (© OpenStreetMap contributors, ODbL). Seeding
  is skipped when the database already holds exactly ``--n`` chargers with ``source='bench'``.
  Before measuring and again before reporting, the tables must hold exactly ``--n`` chargers
  and ``--n``–4×``--n`` EVSEs and connectors (:func:`expected_counts`), or the run refuses.
* Times, interleaved, over random query centres on the same roads: (a) the API endpoint in
  process through the full Django/DRF stack (filter, pagination COUNT, prefetches, GeoJSON
  serialisation, rendering) and (b) a hand-written SQL query returning the same page (envelope
  ``&&`` prefilter, ``ST_DistanceSphere`` ≤ R, nearest first, EVSEs and connectors as
  ``json_agg``, total count as a window). Both must return the same ids in the same order.

Progress goes to stderr; the result is one JSON object on stdout, also written to
``bench/results/charger_near.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

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

BENCH = "charger_near"
DEFAULT_PBF = (Path(__file__).resolve().parents[2]
               / "shared/data/osm/liechtenstein-2024-03-04.osm.pbf")
DEFAULT_N = 100_000
DEFAULT_SEED = 20261128
SOURCE = "bench"
PAGE_SIZE = 100
GOAL_RATIO = 2.0

# Roads a charger plausibly stands next to (no footways, tracks, paths, steps, cycleways).
ROAD_CLASSES = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service",
}
CITIES = [
    ("Vaduz", "9490"), ("Schaan", "9494"), ("Triesen", "9495"), ("Balzers", "9496"),
    ("Triesenberg", "9497"), ("Planken", "9498"), ("Eschen", "9492"), ("Mauren", "9493"),
    ("Gamprin", "9487"), ("Ruggell", "9491"), ("Schellenberg", "9488"),
]
STREETS = ["Landstrasse", "Feldkircherstrasse", "Zollstrasse", "Austrasse", "Kirchstrasse",
           "Industriestrasse", "Bahnhofstrasse", "Essanestrasse", "Poststrasse", "Im Rietacker"]
OPERATORS = [  # (operator, network, weight)
    ("LKW Liechtensteinische Kraftwerke", "LKW eMobility", 0.35),
    ("Tesla", "Tesla Supercharger", 0.08),
    ("IONITY GmbH", "IONITY", 0.07),
    ("Swisscharge", "Swisscharge", 0.2),
    ("evpass", "evpass", 0.15),
    ("Gemeinde", "", 0.15),
]
STATUSES = (["available", "charging", "blocked", "out_of_order", "planned", "unknown"],
            [0.55, 0.2, 0.03, 0.04, 0.03, 0.15])
ACCESS = (["public", "customers", "private", "unknown"], [0.7, 0.15, 0.05, 0.1])
OPENING_HOURS = ["24/7", "Mo-Fr 07:00-19:00; Sa 08:00-17:00", "Mo-Su 06:00-22:00", ""]


def log(message: str) -> None:
    print(f"[charger_near] {message}", file=sys.stderr, flush=True)


# --- the data it measures ---------------------------------------------------------------------
def expected_counts(n: int = DEFAULT_N) -> dict[str, Expected]:
    """The rows this benchmark measures: exactly ``n`` chargers, 1–4 EVSEs each, one connector
    per EVSE (and nothing else in those tables)."""
    return {"twin_charger": n, "twin_evse": (n, 4 * n), "twin_connector": (n, 4 * n)}


def data_counts() -> dict[str, int]:
    """Rows per table the benchmark reads."""
    return table_counts(("twin_charger", "twin_evse", "twin_connector"))


# --- roads and synthetic chargers -------------------------------------------------------------
def read_roads(pbf: Path):
    """Road ways of the extract as shapely LineStrings (lon/lat), with a length in metres each."""
    import osmium
    import shapely

    lines, lat_sum, n_nodes = [], 0.0, 0
    processor = (osmium.FileProcessor(str(pbf)).with_locations()
                 .with_filter(osmium.filter.KeyFilter("highway")))
    for obj in processor:
        if not obj.is_way() or obj.tags.get("highway") not in ROAD_CLASSES:
            continue
        coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
        if len(coords) >= 2:
            lines.append(coords)
            lat_sum += sum(c[1] for c in coords)
            n_nodes += len(coords)
    if not lines:
        sys.exit(f"charger_near: no road ways found in {pbf}")
    # Equirectangular metres around the mean latitude: good to ~0.1 % over a small country.
    lat0 = lat_sum / n_nodes
    kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 110_574.0
    coords = np.concatenate([np.asarray(c) for c in lines])
    index = np.repeat(np.arange(len(lines)), [len(c) for c in lines])
    geoms = shapely.linestrings(coords, indices=index)
    metric = shapely.linestrings(coords * (kx, ky), indices=index)
    return geoms, shapely.length(metric)


def points_on_roads(geoms, lengths_m, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` (lon, lat) points uniformly distributed along the road network's length."""
    import shapely

    ways = rng.choice(len(geoms), size=count, p=lengths_m / lengths_m.sum())
    points = shapely.line_interpolate_point(geoms[ways], rng.random(count), normalized=True)
    return shapely.get_coordinates(points)


def connector_spec(rng: np.random.Generator, dc_site: bool) -> dict:
    if dc_site and rng.random() < 0.9:
        power = float(rng.choice([50, 75, 150, 150, 300, 350]))
        voltage = float(rng.choice([500, 800, 920] if power >= 150 else [400, 500]))
        standard = "CHADEMO" if power == 50 and rng.random() < 0.3 else "IEC_62196_T2_COMBO"
        return {"standard": standard, "power_type": "DC", "power_kw": power,
                "voltage_v": voltage, "current_a": round(power * 1000 / voltage, 1)}
    power = float(rng.choice([11.0, 22.0], p=[0.6, 0.4]))
    return {"standard": "IEC_62196_T2", "power_type": "AC_3_PHASE", "power_kw": power,
            "voltage_v": 400.0, "current_a": 16.0 if power == 11.0 else 32.0}


def seed_chargers(n: int, coords: np.ndarray, rng: np.random.Generator, batch: int = 5000) -> None:
    from django.contrib.gis.geos import Point
    from django.db import transaction

    from twin.models import EVSE, Charger, Connector

    op_names = [o[0] for o in OPERATORS]
    op_weights = np.array([o[2] for o in OPERATORS])
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        size = stop - start
        ops = rng.choice(len(OPERATORS), size=size, p=op_weights / op_weights.sum())
        cities = rng.integers(len(CITIES), size=size)
        statuses = rng.choice(STATUSES[0], size=size, p=STATUSES[1])
        access = rng.choice(ACCESS[0], size=size, p=ACCESS[1])
        n_evses = rng.choice([1, 2, 3, 4], size=size, p=[0.3, 0.45, 0.1, 0.15])
        chargers = []
        for k, i in enumerate(range(start, stop)):
            city, postcode = CITIES[cities[k]]
            operator, network, _ = OPERATORS[ops[k]]
            if operator == "Gemeinde":
                operator = f"Gemeinde {city}"
            chargers.append(Charger(
                name=f"{network or operator} {city} {i + 1}",
                operator=operator,
                ref=f"LI*BEN*{i + 1:06d}",
                source=SOURCE,
                source_id=f"bench:{i + 1}",
                location=Point(float(coords[i, 0]), float(coords[i, 1]), srid=4326),
                network=network,
                address=f"{STREETS[int(rng.integers(len(STREETS)))]} {int(rng.integers(1, 200))}",
                city=city,
                postal_code=postcode,
                country_code="LI",
                access=str(access[k]),
                status=str(statuses[k]),
                opening_hours=OPENING_HOURS[int(rng.integers(len(OPENING_HOURS)))],
                condition_score=round(float(rng.uniform(40, 100)), 1),
                criticality=int(rng.integers(1, 6)),
                tags={"synthetic": "yes"},
            ))
        with transaction.atomic():
            Charger.objects.bulk_create(chargers, batch_size=batch)
            evses, specs = [], []
            for k, charger in enumerate(chargers):
                dc_site = op_names[ops[k]] in ("Tesla", "IONITY GmbH") or rng.random() < 0.15
                for j in range(int(n_evses[k])):
                    status = str(statuses[k]) if rng.random() < 0.7 else "available"
                    evses.append(EVSE(charger=charger, uid=f"{charger.ref}*{j + 1}",
                                      status=status))
                    specs.append(connector_spec(rng, dc_site))
            EVSE.objects.bulk_create(evses, batch_size=batch)
            Connector.objects.bulk_create(
                [Connector(evse=e, **s) for e, s in zip(evses, specs, strict=True)],
                batch_size=batch,
            )
        log(f"  seeded {stop:,}/{n:,} chargers")


def seed(n: int = DEFAULT_N, random_seed: int = DEFAULT_SEED, pbf: Path = DEFAULT_PBF,
         roads: tuple | None = None) -> float | None:
    """Make the database hold ``n`` bench chargers, seeded from ``random_seed`` along the roads
    of ``pbf`` (``roads``: :func:`read_roads` of it, when already read).

    Seeding is skipped when exactly ``n`` bench chargers are there; other bench chargers are
    removed first. Returns the seconds spent seeding, or None when nothing was done.
    """
    from django.db import connection

    from twin.models import EVSE, Charger, Connector

    have = Charger.objects.filter(source=SOURCE).count()
    if have == n:
        log(f"reusing the {have:,} bench chargers already there")
        return None
    started = time.perf_counter()
    if have:
        log(f"removing {have:,} bench chargers (want {n:,})")
        clean_chargers()
    geoms, lengths_m = roads or read_roads(pbf)
    log(f"seeding {n:,} chargers along {len(geoms):,} road ways "
        f"({lengths_m.sum() / 1000:,.0f} km)")
    rng = np.random.default_rng(random_seed)
    seed_chargers(n, points_on_roads(geoms, lengths_m, n, rng), rng)
    with connection.cursor() as cur:
        for model in (Charger, EVSE, Connector):
            cur.execute(f"ANALYZE {model._meta.db_table}")
    seconds = time.perf_counter() - started
    log(f"seeded in {seconds:.1f} s")
    return seconds


def clean_chargers() -> None:
    """Delete the bench chargers, their EVSEs and connectors (raw SQL: no history rows)."""
    from django.db import connection

    from twin.models import EVSE, Charger, Connector

    bench_ids = f"SELECT id FROM {Charger._meta.db_table} WHERE source = %s"
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {Connector._meta.db_table} WHERE evse_id IN "
                    f"(SELECT id FROM {EVSE._meta.db_table} WHERE charger_id IN "
                    f"({bench_ids}))", [SOURCE])
        cur.execute(f"DELETE FROM {EVSE._meta.db_table} WHERE charger_id IN ({bench_ids})",
                    [SOURCE])
        cur.execute(f"DELETE FROM {Charger._meta.db_table} WHERE source = %s", [SOURCE])


def clean() -> None:
    """What a run leaves beside the seeded data: nothing (the queries only read)."""


# --- the two ways of answering the query ------------------------------------------------------
RAW_SQL = """
WITH hits AS (
    SELECT c.id, ST_DistanceSphere(c.location, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
               AS distance,
           count(*) OVER () AS total
      FROM twin_charger c
     WHERE c.location && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)
       AND ST_DistanceSphere(c.location, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
           <= %(radius)s
     ORDER BY distance, c.id
     LIMIT %(limit)s
)
SELECT c.id, c.name, c.operator, c.ref, c.condition_score, c.criticality, c.source,
       c.source_id, c.tags, c.created_at, c.updated_at, ST_AsGeoJSON(c.location) AS location,
       c.network, c.address, c.city, c.postal_code, c.country_code, c.access, c.status,
       c.opening_hours, h.distance, h.total,
       (SELECT coalesce(json_agg(json_build_object(
                   'id', e.id, 'uid', e.uid, 'status', e.status,
                   'connectors', (SELECT coalesce(json_agg(json_build_object(
                                          'id', k.id, 'standard', k.standard,
                                          'power_type', k.power_type, 'power_kw', k.power_kw,
                                          'voltage_v', k.voltage_v, 'current_a', k.current_a)
                                          ORDER BY k.id), '[]')
                                    FROM twin_connector k WHERE k.evse_id = e.id))
                   ORDER BY e.uid), '[]')
          FROM twin_evse e WHERE e.charger_id = c.id) AS evses
  FROM hits h JOIN twin_charger c ON c.id = h.id
 ORDER BY h.distance, h.id
"""


def raw_params(lon: float, lat: float, radius_m: float) -> dict:
    # A lon/lat box surely holding the circle, so that the GiST index on location can be used.
    dlat = radius_m / 110_574.0 * 1.01
    dlon = dlat / math.cos(math.radians(abs(lat) + dlat))
    return {"lon": lon, "lat": lat, "radius": radius_m, "limit": PAGE_SIZE,
            "minx": lon - dlon, "miny": lat - dlat, "maxx": lon + dlon, "maxy": lat + dlat}


def run_raw(lon: float, lat: float, radius_m: float) -> tuple[list[int], int]:
    """The hand-written query, as a view would run it: a cursor, execute, fetch all rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RAW_SQL, raw_params(lon, lat, radius_m))
        rows = cursor.fetchall()
    return [row[0] for row in rows], (rows[0][-2] if rows else 0)


def run_endpoint(client, centre: str, radius_m: float):
    """The API request, in process through the whole stack; the response, rendered."""
    response = client.get("/api/v1/chargers/",
                          {"near": centre, "radius_m": radius_m, "page_size": PAGE_SIZE})
    if response.status_code != 200:
        raise SystemExit(f"charger_near: endpoint answered {response.status_code}: "
                         f"{response.content[:500]!r}")
    return response


def page_of(response) -> tuple[list[int], int]:
    """Ids and total count of an endpoint response (parsed outside the timed section)."""
    body = json.loads(response.content)
    return [f["id"] for f in body["features"]], body["count"]


# --- measurement ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def same_order(a: list[int], b: list[int], dist: dict[int, float]) -> bool:
    """Same ids in the same order, allowing ties in distance to come in either order.

    Both lists must have the same distances position by position; ids may differ only within a
    group of equal distances (and the last group may be cut differently by the LIMIT).
    """
    if len(a) != len(b):
        return False
    da, db = [round(dist[i], 6) for i in a], [round(dist[i], 6) for i in b]
    if da != db:
        return False
    groups_a, groups_b = defaultdict(set), defaultdict(set)
    for i, d in zip(a, da, strict=True):
        groups_a[d].add(i)
    for i, d in zip(b, db, strict=True):
        groups_b[d].add(i)
    last = da[-1] if da else None
    return all(groups_a[d] == groups_b[d] for d in groups_a if d != last)


def sql_breakdown(client, centres: list[str], radius_m: float) -> dict:
    """Median ms per kind of SQL statement the endpoint runs, and the rest (Python)."""
    from django.db import connection

    per_kind: dict[str, list[float]] = defaultdict(list)
    totals, pythons = [], []

    for centre in centres:
        spent: dict[str, float] = defaultdict(float)

        def wrapper(execute, sql, params, many, context, spent=spent):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                if "COUNT(" in sql.upper():
                    kind = "count"
                elif "FROM \"twin_connector\"" in sql:
                    kind = "prefetch_connectors"
                elif "FROM \"twin_evse\"" in sql:
                    kind = "prefetch_evses"
                elif "FROM \"twin_charger\"" in sql:
                    kind = "page"
                else:
                    kind = "other"
                spent[kind] += (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        with connection.execute_wrapper(wrapper):
            run_endpoint(client, centre, radius_m)
        total = (time.perf_counter() - started) * 1000
        for kind, ms in spent.items():
            per_kind[kind].append(ms)
        totals.append(total)
        pythons.append(total - sum(spent.values()))
    out = {f"{kind}_sql": round(statistics.median(v), 2) for kind, v in sorted(per_kind.items())}
    out["python_rest"] = round(statistics.median(pythons), 2)
    out["total"] = round(statistics.median(totals), 2)
    return out


def explain(client, centre: str, radius_m: float) -> None:
    """EXPLAIN ANALYZE every statement the endpoint runs, and the raw query (to stderr)."""
    from django.db import connection

    captured = []

    def wrapper(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        run_endpoint(client, centre, radius_m)
    lon, lat = (float(v) for v in centre.split(","))
    captured.append((RAW_SQL, raw_params(lon, lat, radius_m)))
    with connection.cursor() as cur:
        for sql, params in captured:
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            plan = "\n".join(row[0] for row in cur.fetchall())
            log(f"--- {sql[:300]}{' …' if len(sql) > 300 else ''}\n{plan}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="chargers to seed (100000)")
    parser.add_argument("--radius-m", type=float, default=2000.0, help="search radius (2000)")
    parser.add_argument("--queries", type=int, default=30, help="query centres (30)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each centre is queried, per method (3)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up queries per method (5)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF, help="OSM PBF with the roads")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the endpoint's and the raw SQL to stderr")
    parser.add_argument("--pg-set", action="append", default=[], metavar="NAME=VALUE",
                        help="a PostgreSQL setting for every connection, e.g. jit=off "
                        "(repeatable; to try a fix)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/charger_near.json")
    args = parser.parse_args()

    if not args.pbf.is_file():
        sys.exit(f"charger_near: OSM extract not found: {args.pbf} (use --pbf)")
    database = use_bench_database(BENCH)
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db.backends.signals import connection_created
    from rest_framework.test import APIClient

    pg_settings = dict(item.split("=", 1) for item in args.pg_set)

    def apply_settings(sender, connection, **kwargs):
        with connection.cursor() as cursor:
            for name, value in pg_settings.items():
                cursor.execute("SELECT set_config(%s, %s, false)", [name, value])

    if pg_settings:
        connection_created.connect(apply_settings, weak=False)

    log(f"migrating {database}")
    migrate()

    started = time.perf_counter()
    geoms, lengths_m = read_roads(args.pbf)
    log(f"read {len(geoms):,} road ways ({lengths_m.sum() / 1000:,.0f} km) "
        f"in {time.perf_counter() - started:.1f} s")
    seed_s = seed(args.n, args.seed, args.pbf, roads=(geoms, lengths_m))
    template = {"pbf": args.pbf.name, "road_ways": len(geoms),
                "road_km": round(float(lengths_m.sum()) / 1000, 1)}
    checked = checked_data(BENCH, data_counts(), expected_counts(args.n), template=template,
                           seed_s=round(seed_s, 1) if seed_s is not None else None)

    # Query centres on the same roads, from their own random stream.
    rng = np.random.default_rng(args.seed + 1)
    points = points_on_roads(geoms, lengths_m, args.queries + args.warmup, rng)
    centres = [f"{lon:.7f},{lat:.7f}" for lon, lat in points]
    warmup, centres = centres[:args.warmup], centres[args.warmup:]

    user, _ = get_user_model().objects.get_or_create(username="bench",
                                                     defaults={"is_active": True})
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user=user)
    radius_m = args.radius_m

    log("warming up")
    for centre in warmup:
        lon, lat = (float(v) for v in centre.split(","))
        run_endpoint(client, centre, radius_m)
        run_raw(lon, lat, radius_m)

    log(f"measuring {len(centres)} centres × {args.rounds} rounds, radius {radius_m:g} m")
    endpoint_ms, raw_ms, results, counts = [], [], [], []
    for round_no in range(args.rounds):
        for q, centre in enumerate(centres):
            lon, lat = (float(v) for v in centre.split(","))
            endpoint_first = (q + round_no) % 2 == 0  # alternate who goes first
            for which in ("endpoint", "raw") if endpoint_first else ("raw", "endpoint"):
                started = time.perf_counter()
                if which == "endpoint":
                    response = run_endpoint(client, centre, radius_m)
                    endpoint_ms.append((time.perf_counter() - started) * 1000)
                    api_ids, api_count = page_of(response)
                else:
                    raw_ids, raw_count = run_raw(lon, lat, radius_m)
                    raw_ms.append((time.perf_counter() - started) * 1000)
            if round_no == 0:
                check_same(centre, api_ids, api_count, raw_ids, raw_count)
                results.append(len(api_ids))
                counts.append(api_count)
    log("measuring where the endpoint's time goes")
    breakdown = sql_breakdown(client, centres, radius_m)
    if args.explain:
        explain(client, centres[0], radius_m)

    ratio_median = statistics.median(endpoint_ms) / statistics.median(raw_ms)
    ratio_p95 = percentile(endpoint_ms, 95) / percentile(raw_ms, 95)
    result = {
        "benchmark": "charger_near",
        "n_chargers": args.n,
        "radius_m": radius_m,
        "page_size": PAGE_SIZE,
        "queries": len(endpoint_ms),
        "centres": len(centres),
        "results_per_query_median": statistics.median(results),
        "matches_per_query_median": statistics.median(counts),
        "endpoint_ms": summary(endpoint_ms),
        "raw_sql_ms": summary(raw_ms),
        "ratio_median": round(ratio_median, 2),
        "ratio_p95": round(ratio_p95, 2),
        "endpoint_breakdown_ms_median": breakdown,
        "pg_settings": pg_settings,
        "goal": f"endpoint within {GOAL_RATIO:g}x of raw SQL",
        "met": ratio_median <= GOAL_RATIO and ratio_p95 <= GOAL_RATIO,
    }
    clean()
    check_unchanged(BENCH, checked, data_counts())
    write_result(result, args.output, data=checked)


def check_same(centre, api_ids, api_count, raw_ids, raw_count) -> None:
    """Fail loudly when the endpoint and the raw SQL disagree (ties in distance aside)."""
    from django.db import connection

    if api_count != raw_count:
        raise SystemExit(f"charger_near: at {centre} the endpoint counts {api_count} "
                         f"matches, the raw SQL {raw_count}")
    if api_ids == raw_ids:
        return
    lon, lat = (float(v) for v in centre.split(","))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, ST_DistanceSphere(location, ST_SetSRID(ST_MakePoint(%s, %s),"
                       " 4326)) FROM twin_charger WHERE id = ANY(%s)",
                       [lon, lat, list({*api_ids, *raw_ids})])
        dist = dict(cursor.fetchall())
    if not same_order(api_ids, raw_ids, dist):
        raise SystemExit(f"charger_near: at {centre} the endpoint and the raw SQL return "
                         f"different chargers: {api_ids[:10]}… vs {raw_ids[:10]}…")


if __name__ == "__main__":
    main()
