"""What the benchmarks share: each one's own database, Django, the data check and the result file.

A benchmark never touches the database ``DATABASE_URL`` names. Each works in its own database,
``gridtwin_bench_<name>`` on the same server (:func:`use_bench_database`), which it creates (with
PostGIS), migrates, seeds and cleans itself, so that any benchmark can run alone, in any order
and twice in a row on the same data.

Every benchmark states the data it is documented to measure in one place (its
``expected_counts``: rows per table, exact or a ``(minimum, maximum)`` range) and checks it
before measuring and again before reporting (:func:`checked_data`): when the data differs it
refuses, with a non-zero exit and the differences, rather than report figures for other data.
:func:`write_result` puts the checked counts and the code's commit beside every figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATABASE_PREFIX = "gridtwin_bench_"

_STARTED: dict = {}
# An expected count: exactly n rows, or a (minimum, maximum) range, either end None for open.
Expected = int | tuple[int | None, int | None]


# --- databases --------------------------------------------------------------------------------
def database_name(bench: str) -> str:
    """The database benchmark ``bench`` owns: ``gridtwin_bench_<bench>``."""
    return f"{DATABASE_PREFIX}{bench}"


def server_url(url: str | None = None) -> str:
    """``DATABASE_URL`` (or ``url``), checked to be a PostGIS URL."""
    url = os.environ.get("DATABASE_URL", "") if url is None else url
    scheme = urlsplit(url).scheme
    if scheme != "postgis":
        sys.exit("bench: DATABASE_URL must be a PostGIS URL, e.g. "
                 "DATABASE_URL=postgis://user:pass@host:5432/gridtwin "
                 f"({'got a ' + scheme + ':// URL' if scheme else 'not set'}); "
                 "the benchmarks need PostgreSQL/PostGIS.")
    return url


def database_url(name: str, url: str | None = None) -> str:
    """The Django ``DATABASE_URL`` of database ``name`` on the server of ``url``."""
    return urlunsplit(urlsplit(server_url(url))._replace(path=f"/{name}"))


def _conninfo(name: str, url: str | None = None) -> str:
    return urlunsplit(urlsplit(database_url(name, url))._replace(scheme="postgresql"))


def create_database(name: str, *, template: str | None = None, url: str | None = None) -> bool:
    """Create database ``name`` with PostGIS on the server of ``url`` unless it exists.

    Parameters
    ----------
    name
        The database.
    template
        A database with PostGIS to copy (it must have no other sessions), e.g. one already
        migrated.
    url
        A PostGIS URL of the server (default ``DATABASE_URL``).

    Returns
    -------
    bool
        Whether it was created.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(_conninfo("postgres", url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    if not template:  # a template's copy has PostGIS already
        with psycopg.connect(_conninfo(name, url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return True


def drop_database(name: str, *, url: str | None = None) -> None:
    """Drop database ``name`` (ending its sessions) when it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_conninfo("postgres", url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def use_bench_database(bench: str) -> str:
    """Point this process (and the children it starts) at ``bench``'s own database, created if
    missing; its name. Call before :func:`setup_django`."""
    name = database_name(bench)
    if create_database(name):
        print(f"[{bench}] created database {name}", file=sys.stderr, flush=True)
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ["DEBUG"] = "0"  # DEBUG=1 would log every query and distort the timings
    _STARTED.setdefault("code", code_version())  # the code as the run starts
    return name


def setup_django() -> None:
    """Start Django on the repository's settings (after :func:`use_bench_database`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))
    import django

    django.setup()


def migrate() -> None:
    """Bring the current database's schema up to date (every run: the code may have moved on)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- the data check ---------------------------------------------------------------------------
def table_counts(tables: Iterable, where: Mapping[str, str] | None = None) -> dict[str, int]:
    """Rows per table (a name, or a model: its table) in the current database, optionally under
    a ``WHERE`` condition per table name."""
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for table in (t if isinstance(t, str) else t._meta.db_table for t in tables):
            condition = f" WHERE {where[table]}" if where and table in where else ""
            cur.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}{condition}")
            out[table] = cur.fetchone()[0]
    return out


def count_problems(counts: Mapping[str, int], expected: Mapping[str, Expected]) -> list[str]:
    """How ``counts`` differ from ``expected`` (empty when they agree)."""
    problems = []
    for name, want in expected.items():
        have = counts.get(name)
        if have is None:
            problems.append(f"{name}: not counted")
        elif isinstance(want, int):
            if have != want:
                problems.append(f"{name}: {have:,} rows, expected {want:,}")
        else:
            low, high = want
            if (low is not None and have < low) or (high is not None and have > high):
                bounds = " and ".join(f"{word} {n:,}" for word, n in
                                      (("at least", low), ("at most", high)) if n is not None)
                problems.append(f"{name}: {have:,} rows, expected {bounds}")
    return problems


def expected_json(expected: Mapping[str, Expected]) -> dict:
    """``expected`` as JSON: an exact count, or ``{"min": …, "max": …}``."""
    return {name: want if isinstance(want, int) else
            {k: v for k, v in (("min", want[0]), ("max", want[1])) if v is not None}
            for name, want in expected.items()}


def refuse_if(bench: str, problems: list[str]) -> None:
    """Exit (status 1) naming ``problems`` with the data, if there are any."""
    if problems:
        sys.exit(f"{bench}: refusing to report: the data in {database_name(bench)} is not what "
                 "this benchmark is documented to measure:\n  " + "\n  ".join(problems)
                 + f"\n(drop the database to start afresh: DROP DATABASE {database_name(bench)})")


def checked_data(bench: str, counts: Mapping[str, int], expected: Mapping[str, Expected],
                 **extra) -> dict:
    """The data section of a result: the database, its ``counts`` and what was ``expected``.

    Exits (status 1) with the differences when ``counts`` are not what the benchmark is
    documented to measure: no figure is reported for other data.
    """
    refuse_if(bench, count_problems(counts, expected))
    return {"database": database_name(bench), "counts": dict(counts),
            "expected": expected_json(expected), **extra}


def check_unchanged(bench: str, data: dict, counts: Mapping[str, int]) -> None:
    """Refuse (exit status 1) when ``counts`` differ from those ``data`` was checked with: the
    data changed during the run (the run did not clean up, or something else wrote)."""
    checked_data(bench, counts, data["counts"])


# --- the result -------------------------------------------------------------------------------
def code_version() -> dict:
    """The commit of the code measured (``git rev-parse HEAD``) and whether the tree differs
    from it (``dirty``: changed or untracked files that git does not ignore)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain")
    return {"commit": commit or None, "dirty": bool(changed) if commit else None}


def write_result(result: dict, output: Path, *, data: dict, code: dict | None = None) -> None:
    """Print a benchmark's result as JSON on stdout and write it to ``output`` as well.

    ``data`` (from :func:`checked_data`) and ``code`` (default :func:`code_version` as of
    :func:`use_bench_database`, or now) come first, so that every figure says what it ran on.
    """
    result = {"benchmark": result.get("benchmark") or result.get("bench"),
              "code": code or _STARTED.get("code") or code_version(), "data": data,
              **{k: v for k, v in result.items() if k not in ("benchmark", "bench", "data")}}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    print(f"wrote {output}", file=sys.stderr, flush=True)
