"""The price queries the API and the maps use: all nodes at an instant, one node over a range,
a market's intervals, and the price at any location (nearest node or interpolated)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from django.contrib.gis.geos import Point

from markets.models import Market, NodalPrice, PricingNode
from markets.services.storage import (
    PRICE_VALUES,
)

# Longest interval a query looks back for (a forward curve may have month-long intervals).
MAX_INTERVAL = timedelta(days=32)


def _market_prices(market: Market, run: str):
    return NodalPrice.objects.filter(node__market=market, run=run, is_current=True)


def prices_at(market: Market, run: str, at: datetime):
    """The current price of every node of ``market`` in ``run`` for the interval holding ``at``.

    Returns a queryset of :class:`~markets.models.NodalPrice` with ``node`` loaded, ordered by
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
    Shepard) interpolation of the nodes' prices (:func:`markets.services.interpolate.interpolate`),
    ``None`` outside their convex hull, with the market's carbon intensity; the nearest node is
    given for reference.

    Returns ``{"method", "node", "distance_m", "lmp_per_mwh", "interval_start", "interval_end",
    "carbon", "note"}`` (``node``: a :class:`~markets.models.PricingNode` or ``None``; ``carbon``:
    :func:`~markets.services.carbon.carbon_at`'s answer). Raises ``ValueError`` when interpolation
    is impossible (fewer than three nodes, or all on one line).
    """
    from pyproj import Transformer

    from markets.services.carbon import carbon_at
    from markets.services.interpolate import interpolate
    from twin.services.geometry import utm_srid

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

