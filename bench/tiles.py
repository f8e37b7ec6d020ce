"""Benchmark: ``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` against the bare ``ST_AsMVT`` SQL for the
same tile, over a twin of ≥ 1,000,000 supports and ≥ 100,000 lines.

Run with ``make bench`` (or ``DATABASE_URL=postgis://… .venv/bin/python bench/tiles.py``).

* Works in its own database, ``gridtwin_bench_tiles`` on the server of ``DATABASE_URL``
  (created, with PostGIS, when missing; migrated on every run; see ``bench/common.py``).
* Data: the real Liechtenstein grid (``data/demo/liechtenstein-2024-03-04.osm.pbf``, imported
  with ``import_osm`` as region ``liechtenstein`` when not there yet: 15 lines, 186 supports,
  5 substations, 9 chargers) is the template. ``--copies`` copies of it (default 6,667: 1.24 M
  supports, 100 k lines, 33 k substations, 60 k chargers) are laid on a grid of
  0.08° × 0.10° cells from 5.5° E / 48° N (about Germany's size, so copies overlap ~2×, like a
  dense national grid), each translated by its cell plus a random jitter of up to ±40 % of a
  cell. Geometry and kinds are the template's; condition scores, charger statuses and a 1 %
  share of vanished (``missing_since``) assets are random. Rows are made server-side with
  ``INSERT … SELECT ST_Translate(…)`` from the template joined to a table of offsets (COPY'd in),
  marked ``source='bench-tiles'``, then ``ANALYZE``d. Seeding is skipped when the counts match.
* The data checked, before measuring and again before reporting: the template holds exactly
  :data:`EXPECTED_TEMPLATE` and each table exactly the template's rows × (``--copies`` + 1);
  below 1 M supports or 100 k lines (:data:`DOCUMENTED_MINIMUM`) the run refuses unless
  ``--allow-small`` (then ``below_documented_size`` in the result says so).
* Tiles: for each zoom of ``--zooms`` (8, 11, 14, 16), ``--tiles`` distinct tiles, each the tile
  holding a random support of a random copy (so tiles lie where the grid is).
* Timed, interleaved (rotating which goes first), ``--rounds`` times per tile and layer:
  (a) the endpoint as a WSGI server calls it (``config.wsgi.application``: environ in, body
  out, response closed), signed in with a real session cookie as the map page is, the tile
  cache disabled (``TILES_CACHE_TIMEOUT=0``): request and signals, the security and tile
  middleware, the session check (remembered for ``TILES_AUTH_TTL``, see ``twin/tiles/middleware.py``), the
  tile query, the response; (b) a hand-written ``ST_AsMVT`` query for the same tile and the same
  rules (``ST_TileEnvelope`` + ``&&`` on the GiST index) on Django's connection; (c) the
  service's own generated statement without HTTP (``render_tile``), which splits the ratio into
  ``service_sql_vs_raw`` (our statement, prepared, against the hand-written text) and
  ``http_overhead_ms`` (what the web stack adds per request); (d) ``endpoint_recheck``: (a)
  with ``TILES_AUTH_TTL=0``: every request takes the whole middleware stack and reads the
  session and its user (a session's first tile costs the same); (e) ``raw_prepared``: (b)
  prepared once per connection with a generic plan, as the service prepares its own
  statements (``ratio_vs_prepared_raw``). (d) and (e) are reported beside the goal, not in it.
  The endpoint and the bare SQL must return the same feature ids (checked in the first round).
  Layers without a rule at a zoom (supports below z13, chargers below z10) are answered empty
  without a query; their endpoint time is reported as ``no_rule``.
* ``endpoint_cached_ms`` / ``ratio_cached_*``: the endpoint as it is served, with the tile
  cache on (Django's cache; each tile fetched once untimed first, then ``--rounds`` timed
  requests): a version query and a cache read instead of the tile query, against the same bare
  SQL. Reported beside the uncached ratio, not instead of it.
* ``naive_unfiltered``: for a few z8/z11 tiles, ``ST_AsMVT`` over *all* lines and supports in
  the tile (no zoom rules, no simplification): what the rules save.
* ``low_zoom_lines_service``: the lines layer at z4–z7 (3 tiles each, service SQL only), where
  every 220 kV line of the grid falls into a handful of tiles.

Progress goes to stderr; the result is one JSON object on stdout, also written to
``bench/results/tiles.json``. Goals: endpoint ≤ 1.3× the bare SQL (median and p95 per zoom and
layer), every tile < 500 KB, p95 of z14 requests < 50 ms.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_PBF = REPO_DIR / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
if not __package__:  # run as a script: import from the repository (bench/routing.py is no app)
    sys.path[:] = [str(REPO_DIR), *(p for p in sys.path if Path(p).resolve() != BENCH_DIR)]
from bench.common import (  # noqa: E402
    Expected,
    check_unchanged,
    checked_data,
    count_problems,
    migrate,
    refuse_if,
    setup_django,
    table_counts,
    use_bench_database,
    write_result,
)

BENCH = "tiles"
SOURCE = "bench-tiles"
TEMPLATE_REGION = "liechtenstein"
DEFAULT_COPIES = 6667
TABLES = ("twin_line", "twin_support", "twin_substation", "twin_charger")
# What the benchmark is documented to measure: the template's rows (the real grid of the
# Liechtenstein extract), copied --copies times beside it ...
EXPECTED_TEMPLATE = {"twin_line": 15, "twin_support": 186, "twin_substation": 5, "twin_charger": 9}
# ... into a twin of at least this size (6,667 copies: 1.24 M supports, 100 k lines).
DOCUMENTED_MINIMUM: dict[str, Expected] = {"twin_support": (1_000_000, None),
                                           "twin_line": (100_000, None)}
CELL = (0.08, 0.10)  # degrees lon, lat
ORIGIN = (5.5, 48.0)
GOAL_RATIO = 1.3
GOAL_MAX_BYTES = 500 * 1024
GOAL_Z14_P95_MS = 50.0
LAYERS = ("lines", "substations", "supports", "chargers")
DEFAULT_SEED = 20261128
STATUSES = ["available", "charging", "blocked", "out_of_order", "planned", "unknown"]


def log(message: str) -> None:
    print(f"[tiles] {message}", file=sys.stderr, flush=True)


# --- data -------------------------------------------------------------------------------------
def expected_counts(copies: int = DEFAULT_COPIES) -> dict[str, Expected]:
    """Rows per table: the template and its ``copies`` copies, nothing else."""
    return {table: n * (copies + 1) for table, n in EXPECTED_TEMPLATE.items()}


def data_counts() -> dict[str, int]:
    """Rows per table the tiles are made of (all of them: the template and the copies)."""
    return table_counts(TABLES)


def ensure_template(pbf: Path) -> dict[str, int]:
    """The real Liechtenstein grid, imported once; its row counts per model."""
    from twin.ingest.osm import import_osm
    from twin.models import Charger, Line, Region, Substation, Support

    if not Line.objects.filter(region__name=TEMPLATE_REGION, source="osm").exists():
        if not pbf.is_file():
            sys.exit(f"tiles: OSM extract not found: {pbf} (use --pbf)")
        log(f"importing the template grid from {pbf.name}")
        import_osm(pbf, region_name=TEMPLATE_REGION)
    region = Region.objects.get(name=TEMPLATE_REGION)
    return {model._meta.db_table: model.objects.filter(region=region, source="osm").count()
            for model in (Line, Support, Substation, Charger)}


# One INSERT … SELECT per model: the template's rows × the offsets of a batch of copies.
SEED_SQL = {
    "twin_support": """
