"""Nodal prices: bulk storage, the market-data importers and the queries the API and maps use.

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
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from twin.jobs import JobParameterError, Progress, job_kind
from twin.models import Market, MarketRun, NodalPrice, PricingNode, PricingNodeKind
from twin.services.ingest import ImportFailed, ImportReport, import_transaction
from twin.services.sources import ProgressFn, job_options, no_progress, parse_float, read_table

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
    """Bulk, idempotent upsert of :class:`~twin.models.NodalPrice` rows.

    Parameters
    ----------
    rows
        Dicts with ``node_id``, ``run`` (a :class:`~twin.models.MarketRun` value),
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


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------

AMBIGUOUS_POLICIES = ("reject", "earlier", "later")


def localize(naive: datetime, tz: ZoneInfo, *, ambiguous: str = "reject") -> tuple[datetime | None,
                                                                                   str]:
    """A local wall-clock time in ``tz`` as a UTC datetime, saying what was decided.

    Returns ``(utc, "")`` for an ordinary time, ``(None, reason)`` for a time that does not
    exist (skipped by a spring-forward gap) or that is ambiguous (repeated by a fall-back hour)
    under ``ambiguous="reject"``, and ``(utc, note)`` when an ambiguous time was resolved to the
    ``earlier`` or ``later`` of its two instants.
    """
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None, f"local time {naive.isoformat()} does not exist in {tz.key} (DST gap)"
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC), ""
    if ambiguous == "reject":
        return None, (f"local time {naive.isoformat()} is ambiguous in {tz.key} (DST fall-back); "
                      "give a UTC offset or choose --ambiguous earlier|later")
    chosen = first if ambiguous == "earlier" else second
    utc = chosen.astimezone(UTC)
    return utc, f"ambiguous local time {naive.isoformat()} taken as {utc.isoformat()} ({ambiguous})"


