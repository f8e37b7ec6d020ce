"""Bulk storage of nodal prices: the one way prices get into the database.

Prices are stored per MWh in the market's currency for half-open UTC intervals
``[interval_start, interval_end)``. :func:`store_prices` is the one way in: an idempotent bulk
upsert keyed by ``(node, run, interval_start, version)`` (PostgreSQL ``COPY`` into a temporary
table, then one ``INSERT … ON CONFLICT DO UPDATE`` that only touches rows whose values differ;
on SpatiaLite a plain ``executemany`` fallback with the same outcome).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction

from markets.models import MarketRun, NodalPrice, PricingNode

PRICE_COMPONENTS = ("energy_per_mwh", "congestion_per_mwh", "loss_per_mwh", "ghg_per_mwh")
PRICE_VALUES = ("lmp_per_mwh", *PRICE_COMPONENTS)
# Column order of the executemany fallback rows.
_COLUMNS = ("node_id", "run", "interval_start", "interval_end", *PRICE_VALUES, "version", "source")
_RUNS = frozenset(MarketRun.values)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = 946_684_800 * 1_000_000  # PostgreSQL's binary timestamps count from 2000-01-01
_US = timedelta(microseconds=1)


@dataclass
class PriceBatch:
    """Checked prices as columns: what :func:`store_prices` writes in one statement.

    Times are integer microseconds since 1970-01-01 UTC; a missing component is NaN; ``run``
    and ``source`` are indexes into ``runs`` and ``sources``.
    """

    node_id: np.ndarray
    run: np.ndarray
    runs: list[str]
    start_us: np.ndarray
    end_us: np.ndarray
    values: np.ndarray  # n × 5, PRICE_VALUES order
    version: np.ndarray
    source: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.node_id)

    def times(self, which: str) -> list[datetime]:
        """``start`` or ``end`` times as aware UTC datetimes."""
        codes, uniques = pd.factorize(self.start_us if which == "start" else self.end_us)
        moments = np.array([_EPOCH + int(u) * _US for u in uniques] or [None], dtype=object)
        return moments[codes].tolist()

    def rows(self) -> list[tuple]:
        """One tuple per price in ``_COLUMNS`` order (NaN components as ``None``)."""
        runs = np.array(self.runs, dtype=object)[self.run].tolist()
        sources = np.array(self.sources, dtype=object)[self.source].tolist()
        values = [[None if v != v else v for v in column] for column in self.values.T.tolist()]
        return list(zip(self.node_id.tolist(), runs, self.times("start"), self.times("end"),
                        *values, self.version.tolist(), sources, strict=True))


def _price_batch(rows: Iterable[dict], source: str) -> PriceBatch:
    """Dict rows as a checked :class:`PriceBatch`; raises ``ValueError`` on a bad row."""
    node_ids, runs, starts, ends, values, versions, sources = [], [], [], [], [], [], []
    for i, row in enumerate(rows):
        try:
            node_id, run = int(row["node_id"]), row["run"]
            start, end = row["interval_start"], row["interval_end"]
            lmp = float(row["lmp_per_mwh"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"price row {i}: needs node_id, run, interval_start, interval_end "
                             f"and a numeric lmp_per_mwh ({exc!r})") from exc
        if run not in _RUNS:
            raise ValueError(f"price row {i}: run {run!r} is not one of {', '.join(sorted(_RUNS))}")
        if not (isinstance(start, datetime) and isinstance(end, datetime)
                and start.utcoffset() is not None and end.utcoffset() is not None):
            raise ValueError(f"price row {i}: interval_start/interval_end must be timezone-aware "
                             "datetimes")
        if not end > start:
            raise ValueError(f"price row {i}: interval_end {end.isoformat()} is not after "
                             f"interval_start {start.isoformat()}")
        prices = [lmp]
        for name in PRICE_COMPONENTS:
            value = row.get(name)
            prices.append(math.nan if value is None else float(value))
        if not all(math.isfinite(v) for v in prices if v == v) or lmp != lmp:
            raise ValueError(f"price row {i}: prices must be finite numbers")
        version = int(row.get("version") or 1)
        if not 1 <= version <= 32767:
            raise ValueError(f"price row {i}: version must be 1–32767")
        text = str(row.get("source", source) or "")
        if len(text) > 100:
            raise ValueError(f"price row {i}: source is longer than 100 characters")
        node_ids.append(node_id)
        runs.append(run)
        starts.append((start - _EPOCH) // _US)
        ends.append((end - _EPOCH) // _US)
        values.append(prices)
        versions.append(version)
        sources.append(text)
    return _batch(np.array(node_ids, dtype="int64"), runs, np.array(starts, dtype="int64"),
                  np.array(ends, dtype="int64"),
                  np.array(values, dtype="float64").reshape(-1, len(PRICE_VALUES)),
                  np.array(versions, dtype="int16"), sources)


def _batch(node_id, runs, start_us, end_us, values, version, sources) -> PriceBatch:
    run_codes, run_names = pd.factorize(pd.Series(runs, dtype=object))
    source_codes, source_names = pd.factorize(pd.Series(sources, dtype=object))
    return PriceBatch(node_id=node_id, run=run_codes.astype("int16"), runs=list(run_names),
                      start_us=start_us, end_us=end_us, values=values, version=version,
                      source=source_codes.astype("int16"), sources=list(source_names))


def store_prices(rows: Iterable[dict], *, source: str = "") -> dict:
    """Bulk, idempotent upsert of :class:`~markets.models.NodalPrice` rows.

    Parameters
    ----------
    rows
        Dicts with ``node_id``, ``run`` (a :class:`~markets.models.MarketRun` value),
        ``interval_start`` and ``interval_end`` (timezone-aware, end after start),
        ``lmp_per_mwh`` and optionally ``energy_per_mwh``, ``congestion_per_mwh``,
        ``loss_per_mwh``, ``ghg_per_mwh`` (``None``/NaN = not published), ``version``
        (default 1) and ``source``.
    source
        Stored as ``source`` on rows that do not name their own.

    Returns
    -------
    dict
        ``{"created": n, "updated": n, "unchanged": n}``. A row whose key exists with equal
        values is left alone (counted unchanged); storing a higher ``version`` marks the lower
        versions of that node, run and interval not current.

    Raises
    ------
    ValueError
        A row lacks a key, has an unknown run, naive or non-increasing times, non-finite prices,
        an unknown node, or the input holds the same key twice. Nothing is written then.
    """
    return write_prices(_price_batch(rows, source))


def write_prices(batch: PriceBatch) -> dict:
    """Store a checked :class:`PriceBatch` (see :func:`store_prices`)."""
    if not len(batch):
        return {"created": 0, "updated": 0, "unchanged": 0}
    node_ids = set(np.unique(batch.node_id).tolist())
    known = set(PricingNode.objects.filter(pk__in=node_ids).values_list("pk", flat=True))
    if len(known) != len(node_ids):
        unknown = sorted(node_ids - known)
        raise ValueError(f"prices not stored: {len(unknown)} node_id(s) are not pricing nodes, "
                         f"e.g. {unknown[:5]}")
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                created, updated = _store_postgres(batch)
                rows = None
            else:
                rows = batch.rows()
                created, updated = _store_fallback(rows)
            if (batch.version > 1).any() or _has_revisions(node_ids, batch.runs):
                rows = rows if rows is not None else batch.rows()
                _refresh_current({(r[0], r[1], r[2]) for r in rows})
    except IntegrityError as exc:
        raise ValueError(f"prices not stored: {_integrity_message(exc)}") from exc
    return {"created": created, "updated": updated, "unchanged": len(batch) - created - updated}


def _integrity_message(exc: Exception) -> str:
    text = str(exc).splitlines()[0]
    if "foreign key" in text.lower() or "node_id" in text:
        return f"a node_id is not a pricing node ({text})"
    return text


_STAGE_SQL = """
CREATE TEMPORARY TABLE {stage} (
    node_id bigint, run smallint, interval_start timestamptz, interval_end timestamptz,
    lmp_per_mwh double precision, energy_per_mwh double precision,
    congestion_per_mwh double precision, loss_per_mwh double precision,
    ghg_per_mwh double precision, version smallint, source smallint
) ON COMMIT DROP
"""
_UPSERT_SQL = """
WITH up AS (
    INSERT INTO {table} AS p (node_id, run, interval_start, interval_end, lmp_per_mwh,
        energy_per_mwh, congestion_per_mwh, loss_per_mwh, ghg_per_mwh, version, is_current,
        source)
    SELECT node_id, (%s::text[])[run + 1], interval_start, interval_end, lmp_per_mwh,
        NULLIF(energy_per_mwh, 'NaN'), NULLIF(congestion_per_mwh, 'NaN'),
        NULLIF(loss_per_mwh, 'NaN'), NULLIF(ghg_per_mwh, 'NaN'), version, true,
        (%s::text[])[source + 1]
    FROM {stage}
    ON CONFLICT (node_id, run, interval_start, version) DO UPDATE SET
        interval_end = EXCLUDED.interval_end, lmp_per_mwh = EXCLUDED.lmp_per_mwh,
        energy_per_mwh = EXCLUDED.energy_per_mwh, congestion_per_mwh = EXCLUDED.congestion_per_mwh,
        loss_per_mwh = EXCLUDED.loss_per_mwh, ghg_per_mwh = EXCLUDED.ghg_per_mwh,
        source = EXCLUDED.source
    WHERE (p.interval_end, p.lmp_per_mwh, p.energy_per_mwh, p.congestion_per_mwh,
           p.loss_per_mwh, p.ghg_per_mwh, p.source)
          IS DISTINCT FROM
          (EXCLUDED.interval_end, EXCLUDED.lmp_per_mwh, EXCLUDED.energy_per_mwh,
           EXCLUDED.congestion_per_mwh, EXCLUDED.loss_per_mwh, EXCLUDED.ghg_per_mwh,
           EXCLUDED.source)
    RETURNING (p.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""


def _binary_copy(batch: PriceBatch) -> bytes:
    """The batch in PostgreSQL's binary COPY format, built with numpy (no per-row Python)."""
    fields = [("node_id", ">i8"), ("run", ">i2"), ("start", ">i8"), ("end", ">i8"),
              *[(name, ">f8") for name in PRICE_VALUES], ("version", ">i2"), ("source", ">i2")]
    layout = [("count", ">i2")]
    for name, kind in fields:
        layout += [(f"{name}_len", ">i4"), (name, kind)]
    rows = np.zeros(len(batch), dtype=np.dtype(layout))
    rows["count"] = len(fields)
    for name, kind in fields:
        rows[f"{name}_len"] = np.dtype(kind).itemsize
    rows["node_id"], rows["run"] = batch.node_id, batch.run
    rows["start"], rows["end"] = batch.start_us - _PG_EPOCH_US, batch.end_us - _PG_EPOCH_US
    for i, name in enumerate(PRICE_VALUES):
        rows[name] = batch.values[:, i]
    rows["version"], rows["source"] = batch.version, batch.source
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
    return header + rows.tobytes() + b"\xff\xff"


def _store_postgres(batch: PriceBatch) -> tuple[int, int]:
    """Binary COPY into a temporary table, then one upsert; returns (created, updated)."""
    from psycopg import errors

    stage = "nodalprice_stage"
    table = NodalPrice._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(_STAGE_SQL.format(stage=stage))
        with cursor.cursor.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy(batch))
        try:
            cursor.execute(_UPSERT_SQL.format(table=table, stage=stage),
                           [batch.runs, batch.sources])
        except Exception as exc:
            if isinstance(exc.__cause__, errors.CardinalityViolation):
                raise ValueError("prices not stored: the same node, run, interval_start and "
                                 "version occur more than once in the input") from exc
            raise
        created, updated = cursor.fetchone()
        cursor.execute(f"DROP TABLE {stage}")
    return created, updated


def _store_fallback(data: list[tuple]) -> tuple[int, int]:
    """The same upsert without COPY (SpatiaLite): look up existing keys, insert or update."""
    keys = {(r[0], r[1], r[2], r[-2]) for r in data}
    if len(keys) != len(data):
        raise ValueError("prices not stored: the same node, run, interval_start and version "
                         "occur more than once in the input")
    node_ids = {r[0] for r in data}
    runs = {r[1] for r in data}
    starts = [r[2] for r in data]
    existing = {}
    fields = ("node_id", "run", "interval_start", "version", "id", "interval_end", *PRICE_VALUES,
              "source")
    for values in NodalPrice.objects.filter(
            node_id__in=node_ids, run__in=runs, interval_start__gte=min(starts),
            interval_start__lte=max(starts)).values_list(*fields):
        existing[values[:4]] = values[4:]
    to_create, to_update = [], []
    for row in data:
        key = (row[0], row[1], row[2], row[-2])
        have = existing.get(key)
        wanted = (row[3], *row[4:9], row[-1])
        if have is None:
            to_create.append(NodalPrice(**dict(zip(_COLUMNS, row, strict=True)), is_current=True))
        elif tuple(have[1:]) != wanted:
            to_update.append(NodalPrice(id=have[0], **dict(zip(_COLUMNS, row, strict=True))))
    NodalPrice.objects.bulk_create(to_create, batch_size=1000)
    NodalPrice.objects.bulk_update(to_update, ["interval_end", *PRICE_VALUES, "source"],
                                   batch_size=1000)
    return len(to_create), len(to_update)


def _has_revisions(node_ids: set[int], runs: list[str]) -> bool:
    """Whether any of these nodes already has a price revision (version > 1) in these runs."""
    return NodalPrice.objects.filter(version__gt=1, run__in=runs, node_id__in=node_ids).exists()


def _refresh_current(keys: set[tuple]) -> None:
    """Make only the highest version of each (node, run, interval_start) current."""
    node_ids = {k[0] for k in keys}
    runs = {k[1] for k in keys}
    rows = NodalPrice.objects.filter(node_id__in=node_ids, run__in=runs, version__gt=0).values_list(
        "id", "node_id", "run", "interval_start", "version", "is_current")
    best: dict[tuple, int] = {}
    found = []
    for pk, node_id, run, start, version, current in rows:
        key = (node_id, run, start)
        if key in keys:
            found.append((pk, key, version, current))
            best[key] = max(best.get(key, 0), version)
    make_current = [pk for pk, key, v, cur in found if v == best[key] and not cur]
    make_old = [pk for pk, key, v, cur in found if v != best[key] and cur]
    if make_current:
        NodalPrice.objects.filter(pk__in=make_current).update(is_current=True)
    if make_old:
        NodalPrice.objects.filter(pk__in=make_old).update(is_current=False)