INSERT INTO twin_support (name, operator, ref, condition_score, criticality, source, source_id,
                          tags, created_at, updated_at, location, kind, height_m, material,
                          missing_since, region_id)
SELECT t.name, CASE t.kind WHEN 'tower' THEN 'Transmission Grid Co' ELSE 'Distribution Co' END,
       (o.k %% 997 + t.id %% 89)::text, round((20 + 80 * random())::numeric, 1)::float8, NULL,
       %(source)s, %(source)s || ':' || o.k || ':' || t.source_id, '{}'::jsonb, now(), now(),
       ST_Translate(t.location, o.dx, o.dy), t.kind, t.height_m, t.material,
       CASE WHEN random() < 0.01 THEN now() END, NULL
  FROM twin_support t CROSS JOIN bench_offsets o
 WHERE t.region_id = %(region)s AND t.source = 'osm' AND o.k >= %(lo)s AND o.k < %(hi)s""",
    "twin_line": """
INSERT INTO twin_line (name, operator, ref, condition_score, criticality, source, source_id, tags,
                       created_at, updated_at, voltages_kv, voltage_kv, geometry, kind, circuits,
                       r_ohm_per_km, x_ohm_per_km, c_nf_per_km, max_i_ka, length_m,
                       from_substation_id, to_substation_id, missing_since, region_id)
