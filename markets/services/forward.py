"""Forward curves per pricing node from its spot-price history: a planning curve, not a traded one.

Method (``month×hour shape``), in the market's local time:

1. **Shape.** From the node's history (day-ahead, else real-time, else computed prices), the mean
   price per hour of day, for each calendar month that has prices in all 24 hours, divided by that
   month's mean (so a day's shape averages to 1). Months of the year without such history use the
   shape of the whole history pooled. With a short history (the CAISO sample holds four days of
   September 2022) every forward month gets that one shape, and the result says so.
2. **Level.** Each forward month's level is the one given in ``levels`` (e.g. a traded monthly
   base price) or else the history's mean for the same month of the year, or else the mean of the
   whole history. Without ``levels`` the curve therefore repeats history; it forecasts nothing.
3. **Curve.** ``price(hour) = level × shape[hour]`` for every hour of the forward months. When the
   history's mean is near zero or negative (≤ 1 per MWh), multiplying a shape is meaningless and
   the shape is added instead: ``price = level + (mean_h − mean)``; ``shaping`` says which.
4. **Carbon beside price.** The node's own carbon series, else its market's ``carbon_zone``:
   mean intensity per (month of year, local hour), with the pooled hour-of-day shape for months
   the series lacks. A year of hourly EIA-930 data gives every month its own daily profile.

Stored as run ``forward`` (hourly ``NodalPrice`` rows, source ``forward:month-hour``) with the
carbon as forecast ``CarbonIntensity`` rows of the zone (``is_forecast=True``, same source).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.db import transaction

from markets.models import CarbonIntensity, Market, MarketRun, NodalPrice, PricingNode
from twin.jobs import JobParameterError, Progress, check_parameters

ProgressFn = Callable[[float, str], None]
SOURCE = "forward:month-hour"
METHOD = ("month×hour shape: mean price per local hour of day and month of year, divided by the "
          "month's mean, scaled to a monthly level (given, else the history's mean for that "
          "month of year, else the history's mean) — a planning curve, not a traded one")
HISTORY_RUNS = (MarketRun.DAY_AHEAD, MarketRun.REAL_TIME, MarketRun.COMPUTED)
MAX_MONTHS = 36


class ForwardError(JobParameterError):
    """The forward curve cannot be built (no history, bad options); nothing was stored."""


def _month(text: str, label: str) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in str(text).split("-"))
        datetime(year, month, 1)
    except (ValueError, TypeError) as exc:
        raise ForwardError(f"{label}: {text!r} is not a month like 2023-01") from exc
    return year, month


def _profile(frame: pd.DataFrame, value: str) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Mean ``value`` per local hour for each month of the year with all 24 hours, and pooled."""
    pooled = frame.groupby("hour")[value].mean().reindex(range(24)).to_numpy()
    by_month = {}
    for month, part in frame.groupby("month"):
        means = part.groupby("hour")[value].mean().reindex(range(24)).to_numpy()
        if np.isfinite(means).all():
            by_month[int(month)] = means
    return by_month, pooled


def _local_frame(rows: list[tuple], zone: ZoneInfo, value: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["start", value])
    local = pd.to_datetime(frame["start"], utc=True).dt.tz_convert(zone)
    frame["hour"], frame["month"] = local.dt.hour, local.dt.month
    frame["ym"] = local.dt.strftime("%Y-%m")
    return frame


