"""Grid carbon intensity: the EIA-930 importer and the queries beside prices.

A series belongs to a zone (a balancing area such as ``CISO``) or to one pricing node, for
half-open UTC intervals. A market names the zone whose series applies to its nodes
(``Market.carbon_zone``) unless a node has a series of its own.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

from django.db.models import Q

from markets.models import CarbonIntensity, Market, PricingNode
from twin.ingest.base import ImportFailed, ImportReport, import_transaction
from twin.ingest.sources import ProgressFn, job_options, no_progress, read_table
from twin.jobs import JobParameterError, Progress

CARBON_FORMATS = ("eia930",)
EIA930_COLUMNS = ("timestamp", "avg_CI")
CARBON_FIELDS = ("interval_start", "interval_end", "average_g_per_kwh", "marginal_g_per_kwh")


def import_carbon(fmt: str, path: str | Path, *, zone: str, interval_min: int = 60,
                  strict: bool = False, progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) a carbon-intensity series of one zone; return the JSON report.

    Parameters
    ----------
    fmt
        ``eia930``: an hourly EIA-930 generation-mix CSV with ``timestamp`` (UTC, ISO 8601 with
        offset; the start of the hour) and ``avg_CI`` (average gCO2/kWh); an optional
        ``marginal_CI`` column is stored as the marginal intensity.
    zone
        The zone the series describes (e.g. ``CISO``).
    interval_min
        Length of each interval (60 for EIA-930's hourly data).
    strict
        Roll everything back on any skipped row or warning.

    Raises
    ------
    ImportFailed
        Unknown format, missing file or columns, no usable rows, or under ``strict`` any
        problem. Nothing is written then.
    """
    if fmt not in CARBON_FORMATS:
        raise ImportFailed(f"unknown carbon format {fmt!r}; choose from {', '.join(CARBON_FORMATS)}")
    if not zone or len(zone) > 50:
        raise ImportFailed("a zone name of 1–50 characters is required (--zone NAME)")
    if int(interval_min) < 1:
        raise ImportFailed("interval_min must be a positive number of minutes")
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    progress(0.1, f"reading {path.name}")
    frame = read_table(path, label=path.name, required=EIA930_COLUMNS)
    step, source = timedelta(minutes=int(interval_min)), fmt
    records: dict[datetime, dict] = {}
    first_line: dict[datetime, int] = {}
    for i, row in enumerate(frame.to_dict("records")):
        ref = f"line {i + 2}"
        text = row["timestamp"].strip()
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            report.skip("carbon", ref, f"unparsable timestamp {text[:40]!r} (expected ISO 8601)")
            continue
        if start.utcoffset() is None:
            report.skip("carbon", ref, f"timestamp {text!r} has no UTC offset (EIA-930 series "
                        "are UTC; write e.g. 2022-01-01 00:00:00+00:00)")
            continue
        values = {}
        for column, name in (("avg_CI", "average_g_per_kwh"), ("marginal_CI", "marginal_g_per_kwh")):
            cell = str(row.get(column, "")).strip()
            number = _number(cell)
            if cell and (number is None or number < 0):
                report.skip("carbon", ref, f"{column} {cell[:20]!r} is not a non-negative number")
                values = None
                break
            values[name] = number
        if values is None:
            continue
        if values["average_g_per_kwh"] is None:
            report.skip("carbon", ref, "avg_CI is empty")
            continue
        if start in records:
            report.skip("carbon", ref, f"duplicate timestamp {text} (first on line "
                        f"{first_line[start] + 2}); kept the first")
            continue
        first_line[start] = i
        records[start] = {"interval_start": start, "interval_end": start + step, **values}
    if not records:
        first = (f" (first problem: {report.skipped[0]['row']}: {report.skipped[0]['reason']})"
                 if report.skipped else "")
        raise ImportFailed(f"{path.name}: no usable carbon-intensity rows{first}; nothing was "
                           "imported", report)
    progress(0.5, f"writing {len(records)} intervals")
    with import_transaction(report, strict=strict):
        _sync_zone(zone, source, list(records.values()), report)
        starts = sorted(records)
        report.extra.update(zone=zone, format=fmt, interval_min=int(interval_min),
                            interval_range=[starts[0].isoformat(),
                                            (starts[-1] + step).isoformat()])
    progress(1.0, "done")
    return report.as_dict()


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _sync_zone(zone: str, source: str, records: list[dict], report: ImportReport) -> None:
    """Create or update the zone's measured (not forecast) series from ``source``."""
    starts = [r["interval_start"] for r in records]
    existing = {c.interval_start: c for c in CarbonIntensity.objects.filter(
        zone=zone, node__isnull=True, source=source, is_forecast=False,
        interval_start__gte=min(starts), interval_start__lte=max(starts))}
    to_create, to_update = [], []
    for record in records:
        row = existing.get(record["interval_start"])
        if row is None:
            to_create.append(CarbonIntensity(zone=zone, source=source, is_forecast=False, **record))
            report.counts["carbon"]["created"] += 1
        elif any(getattr(row, k) != v for k, v in record.items()):
            for k, v in record.items():
                setattr(row, k, v)
            to_update.append(row)
            report.counts["carbon"]["updated"] += 1
        else:
            report.counts["carbon"]["unchanged"] += 1
    CarbonIntensity.objects.bulk_create(to_create, batch_size=2000)
    CarbonIntensity.objects.bulk_update(to_update, ["interval_end", "average_g_per_kwh",
                                                    "marginal_g_per_kwh"], batch_size=2000)