SELECT t.name, t.operator, t.ref, round((20 + 80 * random())::numeric, 1)::float8, NULL,
       %(source)s, %(source)s || ':' || o.k || ':' || t.source_id, '{}'::jsonb, now(), now(),
       t.voltages_kv, t.voltage_kv, ST_Translate(t.geometry, o.dx, o.dy), t.kind, t.circuits,
       t.r_ohm_per_km, t.x_ohm_per_km, t.c_nf_per_km, t.max_i_ka, t.length_m, NULL, NULL,
       CASE WHEN random() < 0.01 THEN now() END, NULL
  FROM twin_line t CROSS JOIN bench_offsets o
 WHERE t.region_id = %(region)s AND t.source = 'osm' AND o.k >= %(lo)s AND o.k < %(hi)s""",
    "twin_substation": """
INSERT INTO twin_substation (name, operator, ref, condition_score, criticality, source,
                             source_id, tags, created_at, updated_at, voltages_kv, voltage_kv,
                             location, footprint, rating_mva, commissioned, missing_since,
                             region_id)
SELECT t.name, t.operator, t.ref, round((20 + 80 * random())::numeric, 1)::float8, NULL,
       %(source)s, %(source)s || ':' || o.k || ':' || t.source_id, '{}'::jsonb, now(), now(),
       t.voltages_kv, t.voltage_kv, ST_Translate(t.location, o.dx, o.dy),
       ST_Translate(t.footprint, o.dx, o.dy), t.rating_mva, t.commissioned,
       CASE WHEN random() < 0.01 THEN now() END, NULL
  FROM twin_substation t CROSS JOIN bench_offsets o
 WHERE t.region_id = %(region)s AND t.source = 'osm' AND o.k >= %(lo)s AND o.k < %(hi)s""",
    "twin_charger": """
INSERT INTO twin_charger (name, operator, ref, condition_score, criticality, source, source_id,
                          tags, created_at, updated_at, location, network, address, city,
                          postal_code, country_code, access, status, opening_hours,
                          missing_since, region_id)