def forward_hours(year: int, month: int, months: int, zone: ZoneInfo) -> list[datetime]:
    """UTC starts of every hour from local midnight of ``year-month``-01 for ``months`` months."""
    first = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    y, m = year + (month - 1 + months) // 12, (month - 1 + months) % 12 + 1
    last = datetime(y, m, 1, tzinfo=zone).astimezone(UTC)
    return [first + timedelta(hours=i) for i in range(int((last - first).total_seconds() // 3600))]


def carbon_rows(node: PricingNode) -> tuple[str, list[tuple]]:
    """The carbon history that applies to ``node``: its own series, else its market's zone."""
    own = list(CarbonIntensity.objects.filter(node=node, is_forecast=False)
               .values_list("interval_start", "average_g_per_kwh"))
    if own:
        return f"node {node.code}", own
    zone = node.market.carbon_zone
    if not zone:
        return "", []
    return zone, list(CarbonIntensity.objects.filter(zone=zone, node__isnull=True, is_forecast=False)
                      .values_list("interval_start", "average_g_per_kwh"))


def forward_curve(
    node: PricingNode,
    *,
    months: int = 12,
    run: str | None = None,
    start_month: str | None = None,
    levels: dict[str, float] | None = None,
    carbon: tuple[str, list[tuple]] | None = None,
) -> dict:
    """The hourly forward curve of one node from its price history (see the module docstring).

    Parameters
    ----------
    node
        The pricing node.
    months
        How many calendar months (1–36).
    run
        The history to use (default: day-ahead, else real-time, else computed, whichever the
        node has).
    start_month
        First forward month ``YYYY-MM`` (default: the month after the history ends).
    levels
        Monthly levels ``{"YYYY-MM": price per MWh}`` to scale the shape to, e.g. traded prices.
    carbon
        ``(label, [(interval_start, g/kWh)…])`` to use instead of querying (for many nodes).

    Returns
    -------
    dict
        ``node``, ``currency``, ``method``, ``shaping``, ``history`` (what was used, and a
        ``note`` when it is short), ``carbon`` and ``points`` — hourly ``interval_start``,
        ``interval_end``, ``lmp_per_mwh``, ``carbon_g_per_kwh`` (``None`` without carbon data).

    Raises
    ------
    ForwardError
        Bad ``months``/``start_month``/``levels``/``run``, or no price history for the node.
    """
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ForwardError(f"months must be a whole number from 1 to {MAX_MONTHS}, not {months!r}")
    if run is not None and run not in MarketRun.values:
        raise ForwardError(f"run must be one of {', '.join(MarketRun.values)}, not {run!r}")
    if run == MarketRun.FORWARD:
        raise ForwardError("run: a forward curve is built from spot history, not from itself")
    levels = dict(levels or {})
    for key, value in levels.items():
        _month(key, "levels")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ForwardError(f"levels[{key!r}] must be a number")
    market = node.market
    zone = ZoneInfo(market.time_zone)
    rows: list[tuple] = []
    for candidate in [run] if run else HISTORY_RUNS:
        rows = list(NodalPrice.objects.filter(node=node, run=candidate, is_current=True)
                    .order_by("interval_start").values_list("interval_start", "lmp_per_mwh"))
        if rows:
            run = candidate
            break
    if not rows:
        raise ForwardError(f"node {node.code!r} of {market.name} has no "
                           f"{run or ' / '.join(HISTORY_RUNS)} price history to build a curve from")
    history = _local_frame(rows, zone, "lmp")
    by_month, pooled = _profile(history, "lmp")
    pooled_mean = float(np.nanmean(pooled))
    multiplicative = pooled_mean > 1.0
    last = NodalPrice.objects.filter(node=node, run=run, is_current=True).latest("interval_start")
    end_local = (last.interval_end - timedelta(microseconds=1)).astimezone(zone)
    if start_month:
        year, month = _month(start_month, "start_month")
    else:
        year, month = end_local.year + end_local.month // 12, end_local.month % 12 + 1
    hours = forward_hours(year, month, months, zone)
    local = [t.astimezone(zone) for t in hours]
    label, carbon_history = carbon if carbon is not None else carbon_rows(node)
    c_by_month, c_pooled = ({}, None)
    if carbon_history:
        c_by_month, c_pooled = _profile(_local_frame(carbon_history, zone, "ci"), "ci")
    points = []
    for start, at in zip(hours, local, strict=True):
        shape_means = by_month.get(at.month, pooled)
        mean = float(np.nanmean(shape_means))
        key = f"{at.year:04d}-{at.month:02d}"
        level = float(levels[key]) if key in levels else mean if at.month in by_month else pooled_mean
        hour_mean = shape_means[at.hour]
        if not np.isfinite(hour_mean):  # an hour the history never saw: the day's mean
            hour_mean = mean
        price = level * hour_mean / mean if multiplicative else level + (hour_mean - mean)
        carbon_value = None
        if c_pooled is not None:
            c = c_by_month.get(at.month, c_pooled)[at.hour]
            carbon_value = round(float(c), 3) if np.isfinite(c) else None
        points.append({"interval_start": start, "interval_end": start + timedelta(hours=1),
                       "lmp_per_mwh": round(float(price), 4), "carbon_g_per_kwh": carbon_value})
    months_seen = sorted(history["ym"].unique())
    note = None
    if len(by_month) < 12:
        note = (f"history covers {len(months_seen)} month(s) ({', '.join(months_seen)}), "
                f"{len(history)} intervals from {rows[0][0].isoformat()}; months of the year without "
                "history use the pooled hour-of-day shape and "
                + ("the given level" if levels else "the history's mean as level")
                + ": no seasonal information")
    unused = sorted(set(levels) - {f"{t.year:04d}-{t.month:02d}" for t in local})
    return {
        "node": {"id": node.pk, "code": node.code, "name": node.name, "market": market.name},
        "currency": market.currency, "run": MarketRun.FORWARD, "method": METHOD,
        "shaping": "multiplicative" if multiplicative else "additive (history mean ≤ 1 per MWh)",
        "history": {"run": run, "from": rows[0][0].isoformat(), "to": last.interval_end.isoformat(),
                    "intervals": len(rows), "months": months_seen,
                    "months_with_own_shape": sorted(by_month), "mean_per_mwh": round(pooled_mean, 4),
                    "note": note},
        "levels_given": sorted(set(levels) - set(unused)), "levels_unused": unused,
        "carbon": {"series": label or None, "intervals": len(carbon_history),
                   "months_with_own_shape": sorted(c_by_month)},
        "start": hours[0].isoformat(), "end": (hours[-1] + timedelta(hours=1)).isoformat(),
        "points": points,
    }


def build_forward_curve(
    market: Market | str,
    *,
    node: str | None = None,
    months: int = 12,
    run: str | None = None,
    start_month: str | None = None,
    levels: dict[str, float] | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Build and store forward curves (run ``forward``) for one node or every node with history.

    Parameters
    ----------
    market
        The market or its name.
    node
        A node code; default every node of the market with price history.
    months, run, start_month, levels
        As in :func:`forward_curve`.
    progress
        ``progress(fraction, message)`` callback.

    Returns
    -------
    dict
        Nodes done, nodes without history, points, storage counts, the history used and method.
    """
    from markets.services.opf import resolve_market
    from markets.services.storage import store_prices

    progress = progress or (lambda fraction, message="": None)
    market = resolve_market(market)
    nodes = market.nodes.all().order_by("code")
    if node is not None:
        nodes = nodes.filter(code=node)
        if not nodes.exists():
            raise ForwardError(f"market {market.name!r} has no node {node!r}")
    else:
        with_history = NodalPrice.objects.filter(
            node__market=market, run__in=[run] if run else HISTORY_RUNS, is_current=True)
        nodes = nodes.filter(pk__in=with_history.values("node_id").distinct())
    nodes = list(nodes.select_related("market"))
    if not nodes:
        raise ForwardError(f"market {market.name!r} has no node with price history")
    zone_carbon = None
    rows, curves, skipped, first = [], 0, [], None
    for i, one in enumerate(nodes):
        carbon = None
        if market.carbon_zone and not CarbonIntensity.objects.filter(node=one).exists():
            if zone_carbon is None:
                zone_carbon = carbon_rows(one)
            carbon = zone_carbon
        try:
            curve = forward_curve(one, months=months, run=run, start_month=start_month,
                                  levels=levels, carbon=carbon)
        except ForwardError as exc:
            if node is not None:
                raise
            skipped.append({"node": one.code, "reason": str(exc)})
            continue
        first = first or curve
        curves += 1
        rows += [{"node_id": one.pk, "run": MarketRun.FORWARD, "interval_start": p["interval_start"],
                  "interval_end": p["interval_end"], "lmp_per_mwh": p["lmp_per_mwh"]}
                 for p in curve["points"]]
        progress(0.8 * (i + 1) / len(nodes), f"node {i + 1}/{len(nodes)}")
    if not curves:
        raise ForwardError(f"no forward curve built: {skipped[0]['reason']}")
    progress(0.85, f"storing {len(rows)} forward prices")
    with transaction.atomic():
        stored = store_prices(rows, source=SOURCE)
        carbon_stored = _store_carbon(market, first)
    progress(1.0, "done")
    return {"market": market.name, "run": MarketRun.FORWARD, "method": first["method"],
            "shaping": first["shaping"], "nodes": curves, "nodes_skipped": skipped[:50],
            "points": len(rows), "start": first["start"], "end": first["end"],
            "history": first["history"], "carbon": {**first["carbon"], "stored": carbon_stored},
            "stored": stored}


def _store_carbon(market: Market, curve: dict) -> int:
    """Store the zone's forward carbon (forecast rows, replacing earlier ones of this source)."""
    if not market.carbon_zone or curve["carbon"]["series"] != market.carbon_zone:
        return 0
    points = [p for p in curve["points"] if p["carbon_g_per_kwh"] is not None]
    if not points:
        return 0
    CarbonIntensity.objects.filter(
        zone=market.carbon_zone, node__isnull=True, is_forecast=True, source=SOURCE,
        interval_start__gte=points[0]["interval_start"],
        interval_start__lt=points[-1]["interval_end"]).delete()
    CarbonIntensity.objects.bulk_create([
        CarbonIntensity(zone=market.carbon_zone, interval_start=p["interval_start"],
                        interval_end=p["interval_end"], average_g_per_kwh=p["carbon_g_per_kwh"],
                        is_forecast=True, source=SOURCE) for p in points], batch_size=5000)
    return len(points)


def build_forward_curve_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"market", "node"?, "months"?, "run"?, "start_month"?, "levels"?}`` →
    :func:`build_forward_curve`."""
    check_parameters(parameters, allowed={"node", "months", "run", "start_month", "levels"},
                     required=["market"], error=ForwardError)
    if parameters.get("levels") is not None and not isinstance(parameters["levels"], dict):
        raise ForwardError("levels must be an object {\"YYYY-MM\": price}")
    return build_forward_curve(parameters["market"], node=parameters.get("node") or None,
                               months=parameters.get("months", 12), run=parameters.get("run") or None,
                               start_month=parameters.get("start_month") or None,
                               levels=parameters.get("levels"), progress=progress)