def parse_instant(text: str, tz: ZoneInfo, *, ambiguous: str = "reject") -> tuple[datetime | None,
                                                                                 str]:
    """An ISO 8601 time (``Z`` or offset; without one, local time in ``tz``) as UTC.

    Returns ``(utc, note)`` or ``(None, reason)`` like :func:`localize`.
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"unparsable timestamp {value[:40]!r} (expected ISO 8601, e.g. " \
                     "2022-09-01T07:00:00-00:00)"
    if parsed.utcoffset() is None:
        return localize(parsed, tz, ambiguous=ambiguous)
    return parsed.astimezone(UTC), ""


def _row_refs(index: Iterable[int], *, limit: int = 10) -> str:
    """File line numbers (header = line 1) of some data rows, abbreviated."""
    lines = [int(i) + 2 for i in index]
    shown = ", ".join(map(str, lines[:limit]))
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def skip_rows(report: ImportReport, kind: str, index, reason: str) -> None:
    """Record ``len(index)`` skipped rows sharing one reason as one report entry."""
    index = list(index)
    if not index:
        return
    report.skip(kind, _row_refs(index), f"{reason} ({len(index)} row{'s' * (len(index) > 1)})")
    report.counts[kind]["skipped"] += len(index) - 1


# --------------------------------------------------------------------------------------------
# Markets and nodes
# --------------------------------------------------------------------------------------------

NODE_KINDS = {"load": PricingNodeKind.LOAD, "gen": PricingNodeKind.GEN,
              "generator": PricingNodeKind.GEN, "bus": PricingNodeKind.BUS,
              "zone": PricingNodeKind.ZONE, "area": PricingNodeKind.ZONE,
              "tg": PricingNodeKind.GEN, "ldp": PricingNodeKind.LOAD}


def get_market(name: str | None) -> Market:
    """The market called ``name``; ``ImportFailed`` naming the known ones when there is none."""
    if not name:
        raise ImportFailed("a market name is required (--market NAME)")
    market = Market.objects.filter(name=name).first()
    if market is None:
        known = ", ".join(Market.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise ImportFailed(f"unknown market {name!r} (known: {known}); create it with "
                           "import_nodes PATH --market NAME --currency … --time-zone …")
    return market


def _market_settings(currency: str | None, time_zone: str | None,
                     interval_min: int | None) -> dict:
    wanted = {}
    if currency is not None:
        if not (len(currency) == 3 and currency.isalpha()):
            raise ImportFailed(f"currency {currency!r}: give an ISO 4217 code such as USD")
        wanted["currency"] = currency.upper()
    if time_zone is not None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportFailed(f"time zone {time_zone!r} is not an IANA name") from exc
        wanted["time_zone"] = time_zone
    if interval_min is not None:
        if int(interval_min) < 1:
            raise ImportFailed("interval_min must be a positive number of minutes")
        wanted["interval_min"] = int(interval_min)
    return wanted


def ensure_market(name: str, report: ImportReport, *, currency: str | None = None,
                  time_zone: str | None = None, interval_min: int | None = None,
                  operator: str | None = None, carbon_zone: str | None = None) -> Market:
    """The market ``name``, created with the given settings when missing.

    Settings given for an existing market that differ from its own are not changed; they are
    reported as a warning instead (a market's time zone or interval is not changed by a file).
    """
    if not name or len(name) > 100:
        raise ImportFailed("a market name of 1–100 characters is required (--market NAME)")
    wanted = _market_settings(currency, time_zone, interval_min)
    if operator:
        wanted["operator"] = operator[:200]
    if carbon_zone:
        wanted["carbon_zone"] = carbon_zone[:50]
    market = Market.objects.filter(name=name).first()
    if market is None:
        market = Market.objects.create(name=name, **wanted)
        report.extra["market_created"] = True
        return market
    differ = {k: v for k, v in wanted.items() if getattr(market, k) != v}
    if differ:
        report.warn("market", name, "kept the existing market's "
                    + ", ".join(f"{k}={getattr(market, k)!r} (file run asked {v!r})"
                                for k, v in differ.items()))
    return market


def sync_nodes(market: Market, wanted: dict[str, dict], report: ImportReport) -> dict[str, int]:
    """Create or update ``market``'s pricing nodes ``{code: fields}``; returns ``{code: id}``.

    Only the fields given are compared and written; a ``location`` of ``None`` never erases a
    known location. Saves with history, in bulk.
    """
    existing = {n.code: n for n in PricingNode.objects.filter(market=market, code__in=wanted)}
    to_create, to_update, changed = [], [], set()
    for code, fields in wanted.items():
        node = existing.get(code)
        if node is None:
            to_create.append(PricingNode(market=market, code=code, **fields))
            report.counts["node"]["created"] += 1
            continue
        diff = set()
        for name, value in fields.items():
            old = getattr(node, name)
            if name == "location":
                if value is None or (old is not None and old.equals_exact(value, 1e-9)):
                    continue
            elif old == value:
                continue
            setattr(node, name, value)
            diff.add(name)
        if diff:
            changed |= diff
            to_update.append(node)
            report.counts["node"]["updated"] += 1
        else:
            report.counts["node"]["unchanged"] += 1
    if to_create:
        bulk_create_with_history(to_create, PricingNode, batch_size=2000)
    if to_update:
        bulk_update_with_history(to_update, PricingNode, sorted(changed), batch_size=2000)
    return dict(PricingNode.objects.filter(market=market, code__in=wanted)
                .values_list("code", "id"))


def import_nodes(path: str | Path, *, market_name: str, currency: str | None = None,
                 time_zone: str | None = None, interval_min: int | None = None,
                 operator: str | None = None, carbon_zone: str | None = None,
                 allow_unlocated: bool = False, strict: bool = False,
                 progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) pricing nodes from a CSV ``node_id, latitude, longitude[, node_type,
    area]``; return the JSON-ready report.

    Parameters
    ----------
    path
        The CSV (UTF-8). ``node_type`` is LOAD, GEN, BUS or ZONE (any case); ``area`` free text.
    market_name
        The market the nodes belong to; created when missing with ``currency``, ``time_zone``,
        ``interval_min``, ``operator`` and ``carbon_zone`` (the model's defaults for those not
        given).
    allow_unlocated
        Create nodes whose latitude and longitude are both empty without a location (reported
        as warnings); by default such rows are skipped.
    strict
        Roll everything back on any skipped row or warning.

    Raises
    ------
    ImportFailed
        Missing file or columns, bad market settings, or under ``strict`` any problem row.
    """
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    progress(0.1, f"reading {path.name}")
    frame = read_table(path, label=path.name, required=("node_id", "latitude", "longitude"))
    seen: dict[str, int] = {}
    wanted: dict[str, dict] = {}
    for i, row in enumerate(frame.to_dict("records")):
        ref = _row_refs([i])
        code = row["node_id"].strip()
        if not code or len(code) > 100:
            report.skip("node", ref, "node_id must be 1–100 characters")
            continue
        if code in seen:
            report.skip("node", ref, f"duplicate node_id {code!r} (first on {_row_refs([seen[code]])})")
            continue
        seen[code] = i
        lat_text, lon_text = row["latitude"].strip(), row["longitude"].strip()
        fields: dict = {}
        if not lat_text and not lon_text:
            if not allow_unlocated:
                report.skip("node", ref, f"node {code!r} has no location (pass --allow-unlocated "
                            "to create it without one)")
                continue
            report.warn("node", ref, f"node {code!r} created without a location")
        else:
            lat, lon = parse_float(lat_text), parse_float(lon_text)
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                report.skip("node", ref, f"node {code!r}: latitude {lat_text!r} / longitude "
                            f"{lon_text!r} are not a valid WGS84 position")
                continue
            fields["location"] = Point(lon, lat, srid=4326)
        node_type = (row.get("node_type") or "").strip().lower()
        if node_type:
            if node_type not in NODE_KINDS:
                report.warn("node", ref, f"node {code!r}: unknown node_type {node_type!r}, "
                            "stored as bus")
            fields["kind"] = NODE_KINDS.get(node_type, PricingNodeKind.BUS)
        if "area" in row:
            fields["area"] = row["area"].strip()[:50]
        wanted[code] = fields
    progress(0.5, f"writing {len(wanted)} nodes")
    with import_transaction(report, strict=strict):
        market = ensure_market(market_name, report, currency=currency, time_zone=time_zone,
                               interval_min=interval_min, operator=operator,
                               carbon_zone=carbon_zone)
        sync_nodes(market, wanted, report)
        report.extra["market"] = market.name
    progress(1.0, "done")
    return report.as_dict()


# --------------------------------------------------------------------------------------------
# Price importers: each reader turns its file into a frame of the columns below
# --------------------------------------------------------------------------------------------

FRAME_COLUMNS = ("code", "run", "interval_start", "interval_end", *PRICE_VALUES)
CAISO_RUNS = {"RTPD": MarketRun.REAL_TIME, "RTM": MarketRun.REAL_TIME,
              "HASP": MarketRun.REAL_TIME, "RTD": MarketRun.REAL_TIME,
              "DAM": MarketRun.DAY_AHEAD}
CAISO_COMPONENTS = {"LMP": "lmp_per_mwh", "MCE": "energy_per_mwh", "MCC": "congestion_per_mwh",
                    "MCL": "loss_per_mwh", "MGHG": "ghg_per_mwh"}
CAISO_COLUMNS = ("INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE_ID", "MARKET_RUN_ID",
                 "LMP_TYPE")
GENERIC_COLUMNS = ("node_id", "interval_start", "interval_end", "run", "lmp")
GENERIC_OPTIONAL = {"energy": "energy_per_mwh", "congestion": "congestion_per_mwh",
                    "loss": "loss_per_mwh", "ghg": "ghg_per_mwh"}
# JEPX areas: column suffix → (node code, English name, representative city lon/lat).
JEPX_AREAS = {
    "北海道": ("HOKKAIDO", "Hokkaido", (141.35, 43.06)),
    "東北": ("TOHOKU", "Tohoku", (140.87, 38.27)),
    "東京": ("TOKYO", "Tokyo", (139.69, 35.69)),
    "中部": ("CHUBU", "Chubu", (136.91, 35.18)),
    "北陸": ("HOKURIKU", "Hokuriku", (137.21, 36.70)),
    "関西": ("KANSAI", "Kansai", (135.50, 34.69)),
    "中国": ("CHUGOKU", "Chugoku", (132.46, 34.39)),
    "四国": ("SHIKOKU", "Shikoku", (134.05, 34.34)),
    "九州": ("KYUSHU", "Kyushu", (130.40, 33.59)),
}
JEPX_SYSTEM = "システムプライス(円/kWh)"
JEPX_DATE, JEPX_SLOT = "受渡日", "時刻コード"
PRICE_FORMATS = ("caiso-oasis", "generic", "jepx")


def _open_text(path: Path, label: str):
    """``path`` for pandas: checked to exist; gzip is recognised by its magic bytes."""
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(2)
    if not magic:
        raise ImportFailed(f"{label}: the file is empty; nothing was imported")
    return "gzip" if magic == b"\x1f\x8b" else None


def _parse_times(values: pd.Series, tz: ZoneInfo, *, ambiguous: str, report: ImportReport,
                 label: str) -> tuple[pd.Series, dict[str, str]]:
    """Parse each distinct timestamp string once; returns (UTC series with NaT, problems)."""
    problems: dict[str, str] = {}
    parsed: dict[str, datetime | None] = {}
    for text in pd.unique(values):
        moment, note = parse_instant(str(text), tz, ambiguous=ambiguous)
        parsed[text] = moment
        if moment is None:
            problems[text] = note
        elif note:
            report.warn("price", f"{label} {text}", note)
    return pd.to_datetime(values.map(parsed), utc=True), problems


def read_caiso(path: Path, market: Market, report: ImportReport, *, ambiguous: str) -> pd.DataFrame:
    """CAISO OASIS LMP CSV (plain or gzip) → price frame, one row per node, run and interval.

    One row per node, interval and ``LMP_TYPE`` (LMP, MCE, MCC, MCL, MGHG; value in ``PRC``,
    or ``MW`` in older reports) is pivoted to one price with its components. ``MARKET_RUN_ID``
    RTPD/RTM/HASP/RTD gives real-time, DAM day-ahead. Times are the ``*_GMT`` columns. Every
    distinct string is parsed once (the columns are read as categories), and the pivot is a
    numpy scatter, so a file of a million rows reads in about the time pandas needs to parse it.
    """
    compression = _open_text(path, path.name)
    try:
        header = pd.read_csv(path, compression=compression, nrows=0).columns
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise ImportFailed(f"{path.name}: could not read the CSV ({exc}); nothing was imported"
                           ) from exc
    value_column = "PRC" if "PRC" in header else "MW"
    missing = [c for c in (*CAISO_COLUMNS, value_column) if c not in header]
    if missing:
        raise ImportFailed(f"{path.name}: missing required column(s): {', '.join(missing)} "
                           f"(not a CAISO OASIS LMP file?); found: {', '.join(header[:20])}")
    frame = None
    for value_type in ("float64", str):  # str only when some value is not a number
        try:
            frame = pd.read_csv(path, compression=compression,
                                usecols=[*CAISO_COLUMNS, value_column],
                                dtype={c: "category" for c in CAISO_COLUMNS}
                                | {value_column: value_type})
            break
        except ValueError as exc:
            if value_type is str or "could not convert" not in str(exc):
                raise ImportFailed(f"{path.name}: could not parse the CSV ({exc}); nothing was "
                                   "imported") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise ImportFailed(f"{path.name}: could not parse the CSV ({exc}); nothing was "
                               "imported") from exc
    report.extra["file_rows"] = len(frame)
    values = pd.to_numeric(frame[value_column], errors="coerce").to_numpy(dtype="float64")
    tz = ZoneInfo(market.time_zone)
    index = np.arange(len(frame))
    ok = np.ones(len(frame), dtype=bool)

    def codes_of(column: str, decode) -> tuple[np.ndarray, list]:
        """Category codes of ``column`` and the decoded categories (None = bad, skipped)."""
        series = frame[column]
        decoded, problems = [], {}
        for text in series.cat.categories:
            value, reason = decode(str(text))
            decoded.append(value)
            if value is None:
                problems[len(decoded) - 1] = reason
        codes = series.cat.codes.to_numpy()
        for code, reason in problems.items():
            hit = ok & (codes == code)
            skip_rows(report, "price", index[hit], f"{column}: {reason}")
            ok[hit] = False
        empty = ok & (codes < 0)
        skip_rows(report, "price", index[empty], f"{column}: empty")
        ok[empty] = False
        return codes, decoded

    def instant(label):
        def decode(text):
            moment, note = parse_instant(text, tz, ambiguous=ambiguous)
            if moment is not None and note:
                report.warn("price", f"{label} {text}", note)
            return moment, note
        return decode

    def lookup(table, what):
        return lambda text: ((table[text], "") if text in table
                             else (None, f"unknown {what} {text!r} (known: {', '.join(table)})"))

    start_codes, starts = codes_of("INTERVALSTARTTIME_GMT", instant("start"))
    end_codes, ends = codes_of("INTERVALENDTIME_GMT", instant("end"))
    run_codes, runs = codes_of("MARKET_RUN_ID", lookup(CAISO_RUNS, "MARKET_RUN_ID"))
    kind_codes, kinds = codes_of("LMP_TYPE", lookup(CAISO_COMPONENTS, "LMP_TYPE"))
    node_codes, nodes = codes_of("NODE_ID", lambda text: (text.strip() or None, "empty"))
    bad = ok & ~np.isfinite(values)
    skip_rows(report, "price", index[bad], f"{value_column} is not a number")
    ok &= ~bad
    start_ns = np.array([s.timestamp() if s else 0 for s in starts] or [0])[start_codes]
    end_ns = np.array([e.timestamp() if e else 0 for e in ends] or [0])[end_codes]
    bad = ok & (end_ns <= start_ns)
    skip_rows(report, "price", index[bad], "interval end is not after its start")
    ok &= ~bad
    # One integer key per node, run and interval start; then one per component of it.
    n_start, n_run = max(len(starts), 1), max(len(runs), 1)
    key = (node_codes.astype("int64") * n_start + start_codes) * n_run + run_codes
    component = np.array([PRICE_VALUES.index(k) if k else 0 for k in kinds] or [0])[kind_codes]
    cell = key * len(PRICE_VALUES) + component
    rows = index[ok]
    dup = pd.Series(cell[rows]).duplicated(keep="first").to_numpy()
    if dup.any():
        first_value = pd.Series(values[rows]).groupby(cell[rows]).transform("first").to_numpy()
        differ = dup & (first_value != values[rows])
        skip_rows(report, "price", rows[differ],
                  "duplicate row (same node, run, interval and LMP_TYPE) with a different "
                  "value; kept the first")
        skip_rows(report, "price", rows[dup & ~differ], "duplicate row; kept the first")
        rows = rows[~dup]
    keys, inverse = np.unique(key[rows], return_inverse=True)
    wide = np.full((len(keys), len(PRICE_VALUES)), np.nan)
    wide[inverse, component[rows]] = values[rows]
    end_of = np.empty(len(keys), dtype="int64")
    end_of[inverse] = end_codes[rows]
    run_of, rest = keys % n_run, keys // n_run
    start_of, node_of = rest % n_start, rest // n_start
    no_lmp = np.isnan(wide[:, 0])
    if no_lmp.any():
        for k in np.flatnonzero(no_lmp)[:10]:
            report.skip("price", f"{nodes[node_of[k]]} {starts[start_of[k]].isoformat()}",
                        "components without an LMP row for this node and interval")
        report.counts["price"]["skipped"] += int(no_lmp.sum()) - min(10, int(no_lmp.sum()))
        keep = ~no_lmp
        wide, end_of, run_of = wide[keep], end_of[keep], run_of[keep]
        start_of, node_of = start_of[keep], node_of[keep]
    as_objects = np.empty(len(starts), dtype=object)
    as_objects[:] = starts
    out = pd.DataFrame({
        "code": pd.Categorical.from_codes(node_of, categories=[n or "" for n in nodes]),
        "run": pd.Categorical.from_codes(run_of, categories=[str(r or "") for r in runs]),
        "interval_start": pd.to_datetime(pd.Series(as_objects[start_of]), utc=True),
        "interval_end": pd.to_datetime(pd.Series(np.array(ends, dtype=object)[end_of]), utc=True),
    })
    for i, name in enumerate(PRICE_VALUES):
        out[name] = wide[:, i]
    out["code"] = out["code"].astype(str)
    out["run"] = out["run"].astype(str)
    return out[list(FRAME_COLUMNS)]


def _without_duplicates(frame: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """The price frame's columns with one row per node, run and interval (the first; the
    others reported)."""
    key = ["code", "run", "interval_start"]
    dup = frame.duplicated(key, keep="first")
    if dup.any():
        _report_duplicates(frame, key, dup, report)
        frame = frame[~dup]
    return frame[list(FRAME_COLUMNS)]


def _report_duplicates(frame: pd.DataFrame, key: list[str], dup: pd.Series,
                       report: ImportReport) -> None:
    """Report duplicated keys (keeping the first row), and whether their values disagree."""
    firsts = frame[frame.duplicated(key, keep=False) & ~dup]
    merged = frame[dup].merge(firsts, on=key, suffixes=("", "_first"))
    value_cols = [c for c in frame.columns if c not in key and f"{c}_first" in merged]
    differs = np.zeros(len(merged), dtype=bool)
    for c in value_cols:
        a, b = merged[c], merged[f"{c}_first"]
        differs |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
    same_rows = frame.index[dup][~differs] if len(merged) == int(dup.sum()) else frame.index[dup]
    if len(merged) == int(dup.sum()):
        skip_rows(report, "price", frame.index[dup][differs],
                  "duplicate row with different values; kept the first")
        skip_rows(report, "price", same_rows, "duplicate row; kept the first")
    else:
        skip_rows(report, "price", same_rows, "duplicate row; kept the first")


def read_generic(path: Path, market: Market, report: ImportReport, *,
                 ambiguous: str) -> pd.DataFrame:
    """The generic long CSV → price frame (see README "Prices and carbon")."""
    compression = _open_text(path, path.name)
    if compression:
        import gzip

        with gzip.open(path, "rb") as handle:
            frame = read_table(handle, label=path.name, required=GENERIC_COLUMNS)
    else:
        frame = read_table(path, label=path.name, required=GENERIC_COLUMNS)
    report.extra["file_rows"] = len(frame)
    tz = ZoneInfo(market.time_zone)
    starts, bad_start = _parse_times(frame["interval_start"], tz, ambiguous=ambiguous,
                                     report=report, label="interval_start")
    ends, bad_end = _parse_times(frame["interval_end"], tz, ambiguous=ambiguous, report=report,
                                 label="interval_end")
    ok = pd.Series(True, index=frame.index)
    for problems, column in ((bad_start, "interval_start"), (bad_end, "interval_end")):
        for text, reason in problems.items():
            hit = frame[column] == text
            skip_rows(report, "price", frame.index[hit & ok], f"{column}: {reason}")
            ok &= ~hit
    runs = frame["run"].str.strip().str.lower()
    out = pd.DataFrame({"code": frame["node_id"].str.strip(), "run": runs,
                        "interval_start": starts, "interval_end": ends})
    numbers = {"lmp_per_mwh": frame["lmp"]} | {
        name: frame[column] if column in frame else pd.Series("", index=frame.index)
        for column, name in GENERIC_OPTIONAL.items()}
    for name, column in numbers.items():
        text = column.str.strip()
        value = pd.to_numeric(text, errors="coerce")
        bad = (value.isna() & (text != "")) | ~np.isfinite(value.fillna(0))
        if name == "lmp_per_mwh":
            bad |= text == ""
        rows = frame.index[bad & ok]
        skip_rows(report, "price", rows, f"{name.removesuffix('_per_mwh')}: not a number")
        ok &= ~bad
        out[name] = value
    for bad, reason in ((out["code"] == "", "empty node_id"),
                        (~runs.isin(list(_RUNS)), f"run must be one of {', '.join(sorted(_RUNS))}"),
                        (ends <= starts, "interval_end is not after interval_start")):
        skip_rows(report, "price", frame.index[bad & ok], reason)
        ok &= ~bad
    out = out[ok]
    return _without_duplicates(out, report)


def read_jepx(path: Path, market: Market, report: ImportReport, *, ambiguous: str) -> pd.DataFrame:
    """JEPX spot summary (Shift_JIS) → price frame: nine area zones plus the system price.

    Slot ``k`` (1–48) of delivery day ``d`` is ``[d 00:00 + 30 (k−1) min, + 30 min)`` local time
    in the market's time zone (JST), stored in UTC; yen/kWh ×1000 → yen/MWh.
    """
    areas = {f"エリアプライス{jp}(円/kWh)": code for jp, (code, _, _) in JEPX_AREAS.items()}
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    frame = read_table(path, label=path.name, encoding="cp932",
                       required=(JEPX_DATE, JEPX_SLOT, JEPX_SYSTEM, *areas))
    report.extra["file_rows"] = len(frame)
    tz = ZoneInfo(market.time_zone)
    days = pd.to_datetime(frame[JEPX_DATE].str.strip(), format="%Y/%m/%d", errors="coerce")
    slots = pd.to_numeric(frame[JEPX_SLOT].str.strip(), errors="coerce")
    ok = pd.Series(True, index=frame.index)
    for bad, reason in ((days.isna(), f"{JEPX_DATE}: unparsable date (expected YYYY/M/D)"),
                        (~slots.between(1, 48) | (slots % 1 != 0),
                         f"{JEPX_SLOT}: not a half-hour slot 1–48")):
        skip_rows(report, "price", frame.index[bad & ok], reason)
        ok &= ~bad
    local = days[ok] + pd.to_timedelta((slots[ok] - 1) * 30, unit="min")
    starts = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    problems: dict = {}
    converted = {}
    for moment in pd.unique(local):
        naive = pd.Timestamp(moment).to_pydatetime()
        utc, note = localize(naive, tz, ambiguous=ambiguous)
        converted[moment] = utc
        if utc is None:
            problems[moment] = note
        elif note:
            report.warn("price", naive.isoformat(), note)
    starts[ok] = pd.to_datetime(local.map(converted), utc=True)
    for moment, reason in problems.items():
        hit = ok & (days + pd.to_timedelta((slots - 1) * 30, unit="min") == moment)
        skip_rows(report, "price", frame.index[hit], reason)
        ok &= ~hit
    parts = []
    for column, code in ((JEPX_SYSTEM, "SYSTEM"), *areas.items()):
        text = frame[column].str.strip()
        yen_per_kwh = pd.to_numeric(text, errors="coerce")
        bad = ok & (yen_per_kwh.isna() | ~np.isfinite(yen_per_kwh.fillna(0)))
        skip_rows(report, "price", frame.index[bad], f"{code}: price {column} is not a number")
        good = ok & ~bad
        parts.append(pd.DataFrame({
            "code": code, "run": MarketRun.DAY_AHEAD.value,
            "interval_start": starts[good], "interval_end": starts[good] + pd.Timedelta(minutes=30),
            "lmp_per_mwh": yen_per_kwh[good] * 1000.0}))
    out = pd.concat(parts, ignore_index=True)
    for name in PRICE_COMPONENTS:
        out[name] = np.nan
    return _without_duplicates(out, report)


def jepx_nodes() -> dict[str, dict]:
    """The JEPX zone nodes: nine areas (located at a representative city) and the system price."""
    nodes = {code: {"name": f"{english} ({jp})", "kind": PricingNodeKind.ZONE, "area": code,
                    "location": Point(*lonlat, srid=4326),
                    "tags": {"location": "representative city of the area, not a bus"}}
             for jp, (code, english, lonlat) in JEPX_AREAS.items()}
    nodes["SYSTEM"] = {"name": "System price (システムプライス)", "kind": PricingNodeKind.ZONE,
                       "area": "SYSTEM", "tags": {"location": "the whole market: no location"}}
    return nodes


READERS = {"caiso-oasis": read_caiso, "generic": read_generic, "jepx": read_jepx}


def import_prices(fmt: str, path: str | Path, *, market_name: str | None = None,
                  create_nodes: bool = False, ambiguous: str = "reject",
                  strict: bool = False, progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) a price file into the market's nodes; return the JSON report.

    Parameters
    ----------
    fmt
        ``caiso-oasis`` (CAISO OASIS LMP CSV, plain or gzip), ``generic`` (the long CSV in the
        README) or ``jepx`` (JEPX spot summary, Shift_JIS).
    path
        The file.
    market_name
        An existing market (``jepx``: default ``JEPX``, created with Asia/Tokyo, JPY, 30 min).
    create_nodes
        Create nodes the market does not know, without a location (reported as warnings);
        by default their rows are skipped and reported per node.
    ambiguous
        Local times repeated by a DST fall-back: ``reject`` the rows (default), or take the
        ``earlier``/``later`` instant and report it. Local times in a DST gap are always skipped.
    strict
        Roll everything back on any skipped row or warning.

    Raises
    ------
    ImportFailed
        Unknown format or market, missing file or columns, nothing importable, or under
        ``strict`` any problem. Nothing is written then.
    """
    if fmt not in READERS:
        raise ImportFailed(f"unknown price format {fmt!r}; choose from {', '.join(PRICE_FORMATS)}")
    if ambiguous not in AMBIGUOUS_POLICIES:
        raise ImportFailed(f"ambiguous must be one of {', '.join(AMBIGUOUS_POLICIES)}")
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    _ = report.counts["price"]  # listed in the report even when no price was loaded
    if fmt == "jepx":
        market_name = market_name or "JEPX"
        market = Market.objects.filter(name=market_name).first() or Market(
            name=market_name, operator="Japan Electric Power Exchange", currency="JPY",
            time_zone="Asia/Tokyo", interval_min=30)
    else:
        market = get_market(market_name)
    progress(0.05, f"reading {path.name}")
    frame = READERS[fmt](path, market, report, ambiguous=ambiguous)
    report.extra.update(market=market.name, format=fmt)
    progress(0.5, f"writing {len(frame)} prices")
    with import_transaction(report, strict=strict):
        if market.pk is None:
            market.save()
            report.extra["market_created"] = True
        codes = pd.unique(frame["code"])
        known = dict(PricingNode.objects.filter(market=market, code__in=list(codes))
                     .values_list("code", "id"))
        if fmt == "jepx":
            zones = jepx_nodes()
            known |= sync_nodes(market, {c: zones[c] for c in codes if c not in known}, report)
        unknown = [c for c in codes if c not in known]
        if unknown and create_nodes:
            for code in unknown:
                report.warn("node", code, f"node {code!r} created without a location")
            known |= sync_nodes(market, {c[:100]: {"kind": PricingNodeKind.BUS}
                                         for c in unknown}, report)
        elif unknown:
            counts = frame.loc[frame["code"].isin(unknown), "code"].value_counts()
            for code, n in counts.items():
                report.skip("price", f"node {code}", f"unknown node {code!r} in market "
                            f"{market.name}: {n} row(s) skipped (import its location with "
                            "import_nodes, or pass --create-nodes)")
                report.counts["price"]["skipped"] += int(n) - 1
            frame = frame[~frame["code"].isin(unknown)]
        if frame.empty and not report.counts["price"]["skipped"]:
            raise ImportFailed(f"{path.name}: no prices in the file; nothing was imported", report)
        outcome = _store_frame(frame, known, source=f"{fmt}:{path.name}"[:100])
        for name, n in outcome.items():
            report.counts["price"][name] += n
        if len(frame):
            report.extra["interval_range"] = [frame["interval_start"].min().isoformat(),
                                              frame["interval_end"].max().isoformat()]
            report.extra["nodes_with_prices"] = int(frame["code"].nunique())
    progress(1.0, "done")
    return report.as_dict()


def _store_frame(frame: pd.DataFrame, node_ids: dict[str, int], *, source: str) -> dict:
    """Store a checked price frame (codes resolved through ``node_ids``) as one
    :class:`PriceBatch`, without building a Python object per row."""
    if frame.empty:
        return {"created": 0, "updated": 0, "unchanged": 0}
    n = len(frame)

    def micros(column: str) -> np.ndarray:
        return ((frame[column] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
                ).to_numpy(dtype="int64")

    return write_prices(_batch(
        frame["code"].map(node_ids).to_numpy(dtype="int64"), frame["run"].astype(str).to_numpy(),
        micros("interval_start"), micros("interval_end"),
        frame[list(PRICE_VALUES)].to_numpy(dtype="float64"), np.ones(n, dtype="int16"),
        np.full(n, source, dtype=object)))


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------

def _option(parameters: dict, name: str, kind: type, default=None):
    value = parameters.get(name, default)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind
                              is not bool)):
        raise JobParameterError(f"{name} must be a {kind.__name__}")
    return value


@job_kind("twin.import_nodes")
def import_nodes_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path", "market", "currency", "time_zone", "interval_min", "operator",
    "allow_unlocated", "strict"}`` → :func:`import_nodes`."""
    options = job_options(parameters, required=["path", "market"],
                          optional=["currency", "time_zone", "interval_min", "operator",
                                    "carbon_zone", "allow_unlocated"])
    return import_nodes(
        options["path"], market_name=_option(parameters, "market", str),
        currency=_option(parameters, "currency", str),
        time_zone=_option(parameters, "time_zone", str),
        interval_min=_option(parameters, "interval_min", int),
        operator=_option(parameters, "operator", str),
        carbon_zone=_option(parameters, "carbon_zone", str),
        allow_unlocated=_option(parameters, "allow_unlocated", bool, False),
        strict=options["strict"], progress=progress)


@job_kind("twin.import_prices")
def import_prices_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path", "format": caiso-oasis|generic|jepx, "market", "create_nodes",
    "ambiguous", "strict"}`` → :func:`import_prices`."""
    options = job_options(parameters, required=["path", "format"],
                          optional=["market", "create_nodes", "ambiguous"])
    return import_prices(
        _option(parameters, "format", str), options["path"],
        market_name=_option(parameters, "market", str),
        create_nodes=_option(parameters, "create_nodes", bool, False),
        ambiguous=_option(parameters, "ambiguous", str, "reject"),
        strict=options["strict"], progress=progress)


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------

# Longest interval a query looks back for (a forward curve may have month-long intervals).
MAX_INTERVAL = timedelta(days=32)


def _market_prices(market: Market, run: str):
    return NodalPrice.objects.filter(node__market=market, run=run, is_current=True)


def prices_at(market: Market, run: str, at: datetime):
    """The current price of every node of ``market`` in ``run`` for the interval holding ``at``.

    Returns a queryset of :class:`~twin.models.NodalPrice` with ``node`` loaded, ordered by
    node code; empty when no interval of the run holds ``at``. Two index lookups: the latest
    interval start at or before ``at``, then every node's price at that start.
    """
    latest = (_market_prices(market, run)
              .filter(interval_start__lte=at, interval_start__gt=at - MAX_INTERVAL)
              .order_by("-interval_start").values_list("interval_start", flat=True).first())
    if latest is None:
        return NodalPrice.objects.none()
    return (_market_prices(market, run).filter(interval_start=latest, interval_end__gt=at)
            .select_related("node").order_by("node__code"))


def node_series(node: PricingNode, run: str, start: datetime, end: datetime) -> list[dict]:
    """A node's current prices in ``run`` for the intervals overlapping ``[start, end)``.

    Returns dicts with ``interval_start``, ``interval_end``, ``lmp_per_mwh`` and the components,
    in time order.
    """
    return list(NodalPrice.objects.filter(
        node=node, run=run, is_current=True, interval_start__lt=end, interval_end__gt=start,
        interval_start__gt=start - MAX_INTERVAL).order_by("interval_start").values(
        "interval_start", "interval_end", *PRICE_VALUES))


def intervals(market: Market, run: str, start: datetime | None = None,
              end: datetime | None = None) -> list[datetime]:
    """The distinct interval starts of ``market``'s current prices in ``run`` (optionally those
    in ``[start, end)``), in time order."""
    prices = _market_prices(market, run)
    if start is not None:
        prices = prices.filter(interval_start__gte=start)
    if end is not None:
        prices = prices.filter(interval_start__lt=end)
    return list(prices.order_by("interval_start").values_list("interval_start", flat=True)
                .distinct())


def price_at_location(market: Market, run: str, at: datetime, lon: float, lat: float, *,
                      method: str = "nearest") -> dict:
    """Price and carbon at a location and time, saying how they were found.

    ``nearest``: the price of the nearest located node (distances in metres, in the location's
    UTM zone) and that node's carbon intensity. ``interpolated``: inverse-distance (modified
    Shepard) interpolation of the nodes' prices (:func:`twin.services.interpolate.interpolate`),
    ``None`` outside their convex hull, with the market's carbon intensity; the nearest node is
    given for reference.

    Returns ``{"method", "node", "distance_m", "lmp_per_mwh", "interval_start", "interval_end",
    "carbon", "note"}`` (``node``: a :class:`~twin.models.PricingNode` or ``None``; ``carbon``:
    :func:`~twin.services.carbon.carbon_at`'s answer). Raises ``ValueError`` when interpolation
    is impossible (fewer than three nodes, or all on one line).
    """
    from pyproj import Transformer

    from twin.services.carbon import carbon_at
    from twin.services.geometry import utm_srid
    from twin.services.interpolate import interpolate

    prices = [p for p in prices_at(market, run, at) if p.node.location]
    answer = {"method": method, "node": None, "distance_m": None, "lmp_per_mwh": None,
              "interval_start": None, "interval_end": None, "carbon": None, "note": ""}
    if not prices:
        answer["note"] = "no located node has a price for an interval holding this time"
        answer["carbon"] = carbon_at(market, at)
        return answer
    lonlat = np.array([[p.node.location.x, p.node.location.y] for p in prices])
    to_m = Transformer.from_crs(4326, utm_srid(Point(lon, lat, srid=4326)), always_xy=True)
    xy = np.column_stack(to_m.transform(lonlat[:, 0], lonlat[:, 1]))
    query = np.array([to_m.transform(lon, lat)])
    distances = np.hypot(*(xy - query).T)
    nearest = prices[int(np.argmin(distances))]
    answer.update(interval_start=nearest.interval_start, interval_end=nearest.interval_end,
                  node=nearest.node, distance_m=float(distances.min()))
    if method == "nearest":
        answer.update(lmp_per_mwh=nearest.lmp_per_mwh, carbon=carbon_at(nearest.node, at),
                      note="the nearest located node's price")
        return answer
    value = float(interpolate(xy, np.array([p.lmp_per_mwh for p in prices]), query,
                              method="idw")[0])
    answer["carbon"] = carbon_at(market, at)
    if math.isnan(value):
        answer["note"] = ("outside the nodes' coverage (their convex hull): no interpolated "
                          "price; the nearest node is given for reference")
    else:
        answer["lmp_per_mwh"] = value
        answer["note"] = (f"inverse-distance (modified Shepard) interpolation of the 8 nearest "
                          f"of {len(prices)} nodes; the nearest node is given for reference")
    return answer