SELECT t.name, t.operator, t.ref, round((20 + 80 * random())::numeric, 1)::float8, NULL,
       %(source)s, %(source)s || ':' || o.k || ':' || t.source_id, '{}'::jsonb, now(), now(),
       ST_Translate(t.location, o.dx, o.dy), t.network, t.address, t.city, t.postal_code,
       t.country_code, t.access, (%(statuses)s::text[])[1 + floor(random() * 6)::int],
       t.opening_hours, CASE WHEN random() < 0.01 THEN now() END, NULL
  FROM twin_charger t CROSS JOIN bench_offsets o
 WHERE t.region_id = %(region)s AND t.source = 'osm' AND o.k >= %(lo)s AND o.k < %(hi)s""",
}


def offsets(copies: int, template_origin: tuple[float, float], rng) -> np.ndarray:
    """(k, dx, dy) per copy: its grid cell plus jitter, relative to the template's corner."""
    cols = math.ceil(math.sqrt(copies))
    k = np.arange(copies)
    jitter = rng.uniform(-0.4, 0.4, size=(copies, 2)) * CELL
    dx = ORIGIN[0] + (k % cols) * CELL[0] + jitter[:, 0] - template_origin[0]
    dy = ORIGIN[1] + (k // cols) * CELL[1] + jitter[:, 1] - template_origin[1]
    return np.column_stack([k, dx, dy])


def seed(copies: int = DEFAULT_COPIES, random_seed: int = DEFAULT_SEED,
         pbf: Path = DEFAULT_PBF) -> tuple[dict[str, int], np.ndarray, float | None]:
    """The template imported and ``copies`` copies of it seeded, unless they are all there.

    Returns
    -------
    tuple
        The template's rows per table, the copies' offsets and the seconds spent seeding the
        copies (None when they were there).
    """
    from django.db import connection, transaction

    from twin.models import Region

    template = ensure_template(pbf)
    refuse_if(BENCH, [f"template: {p}" for p in count_problems(template, EXPECTED_TEMPLATE)])
    region = Region.objects.get(name=TEMPLATE_REGION)
    with connection.cursor() as cur:
        cur.execute("SELECT ST_XMin(e), ST_YMin(e) FROM (SELECT ST_Extent(location) AS e FROM "
                    "twin_support WHERE region_id = %s AND source = 'osm') s", [region.pk])
        template_origin = cur.fetchone()
    rng = np.random.default_rng(random_seed)
    table = offsets(copies, template_origin, rng)
    want = {name: n * copies for name, n in template.items()}
    have = {}
    with connection.cursor() as cur:
        for name in want:
            cur.execute(f"SELECT count(*) FROM {name} WHERE source = %s", [SOURCE])
            have[name] = cur.fetchone()[0]
    if have == want:
        log("reusing the bench twin: " +
            ", ".join(f"{n:,} {t.removeprefix('twin_')}" for t, n in have.items()))
        return template, table, None
    started = time.perf_counter()
    with connection.cursor() as cur:
        for name, n in have.items():
            if n:
                log(f"removing {n:,} bench rows from {name} (want {want[name]:,})")
                cur.execute(f"DELETE FROM {name} WHERE source = %s", [SOURCE])
    log(f"seeding {copies:,} copies of the template: " +
        ", ".join(f"{n:,} {t.removeprefix('twin_')}" for t, n in want.items()))
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_offsets (k int PRIMARY KEY, dx float8, dy float8) "
                    "ON COMMIT DROP")
        with cur.cursor.copy("COPY bench_offsets (k, dx, dy) FROM STDIN") as copy:
            for k, dx, dy in table:
                copy.write_row((int(k), float(dx), float(dy)))
        cur.execute("SELECT setseed(%s)", [(random_seed % 1000) / 1000])
        batch = max(1, copies // 8)
        for lo in range(0, copies, batch):
            for statement in SEED_SQL.values():
                cur.execute(statement, {"source": SOURCE, "region": region.pk, "lo": lo,
                                        "hi": lo + batch, "statuses": STATUSES})
            log(f"  copies {min(lo + batch, copies):,}/{copies:,} "
                f"({time.perf_counter() - started:.0f} s)")
    with connection.cursor() as cur:
        for name in want:
            cur.execute(f"ANALYZE {name}")
    seconds = time.perf_counter() - started
    log(f"seeded in {seconds:.1f} s")
    return template, table, seconds


def clean() -> None:
    """What a run leaves beside the seeded data: the session it signed in with."""
    from django.contrib.sessions.models import Session

    Session.objects.all().delete()  # the database is the benchmark's own: all are its sessions


def vanished_counts() -> dict[str, int]:
    """Rows per table marked vanished (``missing_since``; not drawn on tiles)."""
    return table_counts(TABLES, where=dict.fromkeys(TABLES, "missing_since IS NOT NULL"))


# --- tiles to ask for -------------------------------------------------------------------------
def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, min(x, n - 1), min(y, n - 1)


def sample_tiles(table: np.ndarray, zooms: list[int], count: int, seed: int) -> dict:
    """``count`` distinct tiles per zoom, each holding a random support of a random copy."""
    from django.db import connection

    from twin.models import Region

    region = Region.objects.get(name=TEMPLATE_REGION)
    with connection.cursor() as cur:
        cur.execute("SELECT ST_X(location), ST_Y(location) FROM twin_support "
                    "WHERE region_id = %s AND source = 'osm' ORDER BY id", [region.pk])
        supports = np.array(cur.fetchall())
    rng = np.random.default_rng(seed + 1)
    out = {}
    for z in zooms:
        chosen: list[tuple[int, int, int]] = []
        for _ in range(count * 50):
            k = int(rng.integers(len(table)))
            lon, lat = supports[int(rng.integers(len(supports)))] + table[k, 1:]
            tile = tile_of(lon, lat, z)
            if tile not in chosen:
                chosen.append(tile)
            if len(chosen) == count:
                break
        out[z] = chosen
    return out


# --- the two ways of making a tile ------------------------------------------------------------
def tolerance_deg(z: int, y: int, units: float) -> float:
    """``units`` tile units as a lon/lat tolerance, safe at the tile row's higher latitude."""
    n = 1 << z
    lat = max(abs(math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * v / n))))) for v in (y, y + 1))
    metres = units * 2 * math.pi * 6378137.0 / n / 4096
    return metres * math.cos(math.radians(lat)) / (math.pi * 6378137.0 / 180)


