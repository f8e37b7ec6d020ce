"""Price map overlays: node points coloured by price, Voronoi service areas and an interpolated
price surface (GeoTIFF + PNG for a MapLibre ``image`` source), cached in :class:`PriceOverlay`.

One overlay shows one market run at one interval: the current prices of every located node whose
half-open interval ``[interval_start, interval_end)`` contains the requested instant.

* **points** — a GeoJSON FeatureCollection of the nodes with their price components, carbon
  intensity and a colour, plus a ``stats`` block (min/max/mean/median, the colour ramp and its
  domain) that a legend can draw;
* **voronoi** — one service-area polygon per node location, computed with
  :func:`shapely.voronoi_polygons` in the nodes' UTM zone (metres) and clipped to the nodes'
  convex hull: the cells cover the hull exactly, without overlaps. Nodes sharing one location
  share one cell (its properties list them and carry their mean price);
* **surface** — prices interpolated (:mod:`markets.services.interpolate`, IDW or linear on the
  Delaunay triangulation, in UTM metres) onto a grid in **EPSG:3857**, written as a float32
  GeoTIFF whose nodata (NaN) marks everything outside the coverage. Web Mercator is used
  because MapLibre's ``image`` source stretches an image linearly between four lon/lat corners
  *in Mercator*: a 3857 grid lands on the map pixel-exactly, a lon/lat grid would not. The
  coverage is the hull grown by half a pixel diagonal, so the pixel holding a node on the hull
  still has a value; :func:`render_png` colours the raster with a transparent nodata.

Overlays are cached per (market, run, interval, kind, method): a cached row is reused while the
digest of its inputs (node ids, locations, prices, carbon, build options) is unchanged, and
rebuilt when any of them changes — a revised price makes a new digest.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import shapely
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from markets.models import CarbonIntensity, Market, MarketRun, NodalPrice, OverlayKind, PriceOverlay
from markets.services.errors import NoPrices, OverlayError
from markets.services.interpolate import METHODS
from markets.services.surfaces import (
    DEFAULT_SIZE,
    geotiff_bytes,
    price_stats,
    ramp_colors,
    read_geotiff,
    render_png,
    surface_grid,
    utm_transformers,
    voronoi_cells,
)
from twin.jobs import Progress, check_parameters

FORMAT_VERSION = 1  # part of every digest: bump when the overlays' content changes
MIN_SIZE, MAX_SIZE = 16, 4096
_COMPONENTS = ("lmp_per_mwh", "energy_per_mwh", "congestion_per_mwh", "loss_per_mwh",
               "ghg_per_mwh")


@dataclass
class Snapshot:
    """The current located prices of one market run at one instant."""

    market: Market
    run: str
    at: datetime
    interval_start: datetime
    interval_end: datetime
    nodes: list[dict] = field(default_factory=list)

    @property
    def lonlat(self) -> np.ndarray:
        return np.array([[n["lon"], n["lat"]] for n in self.nodes], dtype=float)

    @property
    def lmp(self) -> np.ndarray:
        return np.array([n["lmp_per_mwh"] for n in self.nodes], dtype=float)


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

def parse_instant(value) -> datetime:
    """An ISO 8601 instant with a UTC offset (``Z`` or ``±hh:mm``) as an aware datetime."""
    if isinstance(value, datetime):
        parsed = value
    else:
        # An unencoded "+" in a query string arrives as a space: "…T18:00:00 02:00".
        text = re.sub(r" (\d\d:?\d\d)$", r"+\1", str(value or "").strip())
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise OverlayError(f"at: {value!r} is not an ISO 8601 date-time "
                               "(e.g. 2022-09-01T18:00:00Z)")
    if parsed.utcoffset() is None:
        raise OverlayError("at: give a UTC offset (e.g. 2022-09-01T18:00:00Z or +02:00); "
                           "local times are ambiguous")
    return parsed


def resolve_market(name) -> Market:
    """The market called ``name`` or an :class:`OverlayError` naming the known ones."""
    if not name:
        raise OverlayError("market: required (a market name)")
    market = Market.objects.filter(name=str(name)).first()
    if market is None:
        known = ", ".join(Market.objects.values_list("name", flat=True)[:20]) or "none"
        raise OverlayError(f"market: unknown market {name!r} (known: {known})")
    return market


def check_options(*, run: str, kind: str, method: str = "idw", size: int = DEFAULT_SIZE) -> None:
    """Raise :class:`OverlayError` for an unknown run, kind or method or a size out of range."""
    if run not in MarketRun.values:
        raise OverlayError(f"run: {run!r} is not one of {', '.join(MarketRun.values)}")
    if kind not in OverlayKind.values:
        raise OverlayError(f"kind: {kind!r} is not one of {', '.join(OverlayKind.values)}")
    if method not in METHODS:
        raise OverlayError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if not (isinstance(size, int) and MIN_SIZE <= size <= MAX_SIZE):
        raise OverlayError(f"size: must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def price_snapshot(market: Market, run: str, at: datetime) -> Snapshot:
    """The current prices of every located node of ``market``/``run`` whose interval holds ``at``.

    Raises
    ------
    NoPrices
        When no located node has a price then.
    """
    rows = list(
        NodalPrice.objects.filter(
            node__market=market, run=run, is_current=True, interval_start__lte=at,
            interval_end__gt=at, node__location__isnull=False,
        ).order_by("node_id", "-version").values_list(
            "node_id", "node__code", "node__name", "node__kind", "node__area", "node__location",
            "interval_start", "interval_end", *_COMPONENTS,
        )
    )
    if not rows:
        raise NoPrices(f"no {run} prices of {market.name} with a located node at "
                       f"{at.isoformat()}")
    nodes, seen = [], set()
    for node_id, code, name, kind, area, location, start, end, *values in rows:
        if node_id in seen:
            continue
        seen.add(node_id)
        nodes.append({
            "id": node_id, "code": code, "name": name, "kind": kind, "area": area,
            "lon": location.x, "lat": location.y, "interval_start": start, "interval_end": end,
            **dict(zip(_COMPONENTS, values, strict=True)),
        })
    snapshot = Snapshot(
        market=market, run=run, at=at,
        interval_start=max(n["interval_start"] for n in nodes),
        interval_end=min(n["interval_end"] for n in nodes), nodes=nodes,
    )
    _attach_carbon(snapshot)
    return snapshot


def _attach_carbon(snapshot: Snapshot) -> None:
    """``carbon_g_per_kwh`` per node at the start of the price interval (so one cached overlay
    has one answer): the node's own series, else the market's carbon zone; measured values
    before forecasts."""
    at = snapshot.interval_start
    current = CarbonIntensity.objects.filter(interval_start__lte=at, interval_end__gt=at)
    by_node: dict[int, float] = {}
    ids = [n["id"] for n in snapshot.nodes]
    for node_id, value, _ in current.filter(node_id__in=ids).order_by(
            "node_id", "-is_forecast", "source").values_list("node_id", "average_g_per_kwh",
                                                             "is_forecast"):
        by_node[node_id] = value  # ordered so the last one written is a measured value
    zone_value = None
    if snapshot.market.carbon_zone:
        zone_value = current.filter(zone=snapshot.market.carbon_zone).order_by(
            "is_forecast", "source").values_list("average_g_per_kwh", flat=True).first()
    for node in snapshot.nodes:
        node["carbon_g_per_kwh"] = by_node.get(node["id"], zone_value)


def inputs_digest(snapshot: Snapshot, *, kind: str, method: str = "", size: int = 0) -> str:
    """SHA-256 of everything an overlay is built from (changes when any price changes)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT_VERSION, snapshot.market.pk, snapshot.run, kind, method,
                              size, snapshot.interval_start.isoformat()]).encode())
    for node in sorted(snapshot.nodes, key=lambda n: n["id"]):
        digest.update(repr((node["id"], node["lon"], node["lat"],
                            *(node[c] for c in _COMPONENTS), node["carbon_g_per_kwh"])).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Pure builders (numpy / shapely / rasterio, no database)
# ---------------------------------------------------------------------------------------------

def _node_properties(node: dict) -> dict:
    return {
        "id": node["id"], "code": node["code"], "name": node["name"], "kind": node["kind"],
        "area": node["area"], **{c: node[c] for c in _COMPONENTS},
        "carbon_g_per_kwh": node["carbon_g_per_kwh"],
    }


def _rounded(geometry):
    return json.loads(shapely.to_geojson(shapely.transform(geometry, lambda c: np.round(c, 6))))


def _collection(snapshot: Snapshot, features: list[dict], stats: dict) -> dict:
    return {
        "type": "FeatureCollection", "market": snapshot.market.name, "run": snapshot.run,
        "interval_start": snapshot.interval_start.isoformat(),
        "interval_end": snapshot.interval_end.isoformat(), "stats": stats, "features": features,
    }


def _carbon_stats(snapshot: Snapshot) -> dict | None:
    values = [n["carbon_g_per_kwh"] for n in snapshot.nodes if n["carbon_g_per_kwh"] is not None]
    if not values:
        return None
    return {"min": min(values), "max": max(values), "unit": "gCO2/kWh", "count": len(values)}


def points_geojson(snapshot: Snapshot) -> dict:
    """Node points coloured by price, with the ``stats`` colour-scale block."""
    lmp = snapshot.lmp
    stats = price_stats(lmp, snapshot.market.currency)
    stats["carbon"] = _carbon_stats(snapshot)
    colors = ramp_colors(lmp, *(stats["domain"] or (0, 0)))
    features = [{
        "type": "Feature", "id": node["id"],
        "geometry": {"type": "Point", "coordinates": [round(node["lon"], 6), round(node["lat"], 6)]},
        "properties": {**_node_properties(node), "color": "#{:02x}{:02x}{:02x}".format(*color)},
    } for node, color in zip(snapshot.nodes, colors, strict=True)]
    return _collection(snapshot, features, stats)


def voronoi_geojson(snapshot: Snapshot) -> dict:
    """Service-area polygons (EPSG:4326) per node location, clipped to the nodes' hull."""
    lonlat = snapshot.lonlat
    _, to_utm, to_lonlat = utm_transformers(lonlat)
    x, y = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
    try:
        cells, owner = voronoi_cells(np.c_[x, y])
    except ValueError as exc:
        raise OverlayError(f"voronoi: {exc}") from exc
    lmp = snapshot.lmp
    stats = price_stats(lmp, snapshot.market.currency)
    stats["carbon"] = _carbon_stats(snapshot)
    features = []
    for k, cell in enumerate(cells):
        members = [snapshot.nodes[i] for i in np.flatnonzero(owner == k)]
        props = _node_properties(members[0])
        if len(members) > 1:
            for c in _COMPONENTS:
                known = [m[c] for m in members if m[c] is not None]
                props[c] = float(np.mean(known)) if known else None
            props["nodes"] = [m["code"] for m in members]
        props["area_km2"] = round(cell.area / 1e6, 4)
        geometry = shapely.transform(cell, lambda c: np.column_stack(
            to_lonlat.transform(c[:, 0], c[:, 1])))
        features.append({"type": "Feature", "id": members[0]["id"],
                         "geometry": _rounded(geometry), "properties": props})
    return _collection(snapshot, features, stats)


def _cache_method(kind: str, method: str, size: int) -> str:
    return f"{method}/{size}" if kind == OverlayKind.SURFACE else ""


def get_overlay(market: Market, run: str, at: datetime, *, kind: str, method: str = "idw",
                size: int = DEFAULT_SIZE, build: bool = True) -> tuple[PriceOverlay | None, bool]:
    """The cached overlay of ``market``/``run`` at ``at``, rebuilt if its inputs changed.

    Parameters
    ----------
    build
        When false, return ``(None, False)`` instead of building a missing or stale overlay.

    Returns
    -------
    (overlay, built)
        The :class:`PriceOverlay` row and whether it was (re)built by this call.

    Raises
    ------
    OverlayError
        Bad options or too few nodes; :class:`NoPrices` when there are no prices at ``at``.
    """
    check_options(run=run, kind=kind, method=method, size=size)
    snapshot = price_snapshot(market, run, at)
    cache_method = _cache_method(kind, method, size)
    digest = inputs_digest(snapshot, kind=kind, method=cache_method, size=size)
    key = {"market": market, "run": run, "interval_start": snapshot.interval_start, "kind": kind,
           "method": cache_method}
    cached = PriceOverlay.objects.filter(**key).first()
    if cached is not None and cached.inputs_digest == digest and (
            kind != OverlayKind.SURFACE or _raster_exists(cached)):
        return cached, False
    if not build:
        return None, False
    started = time.perf_counter()
    fields: dict = {"inputs_digest": digest}
    if kind == OverlayKind.POINTS:
        fields["geojson"] = points_geojson(snapshot)
    elif kind == OverlayKind.VORONOI:
        fields["geojson"] = voronoi_geojson(snapshot)
    if kind in (OverlayKind.POINTS, OverlayKind.VORONOI):
        fields["stats"] = {**fields["geojson"]["stats"], "nodes": len(snapshot.nodes)}
        fields["bounds"] = _lonlat_bounds(snapshot.lonlat)
    else:
        try:
            grid = surface_grid(snapshot.lonlat, snapshot.lmp, method=method, size=size)
        except ValueError as exc:
            raise OverlayError(f"surface: {exc}") from exc
        node_stats = price_stats(snapshot.lmp, market.currency)
        stats = price_stats(grid["array"], market.currency)
        stats.update(
            # The nodes' colour domain, so the PNG matches the points overlay's legend.
            domain=node_stats["domain"], domain_clipped=node_stats["domain_clipped"],
            node_range=[node_stats["min"], node_stats["max"]],
            nodes=len(snapshot.nodes), width=grid["width"], height=grid["height"],
            crs=grid["crs"], method=method, size=size, coordinates=grid["coordinates"],
            utm_srid=grid["utm_srid"], coverage_buffer_m=round(grid["buffer_m"], 2),
            covered_fraction=round(float(np.isfinite(grid["array"]).mean()), 4),
        )
        grid["tags"] = {"market": market.name, "run": run, "method": method,
                        "interval_start": snapshot.interval_start.isoformat(),
                        "interval_end": snapshot.interval_end.isoformat(),
                        "unit": stats["unit"], "inputs_digest": digest}
        fields.update(geojson=None, bounds=grid["bounds"], stats=stats)
        raster = geotiff_bytes(grid)
    fields["stats"]["interval_end"] = snapshot.interval_end.isoformat()
    fields["stats"]["build_s"] = round(time.perf_counter() - started, 4)
    try:
        return _store(key, fields, raster if kind == OverlayKind.SURFACE else None), True
    except IntegrityError:  # a concurrent build created the row first: update that one
        return _store(key, fields, raster if kind == OverlayKind.SURFACE else None), True


def _store(key: dict, fields: dict, raster: bytes | None) -> PriceOverlay:
    """Create or update the cache row (and its GeoTIFF) in one transaction."""
    with transaction.atomic():
        overlay = PriceOverlay.objects.select_for_update().filter(**key).first() or \
            PriceOverlay(**key)
        old_file = overlay.raster.name if overlay.raster else ""
        for name, value in fields.items():
            setattr(overlay, name, value)
        if raster is not None:
            name = (f"{key['market'].name}-{key['run']}-{key['interval_start']:%Y%m%dT%H%MZ}-"
                    f"{key['method']}-{fields['inputs_digest'][:12]}.tif").replace("/", "_")
            overlay.raster.save(name, ContentFile(raster), save=False)
        overlay.save()
        if old_file and old_file != overlay.raster.name:
            storage = overlay.raster.storage
            transaction.on_commit(lambda: storage.delete(old_file))
    return overlay


def _raster_exists(overlay: PriceOverlay) -> bool:
    return bool(overlay.raster) and overlay.raster.storage.exists(overlay.raster.name)


def _lonlat_bounds(lonlat: np.ndarray) -> list[float]:
    return [float(lonlat[:, 0].min()), float(lonlat[:, 1].min()),
            float(lonlat[:, 0].max()), float(lonlat[:, 1].max())]


def overlay_png(overlay: PriceOverlay, *, vmin: float | None = None,
                vmax: float | None = None) -> bytes:
    """Render a cached surface overlay as an RGBA PNG (domain: the nodes' colour domain, as in
    the points overlay, unless ``vmin``/``vmax`` fix it, e.g. to keep colours comparable across
    intervals)."""
    with overlay.raster.open("rb") as handle:
        array, _ = read_geotiff(handle)
    domain = overlay.stats.get("domain") or [0.0, 0.0]
    low = domain[0] if vmin is None else vmin
    high = domain[1] if vmax is None else vmax
    if not high >= low:
        raise OverlayError("vmin must not exceed vmax")
    return render_png(array, low, high)


def build_price_overlay(*, market: str, run: str, at, kind: str = "surface", method: str = "idw",
                        size: int = DEFAULT_SIZE, out: str | Path | None = None) -> dict:
    """Build (or reuse) one overlay and optionally copy it to ``out``; returns a JSON summary.

    ``out`` receives the GeoTIFF for a surface and the GeoJSON for points/voronoi.
    """
    market_row = resolve_market(market)
    instant = parse_instant(at)
    overlay, built = get_overlay(market_row, run, instant, kind=kind, method=method, size=size)
    summary = {
        "overlay": overlay.pk, "market": market_row.name, "run": run, "kind": kind,
        "method": method if kind == OverlayKind.SURFACE else "",
        "interval_start": overlay.interval_start.isoformat(), "built": built,
        "inputs_digest": overlay.inputs_digest, "bounds": overlay.bounds, "stats": overlay.stats,
    }
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == OverlayKind.SURFACE:
            with overlay.raster.open("rb") as handle:
                path.write_bytes(handle.read())
        else:
            path.write_text(json.dumps(overlay.geojson))
        summary["out"] = str(path)
    return summary


def build_price_overlay_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"market", "run", "at", "kind": surface, "method": idw, "size": 1024}``."""
    check_parameters(parameters, allowed={"kind", "method", "size"},
                     required=["market", "run", "at"], error=OverlayError)
    progress(0.05, "building the overlay")
    try:
        size = int(parameters.get("size", DEFAULT_SIZE))
    except (TypeError, ValueError) as exc:
        raise OverlayError("size: must be an integer") from exc
    summary = build_price_overlay(
        market=parameters["market"], run=parameters["run"], at=parameters["at"],
        kind=parameters.get("kind", "surface"), method=parameters.get("method", "idw"),
        size=size,
    )
    progress(1.0, f"{summary['kind']} overlay ready")
    return summary


