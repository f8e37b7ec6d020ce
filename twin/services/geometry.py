"""Geometry helpers: validation, geodesic measures and the bbox / radius envelopes used by filters.

Geometry is stored in EPSG:4326; anything measured is measured on the WGS84 ellipsoid, never in
degrees.
"""

from __future__ import annotations

import math

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point, Polygon
from pyproj import Geod
from shapely import wkb as shapely_wkb
from shapely.validation import explain_validity

WGS84 = Geod(ellps="WGS84")
MAX_RADIUS_M = 100_000.0
METRES_PER_DEGREE_LAT_MIN = 110_574.0  # at the equator, the shortest degree of latitude


class GeometryError(ValueError):
    """A geometry that cannot be stored: wrong type, invalid, or out of range."""


def geodesic_length_m(geometry: GEOSGeometry | None) -> float:
    """Length of a (multi)line on the WGS84 ellipsoid in metres; 0 for empty or missing input."""
    if geometry is None or geometry.empty:
        return 0.0
    return float(WGS84.geometry_length(shapely_wkb.loads(bytes(geometry.wkb))))


def check_geometry(geometry: GEOSGeometry, allowed_types: tuple[str, ...]) -> GEOSGeometry:
    """Validate a geometry for storage and return it in EPSG:4326.

    Parameters
    ----------
    geometry
        The geometry, with its SRID set (EPSG:4326 assumed where missing).
    allowed_types
        GEOS type names accepted (``"Point"``, ``"LineString"`` …). A Polygon is promoted to a
        MultiPolygon when only ``"MultiPolygon"`` is allowed.

    Raises
    ------
    GeometryError
        With a message that says what is wrong: the type, an invalid shape (and where), empty,
        or coordinates outside longitude −180…180 / latitude −90…90.
    """
    if geometry.srid is None:
        geometry.srid = 4326
    if geometry.srid != 4326:
        geometry = geometry.transform(4326, clone=True)
    if geometry.geom_type == "Polygon" and "MultiPolygon" in allowed_types and (
        "Polygon" not in allowed_types
    ):
        geometry = MultiPolygon(geometry, srid=4326)
    if geometry.geom_type not in allowed_types:
        raise GeometryError(
            f"expected {' or '.join(allowed_types)}, got {geometry.geom_type}"
        )
    if geometry.empty:
        raise GeometryError("geometry is empty")
    minx, miny, maxx, maxy = geometry.extent
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(
            "coordinates out of range: longitude must be within -180..180 and latitude within "
            f"-90..90 (got extent {minx:g},{miny:g},{maxx:g},{maxy:g})"
        )
    if not geometry.valid:
        reason = explain_validity(shapely_wkb.loads(bytes(geometry.wkb)))
        raise GeometryError(f"invalid geometry: {reason}")
    return geometry


def parse_bbox(text: str) -> Polygon:
    """Parse ``minx,miny,maxx,maxy`` (degrees, EPSG:4326) into a polygon.

    Raises :class:`GeometryError` for anything but four finite numbers in range with min < max.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise GeometryError("expected four numbers: minx,miny,maxx,maxy")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError as exc:
        raise GeometryError("expected four numbers: minx,miny,maxx,maxy") from exc
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise GeometryError("bbox values must be finite numbers")
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise GeometryError("longitudes must be within -180..180 and latitudes within -90..90")
    if minx >= maxx or miny >= maxy:
        raise GeometryError("minx must be less than maxx and miny less than maxy")
    return Polygon.from_bbox((minx, miny, maxx, maxy))


def parse_point(text: str) -> Point:
    """Parse ``lon,lat`` (degrees) into a point, raising :class:`GeometryError` when malformed."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError as exc:
        raise GeometryError("expected lon,lat as two numbers") from exc
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GeometryError("lon,lat must be finite numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GeometryError("longitude must be within -180..180 and latitude within -90..90")
    return Point(lon, lat, srid=4326)


def radius_envelope(center: Point, radius_m: float) -> Polygon:
    """A lon/lat box that surely contains every point within ``radius_m`` of ``center``.

    Used as an index-friendly pre-filter in front of the exact geodesic distance test. The box
    is widened to the whole longitude range near the poles or across the antimeridian.
    """
    dlat = radius_m / METRES_PER_DEGREE_LAT_MIN * 1.01
    miny, maxy = max(-90.0, center.y - dlat), min(90.0, center.y + dlat)
    widest_lat = max(abs(miny), abs(maxy))
    if widest_lat >= 89.0:
        minx, maxx = -180.0, 180.0
    else:
        dlon = dlat / math.cos(math.radians(widest_lat))
        minx, maxx = center.x - dlon, center.x + dlon
        if minx < -180 or maxx > 180:
            minx, maxx = -180.0, 180.0
    return Polygon.from_bbox((minx, miny, maxx, maxy))


def utm_srid(point: Point) -> int:
    """EPSG code of the UTM zone containing ``point`` (WGS84 / UTM north 326xx, south 327xx)."""
    zone = min(60, int((point.x + 180) // 6) + 1)
    return (32600 if point.y >= 0 else 32700) + zone