def raw_statement(layer: str, z: int, x: int, y: int) -> tuple[str, dict] | None:
    """The hand-written ``ST_AsMVT`` query for the tile: the same zoom rules, written out."""
    text = "NULLIF({0}, '') AS {0}".format
    levels = ("(SELECT string_agg(v::float8::text, ';' ORDER BY i) FROM "
              "jsonb_array_elements_text(voltages_kv) WITH ORDINALITY AS e(v, i)) AS voltages")
    mvt = ("ST_AsMVTGeom({geom}, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom")
    envelope = "ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096), 4326)"
    params = {"z": z, "x": x, "y": y}
    if layer == "lines":
        if z <= 7:
            where, units = "voltage_kv >= 220", 8
        elif z <= 9:
            where, units = "voltage_kv >= 110", 8
        elif z <= 11:
            where, units = "(voltage_kv >= 30 OR kind = 'line')", 4
        else:
            where, units = "TRUE", 2 if z == 12 else 0
        geom = "ST_Transform(geometry, 3857)"
        if units:  # simplified in lon/lat before projecting
            geom = "ST_Transform(ST_Simplify(geometry, %(tolerance)s, true), 3857)"
            params["tolerance"] = tolerance_deg(z, y, units)
        columns = ["id", text("name"), text("ref"), text("kind"), "voltage_kv", levels,
                   text("operator"), "condition_score", mvt.format(geom=geom)]
        filters = [f"geometry && {envelope}", where]
    elif layer == "substations":
        where = ("voltage_kv >= 220" if z <= 7 else "voltage_kv >= 110" if z <= 9
                 else "voltage_kv >= 30" if z <= 11 else "TRUE")
        geom = "ST_Transform(COALESCE(footprint, location), 3857)" if z >= 13 \
            else "ST_Transform(location, 3857)"
        columns = ["id", text("name"), text("ref"), "voltage_kv", levels, text("operator"),
                   "condition_score", mvt.format(geom=geom)]
        index = f"(footprint && {envelope} OR location && {envelope})" if z >= 13 \
            else f"location && {envelope}"
        filters = [index, where]
    elif layer == "supports":
        if z < 13:
            return None
        columns = ["id", text("name"), text("ref"), text("kind"), text("operator"),
                   "condition_score", mvt.format(geom="ST_Transform(location, 3857)")]
        filters = [f"location && {envelope}"]
    elif layer == "chargers":
        if z < 10:
            return None
        columns = ["id", text("name"), text("ref"), text("operator"), text("network"),
                   text("status"), text("access"), "condition_score",
                   mvt.format(geom="ST_Transform(location, 3857)")]
        filters = [f"location && {envelope}"]
    else:
        raise ValueError(layer)
    sql = (f"SELECT ST_AsMVT(t, '{layer}', 4096, 'geom', 'id') FROM (SELECT {', '.join(columns)} "
           f"FROM twin_{layer.removesuffix('s')} WHERE missing_since IS NULL AND "
           f"{' AND '.join(filters)}) AS t WHERE geom IS NOT NULL")
    return sql, params


def naive_statement(layer: str, z: int, x: int, y: int) -> tuple[str, dict]:
    """All of the layer's rows in the tile, unsimplified: no zoom rules at all."""
    column = "geometry" if layer == "lines" else "location"
    sql = (f"SELECT ST_AsMVT(t, '{layer}', 4096, 'geom', 'id') FROM (SELECT id, "
           f"NULLIF(name, '') AS name, NULLIF(ref, '') AS ref, kind, "
           f"ST_AsMVTGeom(ST_Transform({column}, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), "
           f"4096, 64, true) AS geom FROM twin_{layer.removesuffix('s')} WHERE {column} && "
           f"ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096), 4326)) "
           f"AS t WHERE geom IS NOT NULL")
    return sql, {"z": z, "x": x, "y": y}


def run_raw(statement: tuple[str, dict], *, prepared: bool = False) -> bytes:
    """The bare statement sent as text, or (``prepared``) prepared once per connection as the
    tile service prepares its own."""
    from django.db import connection

    from twin.tiles.service import prepared_cursor

    with (prepared_cursor() if prepared else connection.cursor()) as cursor:
        cursor.execute(*statement)
        row = cursor.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


class WsgiClient:
    """The endpoint as a WSGI server (gunicorn) calls it: ``config.wsgi.application``, an environ
    in, the body's bytes out, the response closed (which ends the request). Signed in with a
    real session cookie, as the map page is; no test-client instrumentation."""

    def __init__(self, session_cookie: str):
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        self.app = get_wsgi_application()
        self.cookie = f"{settings.SESSION_COOKIE_NAME}={session_cookie}"

    def get(self, path: str) -> tuple[int, bytes]:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
                   "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
                   "HTTP_COOKIE": self.cookie, "wsgi.input": io.BytesIO(b""),
                   "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr}
        status = []
        body = self.app(environ, lambda line, headers, exc_info=None: status.append(line))
        try:
            data = b"".join(body)
        finally:
            body.close()
        return int(status[0][:3]), data


