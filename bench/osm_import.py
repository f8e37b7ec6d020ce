"""Benchmark: ``import_osm`` of a whole OSM extract into PostGIS against pyosmium alone.

Run with ``DATABASE_URL=postgis://… .venv/bin/python bench/osm_import.py``.

* Works in its own database, ``gridtwin_bench_osm_import`` on the server of ``DATABASE_URL``
  (created, with PostGIS, when missing; migrated on every run; see ``bench/common.py``). Imports
  go into the region ``bench-osm``, whose assets (with their history rows) are deleted before
  every first import and at the end.
* The data checked (:data:`EXPECTED_FILES`): each file's node count; the import's tables empty
  before every first import; after every import, the rows the file gives (e.g. Liechtenstein:
  1 region, 5 substations, 15 lines, 186 supports, 9 chargers, 8,248 roads). Otherwise the run
  refuses to report.
* Files: the whole of Liechtenstein (``data/demo/liechtenstein-2024-03-04.osm.pbf``, PBF) and the
  Schaan–Vaduz clip (``../shared/data/osm/liechtenstein-schaan-vaduz-2024-03-04.osm.bz2``, bzip2
  OSM XML; skipped with a note when absent). XML is much slower to parse than PBF, so each file's
  import is compared with the baseline on the *same* file.
* Every measurement runs in a fresh child process (this script with ``--child``): Django set up,
  ``twin.ingest.osm`` imported and the database connection open before the clock starts
  and before the child's memory baseline is taken. Timed, interleaved (alternating which goes
  first), over ``--rounds`` rounds after ``--warmup`` untimed ones:

  - ``pyosmium`` — the baseline: pyosmium alone reads the same features from the same file, the
    way the importer does (``FileProcessor(…).with_locations().with_areas()
    .with_filter(KeyFilter("power", "amenity"))``, plus ``"highway"`` when the importer also
    keeps basemap roads) and builds their geometries with ``osmium.geom.WKBFactory``, keeping
    tags, WKB and a line's node ids (a road's class and name): what any importer must at least
    do;
  - ``read`` — ``read_osm_power`` (the importer's read phase alone; for the breakdown);
  - ``import_first`` — ``import_osm`` into the empty region (everything created);
  - ``import_again`` — ``import_osm`` of the same file once more (everything unchanged).

* Peak memory: ``ru_maxrss`` of the child at the end of the measurement minus at its start
  (after the set-up above), in MB. The parent never loads Django (migrations and clean-ups run in
  children too): Linux hands a parent's RSS on to its children's ``ru_maxrss``, which would hide
  their own peak.
* Checks: the first import must only create, the re-import leave everything unchanged.
* ``--profile``: afterwards, both imports of each file once more under cProfile: top functions to
  stderr, ``.prof`` files beside the output (``bench/results/osm_import-<file>-<mode>.prof``),
  and per import the cumulative seconds of its steps and the SQL statements by kind and table
  in the JSON (``profiles``).
* ``--hook FILE.py``: a file every measuring child runs before its clock starts — a monkeypatch
  of ``twin.services`` to try a fix without editing ``twin/`` (listed in the output).

Map data © OpenStreetMap contributors, ODbL 1.0. Progress goes to stderr; the result is one JSON
object on stdout, also written to ``bench/results/osm_import.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
if not __package__:  # run as a script: import from the repository (bench/routing.py is no app)
    sys.path[:] = [str(REPO_DIR), *(p for p in sys.path if Path(p).resolve() != BENCH_DIR)]
from bench.common import (  # noqa: E402
    Expected,
    check_unchanged,
    checked_data,
    count_problems,
    expected_json,
    migrate,
    refuse_if,
    setup_django,
    table_counts,
    use_bench_database,
    write_result,
)

BENCH = "osm_import"
FILES = [  # (label, path)
    ("schaan-vaduz-clip", Path(__file__).resolve().parents[2]
     / "shared/data/osm/liechtenstein-schaan-vaduz-2024-03-04.osm.bz2"),
    ("liechtenstein", REPO_DIR / "data/demo/liechtenstein-2024-03-04.osm.pbf"),
]
REGION = "bench-osm"
# The tables an import writes. Before every first import they are empty (the database is the
# benchmark's own); after it they hold what the file gives (EXPECTED_FILES).
TABLES = ("twin_region", "twin_substation", "twin_line", "twin_support", "twin_support_lines",
          "twin_charger", "twin_evse", "twin_connector", "twin_road")
# What the benchmark is documented to measure, per file: its nodes, and the rows a first import
# leaves in the empty database (the re-import leaves the same).
EXPECTED_FILES: dict[str, dict[str, int]] = {
    "schaan-vaduz-clip": {"nodes": 47_818, "twin_region": 1, "twin_substation": 2,
                          "twin_line": 6, "twin_support": 140, "twin_support_lines": 143,
                          "twin_charger": 4, "twin_evse": 16, "twin_connector": 12,
                          "twin_road": 1_703},
    "liechtenstein": {"nodes": 318_592, "twin_region": 1, "twin_substation": 5, "twin_line": 15,
                      "twin_support": 186, "twin_support_lines": 194, "twin_charger": 9,
                      "twin_evse": 32, "twin_connector": 14, "twin_road": 8_248},
}
GOAL_RATIO = 3.0
MODES = ("pyosmium", "read", "import_first", "import_again")
CHILD_MODES = (*MODES, "prepare", "clean")
IMPORT_KINDS = ("substation", "line", "support", "charger")
STATEMENT_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"([^"]+)"')
# import_osm's steps, as cumulative seconds in the cProfile runs (sync_records: all four models,
# including the valid_records generator it consumes); names of older versions kept
PHASES = {"osm.py": ("read_osm_power", "_collect", "connect_line_ends", "_link_supports",
                            "_sync_roads", "_geos", "_sync_evses", "_valid"),
          "base.py": ("sync_records", "valid_records", "validate_record", "clean_geometry",
                        "sync_evses", "sync_support_lines")}
CODE = ("twin/ingest/osm.py", "twin/ingest/base.py")  # fingerprinted in the output


def log(message: str) -> None:
    print(f"[osm_import] {message}", file=sys.stderr, flush=True)


def expected_counts(label: str | None = None) -> dict[str, Expected]:
    """Rows of :data:`TABLES`: none before a first import (``label`` None), or what a first
    import of file ``label`` leaves (:data:`EXPECTED_FILES`)."""
    if label is None:
        return dict.fromkeys(TABLES, 0)
    return {table: n for table, n in EXPECTED_FILES[label].items() if table in TABLES}


def data_counts() -> dict[str, int]:
    """Rows per table an import writes."""
    return table_counts(TABLES)


def seed() -> None:
    """Nothing is kept: every first import starts from the empty database (see :func:`clean`)."""
    clean()


def clean() -> None:
    """What a run leaves: the bench region and everything imported into it."""
    clean_region()


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux


# --- the baseline: pyosmium alone -------------------------------------------------------------
def pyosmium_read(path: Path) -> dict:
    """Read the features ``import_osm`` keeps, with their geometries as WKB; counts by kind.

    Same processor set-up as ``read_osm_power``; per matching object: its tags as a dict, its
    geometry from ``WKBFactory`` (point, way linestring or area multipolygon) and, for lines, the
    node ids (needed to link supports). The features are kept in a list, as an importer would.
    When the importer also keeps basemap roads (``ROAD_KINDS``), so does the baseline: the
    ``highway`` key is filtered too and each road way's class, name and linestring are kept.
    """
    import osmium

    from twin.ingest import osm as osm_import

    line_kinds, support_kinds = osm_import.LINE_KINDS, osm_import.SUPPORT_KINDS
    road_kinds = getattr(osm_import, "ROAD_KINDS", None)
    keys = ("power", "amenity", *(("highway",) if road_kinds else ()))
    wkb = osmium.geom.WKBFactory()
    features: list[tuple] = []
    counts = {"node": 0, "way_line": 0, "way_substation": 0, "area": 0, "way_road": 0,
              "invalid": 0, "objects": 0}
    processor = (osmium.FileProcessor(str(path)).with_locations().with_areas()
                 .with_filter(osmium.filter.KeyFilter(*keys)))
    for obj in processor:
        counts["objects"] += 1
        tags = obj.tags
        power, amenity = tags.get("power"), tags.get("amenity")
        try:
            if road_kinds and obj.is_way() and tags.get("highway") in road_kinds:
                if len(obj.nodes) >= 2:
                    features.append((obj.id, tags.get("highway"), tags.get("name", ""),
                                     wkb.create_linestring(obj)))
                    counts["way_road"] += 1
            elif obj.is_node():
                if (power in support_kinds or power == "substation"
                        or amenity == "charging_station"):
                    features.append((obj.id, dict(tags), wkb.create_point(obj)))
                    counts["node"] += 1
            elif obj.is_way():
                if power in line_kinds:
                    features.append((obj.id, dict(tags), wkb.create_linestring(obj),
                                     [n.ref for n in obj.nodes]))
                    counts["way_line"] += 1
                elif power == "substation" and obj.is_closed() and len(obj.nodes) >= 4:
                    features.append((obj.id, dict(tags), wkb.create_linestring(obj)))
                    counts["way_substation"] += 1
            elif obj.is_area() and (power == "substation" or amenity == "charging_station"):
                features.append((obj.orig_id(), dict(tags), wkb.create_multipolygon(obj)))
                counts["area"] += 1
        except (osmium.InvalidLocationError, RuntimeError):
            counts["invalid"] += 1
    counts["features"] = len(features)
    return {"keys": list(keys), **counts}


def count_objects(path: Path) -> dict:
    """Nodes, ways and relations in the file (untimed; to relate memory to file content)."""
    import osmium

    class Counter(osmium.SimpleHandler):
        def __init__(self):
            super().__init__()
            self.counts = {"nodes": 0, "ways": 0, "relations": 0}

        def node(self, n):
            self.counts["nodes"] += 1

        def way(self, w):
            self.counts["ways"] += 1

        def relation(self, r):
            self.counts["relations"] += 1

    counter = Counter()
    counter.apply_file(str(path))
    return counter.counts


# --- child: one measurement in a fresh process ------------------------------------------------
def child(args) -> None:
    # Linux carries the RSS of the forking parent into a child's ru_maxrss across exec; a large
    # parent would hide the child's own peak. The parent therefore stays small (no Django), and
    # ru_maxrss at exec is reported so the parent can check it stayed below the child's baseline.
    rss_exec = maxrss_kb()
    setup_django()
    if args.child in ("prepare", "clean"):
        if args.child == "clean":
            clean()
        print(json.dumps(prepare(args.files) if args.child == "prepare" else data_counts()))
        return
    import gc

    import osmium  # noqa: F401  (loaded before the memory baseline, as the importer needs it)
    from django.db import connection

    from twin.ingest import osm as osm_import
    from twin.ingest.base import ImportReport

    connection.ensure_connection()
    for hook in args.hook:  # e.g. a monkeypatch trying a fix, before the clock starts
        import runpy

        runpy.run_path(str(hook))
    tables_before = None
    if args.child == "import_first":
        clean_region()  # an empty region (outside the measurement)
        tables_before = data_counts()
    sql = {"queries": 0, "seconds": 0.0}
    by_statement: dict[str, list] = {}  # under --profile-to: "VERB table" -> [count, seconds]

    def count_sql(execute, query, params, many, context):
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            spent = time.perf_counter() - started
            sql["queries"] += 1
            sql["seconds"] += spent
            if args.profile_to:
                table = STATEMENT_TABLE.search(query)
                key = f"{query.split(None, 1)[0].upper()} {table.group(1) if table else ''}".strip()
                entry = by_statement.setdefault(key, [0, 0.0])
                entry[0] += 1
                entry[1] += spent

    profiler = None
    if args.profile_to:
        import cProfile

        profiler = cProfile.Profile()
    gc.collect()
    rss_start = maxrss_kb()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    with connection.execute_wrapper(count_sql):
        if args.child == "pyosmium":
            result = pyosmium_read(args.files[0])
        elif args.child == "read":
            osm = osm_import.read_osm_power(args.files[0], ImportReport(source=str(args.files[0])))
            result = {"substations": len(osm.substations), "lines": len(osm.lines),
                      "supports": len(osm.supports), "chargers": len(osm.chargers)}
        else:
            report = osm_import.import_osm(args.files[0], region_name=REGION)
            result = {"counts": {k: {o: n for o, n in v.items() if n}
                                 for k, v in report["counts"].items()},
                      "skipped": len(report["skipped"]), "warnings": len(report["warnings"])}
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(args.profile_to))
    rss_end = maxrss_kb()
    tables = data_counts() if args.child.startswith("import") else None
    print(json.dumps({"mode": args.child, "seconds": seconds, "rss_start_kb": rss_start,
                      "rss_peak_kb": rss_end, "rss_exec_kb": rss_exec, "sql_queries": sql["queries"],
                      "tables_before": tables_before, "tables": tables,
                      "sql_seconds": sql["seconds"], "result": result,
                      "sql_by_statement": {k: [n, round(t, 4)] for k, (n, t) in sorted(
                          by_statement.items(), key=lambda kv: -kv[1][1])}}))


HOOKS: list[Path] = []  # --hook files, passed on to every child


def run_child(mode: str, *paths: Path, profile: Path | None = None):
    """Run this script with ``--child mode`` in a fresh process; its JSON answer."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode,
               *(arg for p in paths for arg in ("--file", str(p))),
               *(arg for h in HOOKS for arg in ("--hook", str(h)))]
    if profile:
        command += ["--profile-to", str(profile)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"osm_import: the {mode} child failed"
                 f"{' on ' + paths[0].name if paths else ''} (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- parent -----------------------------------------------------------------------------------
def clean_region() -> dict:
    """Delete the bench region, its OSM assets, their EVSEs, links and history rows (raw SQL:
    no history rows for the deletion itself, so every first import starts from the same state)."""
    from django.db import connection, models, transaction

    from markets.models import PricingNode
    from twin.models import EVSE, Charger, Connector, Line, Region, Substation, Support

    def table(model):
        return connection.ops.quote_name(model._meta.db_table)

    def history(model):
        return connection.ops.quote_name(model.history.model._meta.db_table)

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {table(Region)} WHERE name = %s", [REGION])
        regions = [r[0] for r in cur.fetchall()]
        if not regions:
            return {"deleted_assets": 0}
        ids = {}
        for model in (Substation, Line, Support, Charger):
            cur.execute(f"SELECT id FROM {table(model)} WHERE source = 'osm' AND region_id = ANY(%s)",
                        [regions])
            ids[model] = [r[0] for r in cur.fetchall()]
        cur.execute(f"SELECT DISTINCT id FROM {history(EVSE)} WHERE charger_id = ANY(%s)",
                    [ids[Charger]])
        evses = [r[0] for r in cur.fetchall()]
        # live rows, children first
        cur.execute(f"DELETE FROM {table(Connector)} WHERE evse_id = ANY(%s)", [evses])
        cur.execute(f"DELETE FROM {table(EVSE)} WHERE charger_id = ANY(%s)", [ids[Charger]])
        through = connection.ops.quote_name(Support.lines.through._meta.db_table)
        cur.execute(f"DELETE FROM {through} WHERE support_id = ANY(%s) OR line_id = ANY(%s)",
                    [ids[Support], ids[Line]])
        cur.execute(f"UPDATE {table(PricingNode)} SET substation_id = NULL "
                    "WHERE substation_id = ANY(%s)", [ids[Substation]])
        for model in (Line, Support, Charger, Substation):
            cur.execute(f"DELETE FROM {table(model)} WHERE id = ANY(%s)", [ids[model]])
        for rel in Region._meta.get_fields(include_hidden=True):  # other rows of the region
            if rel.one_to_many and rel.auto_created and rel.field.db_constraint:
                column = connection.ops.quote_name(rel.field.column)
                if rel.on_delete is models.CASCADE:  # e.g. the basemap roads
                    cur.execute(f"DELETE FROM {table(rel.related_model)} WHERE {column} = ANY(%s)",
                                [regions])
                elif rel.field.null:
                    cur.execute(f"UPDATE {table(rel.related_model)} SET {column} = NULL "
                                f"WHERE {column} = ANY(%s)", [regions])
        cur.execute(f"DELETE FROM {table(Region)} WHERE id = ANY(%s)", [regions])
        # their history
        m2m_history = [m for m in Support.history.model._meta.get_fields()
                       if getattr(m, "related_model", None) is not None
                       and m.related_model.__name__.startswith("HistoricalSupport_")]
        for rel in m2m_history:
            cur.execute(f"DELETE FROM {connection.ops.quote_name(rel.related_model._meta.db_table)}"
                        " WHERE support_id = ANY(%s) OR line_id = ANY(%s)",
                        [ids[Support], ids[Line]])
        cur.execute(f"DELETE FROM {history(Connector)} WHERE evse_id = ANY(%s)", [evses])
        cur.execute(f"DELETE FROM {history(EVSE)} WHERE id = ANY(%s)", [evses])
        for model in (Line, Support, Charger, Substation):
            cur.execute(f"DELETE FROM {history(model)} WHERE id = ANY(%s)", [ids[model]])
        cur.execute(f"DELETE FROM {history(Region)} WHERE id = ANY(%s)", [regions])
    return {"deleted_assets": sum(len(v) for v in ids.values())}


def prepare(files: list[Path]) -> dict:
    """Migrate the bench database, empty the bench region, count its tables (all must be empty:
    ``sync_records`` matches by ``source_id`` across regions, so any OSM asset there could turn
    "created" into "updated"), describe the files."""
    log(f"migrating {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}")
    migrate()
    seed()
    return {"tables": data_counts(),
            "files": {str(p): {"bytes": p.stat().st_size, **count_objects(p)} for p in files}}


def code_fingerprint() -> dict:
    """First 12 hex digits of the sha256 of the code measured (it may change between runs)."""
    import hashlib

    return {name: hashlib.sha256((REPO_DIR / name).read_bytes()).hexdigest()[:12]
            for name in CODE}


def summary(values: list[float], digits: int = 3) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def check_counts(label: str, mode: str, result: dict) -> list[str]:
    """Problems with an import's outcome: the first must create everything, the second change
    nothing."""
    want = "created" if mode == "import_first" else "unchanged"
    problems = []
    for kind in sorted({*IMPORT_KINDS, *result["counts"]}):
        outcomes = result["counts"].get(kind, {})
        other = {o: n for o, n in outcomes.items() if o not in (want, "skipped")}
        if other:
            problems.append(f"{label} {mode}: {kind} {other} (expected only {want})")
    return problems


def check_tables(label: str, mode: str, answer: dict) -> None:
    """Refuse when an import did not start from the empty database or did not leave what the
    file gives (:func:`expected_counts`)."""
    problems = []
    if answer["tables_before"] is not None:
        problems += [f"{label} {mode}, before: {p}"
                     for p in count_problems(answer["tables_before"], expected_counts())]
    problems += [f"{label} {mode}, after: {p}"
                 for p in count_problems(answer["tables"], expected_counts(label))]
    refuse_if(BENCH, problems)


def measure_round(label: str, path: Path, first: str) -> dict:
    """One run of each mode on ``path``; ``first`` ("baseline" or "import") goes first."""
    out = {}

    def baseline():
        out["pyosmium"] = run_child("pyosmium", path)
        out["read"] = run_child("read", path)

    def imports():
        out["import_first"] = run_child("import_first", path)
        out["import_again"] = run_child("import_again", path)

    for step in (baseline, imports) if first == "baseline" else (imports, baseline):
        step()
    return out


def profile(files: list[tuple[str, Path]], top: int, output: Path) -> dict:
    """cProfile of both imports of every file (to stderr; .prof files beside ``output``)."""
    import pstats

    out = {}
    for label, path in files:
        for mode in ("import_first", "import_again"):  # import_first empties the region first
            prof = output.with_name(f"{output.stem}-{label}-{mode}.prof")
            prof.parent.mkdir(parents=True, exist_ok=True)
            answer = run_child(mode, path, profile=prof)
            check_tables(label, mode, answer)
            stats = pstats.Stats(str(prof))
            phases = {}
            for (filename, _, func), (_, _, _, cumulative, _) in stats.stats.items():
                for module, names in PHASES.items():
                    if filename.endswith(f"twin/ingest/{module}") and func in names:
                        phases[func] = round(phases.get(func, 0.0) + cumulative, 3)
            total = stats.total_tt
            log(f"--- cProfile {label} {mode} ({total:.2f} s under the profiler), "
                f"top {top} by cumulative time:")
            stats.sort_stats("cumulative")
            stats.stream = sys.stderr
            stats.print_stats(top)
            log(f"--- {label} {mode}: top {top} by own time:")
            stats.sort_stats("tottime")
            stats.print_stats(top)
            out[f"{label}/{mode}"] = {
                "file": os.path.relpath(prof, REPO_DIR),
                "seconds_under_profiler": round(answer["seconds"], 3),
                "sql_queries": answer["sql_queries"],
                "sql_seconds": round(answer["sql_seconds"], 3),
                "phases_cumulative_s": dict(sorted(phases.items(), key=lambda kv: -kv[1])),
                "sql_by_statement_top": dict(list(answer["sql_by_statement"].items())[:12]),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    parser.add_argument("--profile", action="store_true",
                        help="also run both imports of each file under cProfile (to stderr)")
    parser.add_argument("--profile-top", type=int, default=30, help="rows per cProfile table (30)")
    parser.add_argument("--hook", type=Path, action="append", default=[], metavar="FILE.py",
                        help="a Python file each measuring child runs after its set-up, before "
                        "the clock starts, e.g. a monkeypatch of twin.services (repeatable; to "
                        "try a fix without editing twin/)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results/osm_import.json")
    # child mode (internal)
    parser.add_argument("--child", choices=CHILD_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, action="append", dest="files", default=[],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.rounds < 1:
        sys.exit("osm_import: --rounds must be at least 1")
    for hook in args.hook:
        if not hook.is_file():
            sys.exit(f"osm_import: --hook {hook}: no such file")
        HOOKS.append(hook.resolve())

    files, notes = [], []
    for label, path in FILES:
        if path.is_file():
            files.append((label, path))
        else:
            notes.append(f"{label}: {path} not found, skipped")
            log(f"note: {notes[-1]}")
    if not any(label == "liechtenstein" for label, _ in files):
        sys.exit(f"osm_import: the country extract is missing: {FILES[1][1]}")
    use_bench_database(BENCH)
    # No Django in this process: the measurements run in children, and Linux hands a parent's
    # RSS on to its children's ru_maxrss (see inherited_maxrss_kb), so the parent stays small.
    prepared = run_child("prepare", *(path for _, path in files))

    file_info = {}
    for label, path in files:
        file_info[label] = {"path": os.path.relpath(path, REPO_DIR),
                            "format": "pbf" if path.suffix == ".pbf" else "osm xml (bzip2)",
                            **prepared["files"][str(path)]}
        log(f"{label}: {file_info[label]['bytes']:,} bytes, {file_info[label]['nodes']:,} nodes, "
            f"{file_info[label]['ways']:,} ways, {file_info[label]['relations']:,} relations")
    refuse_if(BENCH, [f"{label}: {file_info[label]['nodes']:,} nodes in the file, expected "
                      f"{EXPECTED_FILES[label]['nodes']:,}" for label, _ in files
                      if file_info[label]["nodes"] != EXPECTED_FILES[label]["nodes"]])
    checked = checked_data(BENCH, prepared["tables"], expected_counts(), after_first_import={
        label: expected_json(expected_counts(label)) for label, _ in files})

    runs: dict[str, dict[str, list[dict]]] = {label: {m: [] for m in MODES} for label, _ in files}
    problems: list[str] = []
    outcome_problems: list[str] = []
    code = code_fingerprint()
    total = args.warmup + args.rounds
    for round_no in range(total):
        warm = round_no < args.warmup
        for i, (label, path) in enumerate(files):
            first = "baseline" if (round_no + i) % 2 == 0 else "import"
            started = time.perf_counter()
            out = measure_round(label, path, first)
            for mode in ("import_first", "import_again"):
                check_tables(label, mode, out[mode])
                outcome_problems += check_counts(label, mode, out[mode]["result"])
            problems += [f"{label} {m}: ru_maxrss at exec {out[m]['rss_exec_kb']} KB is not below "
                         f"the baseline {out[m]['rss_start_kb']} KB; the peak is hidden"
                         for m in MODES if out[m]["rss_exec_kb"] >= out[m]["rss_start_kb"]]
            log(f"{'warm-up' if warm else 'round'} {round_no + 1 - (0 if warm else args.warmup)}"
                f" {label} ({first} first): "
                + ", ".join(f"{m} {out[m]['seconds']:.3f} s" for m in MODES)
                + f" [{time.perf_counter() - started:.1f} s wall]")
            if not warm:
                for mode in MODES:
                    runs[label][mode].append(out[mode])
    check_unchanged(BENCH, checked, run_child("clean"))
    profiles = profile(files, args.profile_top, args.output) if args.profile else None
    if profiles:
        check_unchanged(BENCH, checked, run_child("clean"))
    if code_fingerprint() != code:
        problems.append(f"{' or '.join(CODE)} changed during the run: the numbers mix versions")

    per_file, overview, met = {}, {}, True
    for label, _ in files:
        seconds = {m: [r["seconds"] for r in runs[label][m]] for m in MODES}
        medians = {m: statistics.median(v) for m, v in seconds.items()}
        rss = {m: [(r["rss_peak_kb"] - r["rss_start_kb"]) / 1024 for r in runs[label][m]]
               for m in MODES}
        ratio_first = medians["import_first"] / medians["pyosmium"]
        ratio_again = medians["import_again"] / medians["pyosmium"]
        file_met = ratio_first <= GOAL_RATIO and ratio_again <= GOAL_RATIO
        met = met and file_met
        last = {m: runs[label][m][-1] for m in MODES}
        overview[label] = {
            "bytes": file_info[label]["bytes"], "nodes": file_info[label]["nodes"],
            "median_s": {m: round(medians[m], 3) for m in ("pyosmium", "import_first",
                                                            "import_again")},
            "ratio_import_first": round(ratio_first, 2),
            "ratio_import_again": round(ratio_again, 2),
            "met": file_met,
            "peak_rss_mb": {m: round(statistics.median(rss[m]), 1)
                            for m in ("pyosmium", "import_first", "import_again")},
        }
        per_file[label] = {
            **file_info[label],
            "seconds": {m: summary(v) for m, v in seconds.items()},
            "ratio_import_first": round(ratio_first, 2),
            "ratio_import_again": round(ratio_again, 2),
            "ratio_read_phase": round(medians["read"] / medians["pyosmium"], 2),
            "write_phase_s_median": {
                "import_first": round(medians["import_first"] - medians["read"], 3),
                "import_again": round(medians["import_again"] - medians["read"], 3)},
            "sql_median": {m: {"queries": statistics.median(r["sql_queries"] for r in runs[label][m]),
                               "seconds": round(statistics.median(
                                   r["sql_seconds"] for r in runs[label][m]), 3)}
                           for m in ("import_first", "import_again")},
            "peak_rss_mb": {m: {"median": round(statistics.median(v), 1),
                                "max": round(max(v), 1)} for m, v in rss.items()},
            "rss_after_setup_mb": round(statistics.median(
                r["rss_start_kb"] for m in MODES for r in runs[label][m]) / 1024, 1),
            "baseline_features": last["pyosmium"]["result"],
            "import_counts": {m: last[m]["result"] for m in ("import_first", "import_again")},
        }
    result = {
        "benchmark": "osm_import",
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "code_sha256": code,
        "hooks": [str(h) for h in HOOKS],
        "summary": overview,
        "files": per_file,
        "goal": f"import within {GOAL_RATIO:g}x of pyosmium alone (first import and re-import, "
                "each file); peak memory flat in file size",
        "met": met,
        "counts_ok": not outcome_problems,
        "problems": sorted(set(outcome_problems + problems)),
        "notes": notes,
    }
    if profiles:
        result["profiles"] = profiles
    write_result(result, args.output, data=checked)


if __name__ == "__main__":
    main()