def import_carbon_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path", "zone", "format": "eia930", "interval_min": 60, "strict"}``."""
    options = job_options(parameters, required=["path", "zone"],
                          optional=["format", "interval_min"])
    interval = parameters.get("interval_min", 60)
    if not isinstance(interval, int) or isinstance(interval, bool):
        raise JobParameterError("interval_min must be a whole number of minutes")
    return import_carbon(parameters.get("format") or "eia930", options["path"],
                         zone=parameters["zone"], interval_min=interval,
                         strict=options["strict"], progress=progress)


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------

def _scope(market_or_zone: Market | PricingNode | str) -> Q | None:
    """Which series applies: a node's own (else its market's zone), a market's zone, a zone."""
    if isinstance(market_or_zone, PricingNode):
        node = market_or_zone
        if CarbonIntensity.objects.filter(node=node).exists():
            return Q(node=node)
        market_or_zone = node.market
    if isinstance(market_or_zone, Market):
        market_or_zone = market_or_zone.carbon_zone
    if not market_or_zone:
        return None
    return Q(zone=market_or_zone, node__isnull=True)


def _as_dict(row: CarbonIntensity) -> dict:
    return {"interval_start": row.interval_start, "interval_end": row.interval_end,
            "average_g_per_kwh": row.average_g_per_kwh,
            "marginal_g_per_kwh": row.marginal_g_per_kwh, "is_forecast": row.is_forecast,
            "source": row.source}


def carbon_at(market_or_zone: Market | PricingNode | str, at: datetime) -> dict | None:
    """The carbon intensity in force at ``at`` for a zone, a market's zone or a node.

    A measured value is preferred over a forecast. Returns ``None`` when there is none (or
    the market names no carbon zone); otherwise a dict with ``interval_start``,
    ``interval_end``, ``average_g_per_kwh``, ``marginal_g_per_kwh``, ``is_forecast``, ``source``.
    """
    scope = _scope(market_or_zone)
    if scope is None:
        return None
    row = (CarbonIntensity.objects.filter(scope, interval_start__lte=at, interval_end__gt=at)
           .order_by("is_forecast", "-interval_start").first())
    return _as_dict(row) if row else None


def carbon_series(market_or_zone: Market | PricingNode | str, start: datetime,
                  end: datetime) -> list[dict]:
    """The intervals overlapping ``[start, end)`` in time order (measured before forecast when
    both cover one interval), as dicts like :func:`carbon_at`'s."""
    scope = _scope(market_or_zone)
    if scope is None:
        return []
    rows = CarbonIntensity.objects.filter(
        scope, interval_start__lt=end, interval_end__gt=start,
        interval_start__gte=start - timedelta(days=1)).order_by("interval_start", "is_forecast")
    out, seen = [], set()
    for row in rows:
        if row.interval_start not in seen:
            seen.add(row.interval_start)
            out.append(_as_dict(row))
    return out