def run_endpoint(client: WsgiClient, layer: str, z: int, x: int, y: int) -> bytes:
    status, data = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    if status != 200:
        raise SystemExit(f"tiles: endpoint answered {status} for {layer} {z}/{x}/{y}: "
                         f"{data[:300]!r}")
    return data


def ids(data: bytes, layer: str) -> set[int]:
    import mapbox_vector_tile

    decoded = mapbox_vector_tile.decode(data)
    return {f["id"] for f in decoded.get(layer, {}).get("features", [])}


# --- measurement ------------------------------------------------------------------------------
def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2),
            "p95": round(float(np.percentile(values, 95)), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def breakdown(client, tiles_by_zoom: dict) -> dict:
    """Per zoom, where the endpoint's time goes: version query, tile query, the rest (Python)."""
    from django.db import connection

    out = {}
    for z, chosen in tiles_by_zoom.items():
        spent = defaultdict(list)
        for tile in chosen:
            for layer in LAYERS:
                sql_ms = defaultdict(float)

                def wrapper(execute, sql, params, many, context, sql_ms=sql_ms):
                    started = time.perf_counter()
                    try:
                        return execute(sql, params, many, context)
                    finally:
                        kind = "tile_sql" if "ST_AsMVT" in sql else "version_sql" \
                            if "max(" in sql else "other_sql"
                        sql_ms[kind] += (time.perf_counter() - started) * 1000

                started = time.perf_counter()
                with connection.execute_wrapper(wrapper):
                    run_endpoint(client, layer, *tile)
                total = (time.perf_counter() - started) * 1000
                if "tile_sql" not in sql_ms:
                    continue
                for kind, ms in sql_ms.items():
                    spent[kind].append(ms)
                spent["python_rest"].append(total - sum(sql_ms.values()))
                spent["total"].append(total)
        out[str(z)] = {kind: round(statistics.median(v), 2) for kind, v in sorted(spent.items())}
    return out


def explain(tiles_by_zoom: dict) -> None:
    from django.db import connection

    from twin.tiles import service as tiles

    for chosen in tiles_by_zoom.values():
        for layer in LAYERS:
            statement = tiles.LAYERS[layer].postgis_sql(*chosen[0])
            if statement is None:
                continue
            with connection.cursor() as cur:
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement[0]}", statement[1])
                plan = "\n".join(row[0] for row in cur.fetchall())
            log(f"--- {layer} {chosen[0]}\n{plan}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=DEFAULT_COPIES,
                        help="copies of the Liechtenstein grid (6667: 1.24 M supports, 100 k lines)")
    parser.add_argument("--zooms", default="8,11,14,16", help="zoom levels (8,11,14,16)")
    parser.add_argument("--tiles", type=int, default=20, help="distinct tiles per zoom (20)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="times each tile is fetched, per method (5)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up tiles per zoom (3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF, help="the template OSM extract")
    parser.add_argument("--allow-small", action="store_true",
                        help="measure a twin below the documented size (fewer than 1 M supports "
                        "or 100 k lines), e.g. with a small --copies to try a change quickly; "
                        "the result says so")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of one tile query per zoom and layer")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/tiles.json")
    args = parser.parse_args()
    zooms = [int(z) for z in args.zooms.split(",")]
    small = count_problems(expected_counts(args.copies), DOCUMENTED_MINIMUM)
    if small and not args.allow_small:
        sys.exit(f"tiles: --copies {args.copies} makes a twin below the documented size ("
                 + "; ".join(small) + "); pass --allow-small to measure it anyway")

    database = use_bench_database(BENCH)
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from twin.tiles import service as tiles

    log(f"migrating {database}")
    migrate()
    template, table, seed_s = seed(args.copies, args.seed, args.pbf)
    checked = checked_data(BENCH, data_counts(), expected_counts(args.copies),
                           copies=args.copies, template=template, vanished=vanished_counts(),
                           below_documented_size=bool(small),
                           seed_s=round(seed_s, 1) if seed_s is not None else None)
    tiles_by_zoom = sample_tiles(table, zooms, args.tiles + args.warmup, args.seed)
    warmup = {z: t[:args.warmup] for z, t in tiles_by_zoom.items()}
    tiles_by_zoom = {z: t[args.warmup:] for z, t in tiles_by_zoom.items()}

    overrides = override_settings(TILES_CACHE_TIMEOUT=0)  # measure tiles made, not cached
    overrides.enable()
    assert settings.TILES_CACHE_TIMEOUT == 0

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_active": True})
    browser = Client()
    browser.force_login(user)  # a real session, as the map page has
    client = WsgiClient(browser.cookies[settings.SESSION_COOKIE_NAME].value)

    log("warming up")
    for chosen in warmup.values():
        for tile in chosen:
            for layer in LAYERS:
                run_endpoint(client, layer, *tile)
                statement = raw_statement(layer, *tile)
                if statement:
                    run_raw(statement)

    results: dict = {}
    for z, chosen in tiles_by_zoom.items():
        log(f"z{z}: {len(chosen)} tiles × {len(LAYERS)} layers × {args.rounds} rounds")
        per_layer = {layer: defaultdict(list) for layer in LAYERS}
        for round_no in range(args.rounds):
            for t, tile in enumerate(chosen):
                for layer in LAYERS:
                    statement = raw_statement(layer, *tile)
                    samples = per_layer[layer]
                    methods = (["endpoint", "raw", "service", "endpoint_recheck",
                                "raw_prepared"] if statement else ["endpoint"])
                    shift = (t + round_no) % len(methods)  # rotate who goes first
                    for which in methods[shift:] + methods[:shift]:
                        # endpoint_recheck: the session checked on every request (no credential
                        # cache): the whole middleware stack, a session and a user query more
                        settings.TILES_AUTH_TTL = 0 if which == "endpoint_recheck" else 60
                        started = time.perf_counter()
                        if which == "endpoint":
                            body = run_endpoint(client, layer, *tile)
                        elif which == "endpoint_recheck":
                            run_endpoint(client, layer, *tile)
                        elif which == "raw":
                            raw = run_raw(statement)
                        elif which == "raw_prepared":
                            run_raw(statement, prepared=True)
                        else:
                            tiles.render_tile(layer, *tile, encoder="postgis")
                        samples[f"{which}_ms"].append((time.perf_counter() - started) * 1000)
                    if round_no == 0:
                        samples["bytes"].append(len(body))
                        got = ids(body, layer)
                        samples["features"].append(len(got))
                        if statement is not None and got != ids(raw, layer):
                            raise SystemExit(f"tiles: {layer} {tile}: the endpoint and the bare "
                                             f"SQL hold different features")
        results[z] = per_layer
    settings.TILES_AUTH_TTL = 60

    log("measuring the endpoint as served: tile cache on, each tile fetched once before")
    overrides.disable()
    for z, chosen in tiles_by_zoom.items():
        for tile in chosen:
            for layer in LAYERS:
                if raw_statement(layer, *tile) is None:
                    continue
                run_endpoint(client, layer, *tile)  # the miss that fills the cache
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    run_endpoint(client, layer, *tile)
                    results[z][layer]["cached_ms"].append((time.perf_counter() - started) * 1000)
    overrides.enable()

    log("measuring where the endpoint's time goes")
    split = breakdown(client, tiles_by_zoom)
    log("measuring unfiltered tiles (no zoom rules)")
    naive = {}
    for z in [z for z in zooms if z <= 11]:
        naive[str(z)] = {}
        for layer in ("lines", "supports"):
            sizes, times = [], []
            for tile in tiles_by_zoom[z][:5]:
                started = time.perf_counter()
                sizes.append(len(run_raw(naive_statement(layer, *tile))))
                times.append((time.perf_counter() - started) * 1000)
            naive[str(z)][layer] = {"tiles": len(sizes),
                                    "bytes_median": int(statistics.median(sizes)),
                                    "bytes_max": max(sizes),
                                    "ms_median": round(statistics.median(times), 1)}
    log("measuring low-zoom line tiles (not in --zooms)")
    low = {}
    for z in (4, 5, 6, 7):
        chosen = sample_tiles(table, [z], 3, args.seed + z)[z]
        sizes, times = [], []
        for tile in chosen:
            for _ in range(3):
                started = time.perf_counter()
                data = tiles.render_tile("lines", *tile, encoder="postgis")
                times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(data))
        low[str(z)] = {"tiles": len(chosen), "ms_median": round(statistics.median(times), 1),
                       "ms_max": round(max(times), 1), "bytes_max": max(sizes)}
    if args.explain:
        explain(tiles_by_zoom)
    overrides.disable()

    report_zooms, ratios, cached_ratios, worst_bytes = {}, [], [], 0
    for z, per_layer in results.items():
        layers_out, no_rule, all_endpoint = {}, {}, []
        for layer, samples in per_layer.items():
            all_endpoint += samples["endpoint_ms"]
            worst_bytes = max(worst_bytes, *samples["bytes"])
            if not samples["raw_ms"]:
                no_rule[layer] = {"endpoint_ms": summary(samples["endpoint_ms"])}
                continue
            endpoint, raw, service = samples["endpoint_ms"], samples["raw_ms"], samples["service_ms"]
            ratio_median = statistics.median(endpoint) / statistics.median(raw)
            ratio_p95 = float(np.percentile(endpoint, 95) / np.percentile(raw, 95))
            ratios.append((f"z{z} {layer}", ratio_median, ratio_p95))
            cached = samples["cached_ms"]
            cached_ratios.append((f"z{z} {layer}", statistics.median(cached) / statistics.median(raw),
                                  float(np.percentile(cached, 95) / np.percentile(raw, 95))))
            layers_out[layer] = {
                "requests": len(endpoint),
                "endpoint_ms": summary(endpoint),
                "raw_sql_ms": summary(raw),
                "service_sql_ms": summary(service),
                "ratio_median": round(ratio_median, 2),
                "ratio_p95": round(ratio_p95, 2),
                "raw_prepared_sql_ms": summary(samples["raw_prepared_ms"]),
                "ratio_vs_prepared_raw_median": round(statistics.median(endpoint) / statistics.median(
                    samples["raw_prepared_ms"]), 2),
                "endpoint_recheck_ms": summary(samples["endpoint_recheck_ms"]),
                "ratio_recheck_median": round(statistics.median(samples["endpoint_recheck_ms"])
                                              / statistics.median(raw), 2),
                "endpoint_cached_ms": summary(cached),
                "ratio_cached_median": round(cached_ratios[-1][1], 2),
                "ratio_cached_p95": round(cached_ratios[-1][2], 2),
                "service_sql_vs_raw_median": round(statistics.median(service)
                                                   / statistics.median(raw), 2),
                "http_overhead_ms_median": round(statistics.median(endpoint)
                                                 - statistics.median(service), 2),
                "bytes": {"median": int(statistics.median(samples["bytes"])),
                          "p95": int(np.percentile(samples["bytes"], 95)),
                          "max": max(samples["bytes"])},
                "features": {"median": statistics.median(samples["features"]),
                             "max": max(samples["features"])},
            }
        report_zooms[str(z)] = {"tiles": len(tiles_by_zoom[z]), "layers": layers_out,
                                "no_rule": no_rule,
                                "endpoint_ms_all_requests": summary(all_endpoint),
                                "breakdown_ms_median": split[str(z)]}
    z14 = report_zooms.get("14", {}).get("endpoint_ms_all_requests", {}).get("p95")
    met = {
        "ratio": all(r <= GOAL_RATIO and p <= GOAL_RATIO for _, r, p in ratios),
        "ratio_cached": all(r <= GOAL_RATIO and p <= GOAL_RATIO for _, r, p in cached_ratios),
        "size": worst_bytes < GOAL_MAX_BYTES,
        "z14_p95": z14 is not None and z14 < GOAL_Z14_P95_MS,
    }
    result = {
        "benchmark": "tiles",
        "tiles_per_zoom": args.tiles,
        "rounds": args.rounds,
        "zooms": report_zooms,
        "naive_unfiltered": naive,
        "low_zoom_lines_service": low,
        "worst_ratio": max(((n, round(r, 2), round(p, 2)) for n, r, p in ratios),
                           key=lambda item: max(item[1], item[2]), default=None),
        "worst_ratio_cached": max(((n, round(r, 2), round(p, 2)) for n, r, p in cached_ratios),
                                  key=lambda item: max(item[1], item[2]), default=None),
        "max_tile_bytes": worst_bytes,
        "goals": {"ratio": f"endpoint ≤ {GOAL_RATIO:g}x bare ST_AsMVT SQL (median and p95), "
                           "tile cache off (every request renders)",
                  "ratio_cached": "the same, as served: tile cache on, the tile fetched once "
                                  "before (a version query and a cache read per request)",
                  "size": f"every tile < {GOAL_MAX_BYTES // 1024} KB",
                  "z14_p95": f"p95 of z14 requests < {GOAL_Z14_P95_MS:g} ms"},
        "met": met,
    }
    clean()
    check_unchanged(BENCH, checked, data_counts())
    write_result(result, args.output, data=checked)


if __name__ == "__main__":
    main()
