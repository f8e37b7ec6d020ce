"""Inspection targets: twin objects (supports, spans, substations) or arbitrary points.

Each target has a key that plans, summaries and exports share (see :mod:`routing.models`):
``support:<id>``, ``span:<a>-<b>`` (the span between consecutive supports ``a`` and ``b`` of a
line, inspected at its midpoint along the line), ``substation:<id>``, ``point:<n>``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry, Polygon
from pyproj import Transformer

from routing.services.errors import RoutingInputError
from twin.models import Line, LineKind, Region, Substation, Support
from twin.services.geometry import GeometryError, parse_bbox, utm_srid

TARGET_KINDS = ("supports", "spans", "substations", "points")


@dataclass(frozen=True)
class Target:
    """One place a drone must visit (and hover at)."""

    key: str
    kind: str
    lon: float
    lat: float
    name: str = ""

    def as_dict(self) -> dict:
        return {"target": self.key, **{k: v for k, v in asdict(self).items() if k != "key"}}


def _bbox(bbox: str | Polygon | None) -> Polygon | None:
    if bbox is None or isinstance(bbox, Polygon):
        return bbox
    try:
        return parse_bbox(bbox)
    except GeometryError as exc:
        raise RoutingInputError(f"bbox: {exc}") from exc


def _ids(ids) -> list[int] | None:
    if ids is None:
        return None
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError) as exc:
        raise RoutingInputError("ids must be a list of integers") from exc


def _by_ids(rows, ids, noun: str, region: Region):
    """``rows`` narrowed to ``ids``; an id that is not among them is an error, not silently
    one target fewer."""
    if (ids := _ids(ids)) is None:
        return rows
    rows = rows.filter(pk__in=ids)
    found = set(rows.values_list("pk", flat=True))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise RoutingInputError(f"targets: unknown {noun} id(s) in region {region.name!r}: "
                                f"{', '.join(missing[:20])}{' …' if len(missing) > 20 else ''}")
    return rows


def support_targets(region: Region, *, ids=None, bbox=None) -> list[Target]:
    """Towers and poles of ``region`` (present ones), by id and/or within a bbox."""
    rows = _by_ids(Support.objects.filter(region=region, missing_since__isnull=True), ids,
                   "support", region)
    if (box := _bbox(bbox)) is not None:
        rows = rows.filter(location__intersects=box)
    return [Target(f"support:{s.pk}", "support", s.location.x, s.location.y, s.name or s.ref)
            for s in rows.order_by("id")]


def substation_targets(region: Region, *, ids=None, bbox=None) -> list[Target]:
    """Substations of ``region`` at their representative point."""
    rows = _by_ids(Substation.objects.filter(region=region, missing_since__isnull=True), ids,
                   "substation", region)
    if (box := _bbox(bbox)) is not None:
        rows = rows.filter(location__intersects=box)
    return [Target(f"substation:{s.pk}", "substation", s.location.x, s.location.y, s.name)
            for s in rows.order_by("id")]


def line_spans(line: Line) -> list[tuple[int, int, float, float]]:
    """Spans of a line: ``(support a, support b, mid lon, mid lat)`` for consecutive supports.

    Supports are ordered by their position along the line (projected in metres); the midpoint
    is halfway along the line between the two, so a bent span is inspected on the wire.
    """
    supports = list(line.supports.filter(missing_since__isnull=True).values_list("pk", "location"))
    if len(supports) < 2:
        return []
    geom = shapely.from_wkb(bytes(line.geometry.wkb))
    srid = utm_srid(line.geometry.centroid)
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{srid}", always_xy=True)
    to_wgs = Transformer.from_crs(f"EPSG:{srid}", "EPSG:4326", always_xy=True)
    geom = shapely.transform(geom, lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1])))
    parts = list(getattr(shapely.line_merge(geom), "geoms", [shapely.line_merge(geom)]))
    spans = []
    for part in parts:
        on_part = []
        for pk, loc in supports:
            point = shapely.Point(to_utm.transform(loc.x, loc.y))
            if part.distance(point) <= 5.0:  # supports are vertices of the line
                on_part.append((part.project(point), pk))
        on_part.sort()
        for (da, a), (db, b) in itertools.pairwise(on_part):
            if db - da <= 0:
                continue
            mid = part.interpolate((da + db) / 2)
            lon, lat = to_wgs.transform(mid.x, mid.y)
            spans.append((a, b, float(lon), float(lat)))
    return spans


def span_targets(region: Region, *, ids=None, bbox=None) -> list[Target]:
    """Spans of the overhead lines of ``region`` (``ids`` are line ids), midpoints in a bbox."""
    lines = Line.objects.filter(region=region, missing_since__isnull=True).exclude(
        kind=LineKind.CABLE)
    lines = _by_ids(lines, ids, "overhead line", region)
    box = _bbox(bbox)
    seen: set[frozenset] = set()
    targets = []
    for line in lines.order_by("id"):
        for a, b, lon, lat in line_spans(line):
            if frozenset((a, b)) in seen:
                continue  # the same span carried by two lines
            seen.add(frozenset((a, b)))
            if box is not None and not box.intersects(GEOSGeometry(f"POINT({lon} {lat})", 4326)):
                continue
            targets.append(Target(f"span:{a}-{b}", "span", lon, lat, line.name or line.ref))
    return targets


def point_targets(points) -> list[Target]:
    """Arbitrary points: ``[[lon, lat], …]``, or a GeoJSON FeatureCollection / geometry of points."""
    if isinstance(points, str):
        try:
            points = json.loads(points)
        except ValueError as exc:
            raise RoutingInputError("points: not valid JSON") from exc
    coords: list[tuple[float, float, str]] = []
    if isinstance(points, dict):
        features = points.get("features") if points.get("type") == "FeatureCollection" else [
            {"geometry": points, "properties": {}} if points.get("type") != "Feature" else points]
        for feature in features or []:
            geometry = (feature or {}).get("geometry") or {}
            name = str(((feature or {}).get("properties") or {}).get("name", ""))
            if geometry.get("type") == "Point":
                coords.append((*geometry.get("coordinates", [None, None])[:2], name))
            elif geometry.get("type") == "MultiPoint":
                coords.extend((*c[:2], name) for c in geometry.get("coordinates", []))
            else:
                raise RoutingInputError(f"points: expected Point features, got {geometry.get('type')}")
    elif isinstance(points, list | tuple):
        for item in points:
            if not isinstance(item, list | tuple) or len(item) < 2:
                raise RoutingInputError("points: expected [lon, lat] pairs")
            coords.append((item[0], item[1], ""))
    else:
        raise RoutingInputError("points: expected a list of [lon, lat] or GeoJSON points")
    targets = []
    for n, (lon, lat, name) in enumerate(coords):
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise RoutingInputError(f"points: point {n} has no numeric lon/lat") from exc
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not np.isfinite([lon, lat]).all():
            raise RoutingInputError(f"points: point {n} is out of range ({lon}, {lat})")
        targets.append(Target(f"point:{n}", "point", lon, lat, name))
    return targets


def resolve_targets(region: Region, kind: str, *, ids=None, bbox=None, points=None,
                    limit: int | None = None) -> list[Target]:
    """The targets of a plan request.

    Parameters
    ----------
    region
        The region whose twin objects are meant.
    kind
        ``supports``, ``spans``, ``substations`` or ``points``.
    ids
        Object ids to keep (for ``spans``: line ids).
    bbox
        ``minx,miny,maxx,maxy`` (or a polygon): keep targets inside.
    points
        For ``points``: ``[[lon, lat], …]`` or GeoJSON points.
    limit
        Keep only the first ``limit`` targets (by id order).

    Raises
    ------
    RoutingInputError
        Unknown kind, bad ids/bbox/points, or an empty target set.
    """
    if kind not in TARGET_KINDS:
        raise RoutingInputError(f"unknown target kind {kind!r}; expected one of "
                                f"{', '.join(TARGET_KINDS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise RoutingInputError("limit must be a positive integer")
    if kind == "points":
        if points is None:
            raise RoutingInputError("points are required for target kind 'points'")
        targets = point_targets(points)
    else:
        targets = {"supports": support_targets, "spans": span_targets,
                   "substations": substation_targets}[kind](region, ids=ids, bbox=bbox)
    if limit is not None:
        targets = targets[:limit]
    if not targets:
        raise RoutingInputError(f"no {kind} to inspect in region {region.name!r} with the given "
                                "filters: the target set is empty")
    return targets
