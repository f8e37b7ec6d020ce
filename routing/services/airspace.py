"""Airspace: no-fly zones imported from OSM, and the graph edges they forbid.

From a region's OSM extract :func:`import_no_fly_zones` takes

* ``aeroway=aerodrome|heliport|helipad`` (points or areas), buffered by ``radius_m``;
* ``military=*`` and ``landuse=military`` areas (buffered by ``military_buffer_m``) and military
  points (buffered by ``military_point_radius_m``);
* ``boundary=protected_area`` only where tagged as closed to drones or to access
  (``drone=no`` or ``access=no``), unbuffered.

Zones are stored in EPSG:4326 as :class:`~routing.models.NoFlyZone` rows; re-importing the same
file changes nothing, and OSM zones that vanished from the file are deleted (operators' zones are
never touched). :func:`forbidden_edges` finds the edges of a projected graph that lie inside or
cross any zone that applies at the planned altitude (an STRtree query, in metres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import transaction
from pyproj import Transformer
from shapely.geometry import Point as ShapelyPoint

from routing.models import NoFlyZone, NoFlyZoneKind, NoFlyZoneSource
from routing.services.errors import RoutingInputError
from twin.models import Region
from twin.services.geometry import utm_srid

AEROWAYS = {"aerodrome": NoFlyZoneKind.AERODROME, "heliport": NoFlyZoneKind.HELIPORT,
            "helipad": NoFlyZoneKind.HELIPAD}


@dataclass
class ZoneFeature:
    source_id: str
    kind: str
    name: str
    geometry: shapely.Geometry  # EPSG:4326, before buffering
    buffer_m: float
    tags: dict


def _kind(tags: osmium.osm.TagList) -> str | None:
    if tags.get("aeroway") in AEROWAYS:
        return AEROWAYS[tags["aeroway"]]
    if "military" in tags or tags.get("landuse") == "military":
        return NoFlyZoneKind.MILITARY
    if tags.get("boundary") == "protected_area" and (
            tags.get("drone") == "no" or tags.get("access") == "no"):
        return NoFlyZoneKind.PROTECTED_AREA
    return None


def read_no_fly_features(osm_file: Path, *, radius_m: float, military_buffer_m: float,
                         military_point_radius_m: float) -> list[ZoneFeature]:
    """The no-fly features of an OSM extract (points and areas), with the buffer each gets."""
    wkb = osmium.geom.WKBFactory()
    features: list[ZoneFeature] = []
    keys = osmium.filter.KeyFilter("aeroway", "military", "landuse", "boundary")
    processor = osmium.FileProcessor(str(osm_file)).with_areas(keys).with_filter(keys)
    for obj in processor:
        if obj.is_way() or obj.is_relation():
            continue  # their areas come as area objects
        kind = _kind(obj.tags)
        if kind is None:
            continue
        tags = dict(obj.tags)
        if obj.is_node():
            if not obj.location.valid():
                continue
            geom = ShapelyPoint(obj.location.lon, obj.location.lat)
            source_id = f"osm:node/{obj.id}"
            buffer = military_point_radius_m if kind == NoFlyZoneKind.MILITARY else radius_m
        else:
            try:
                geom = shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(obj)))
            except RuntimeError:
                continue  # broken multipolygon in the extract
            source_id = f"osm:{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
            buffer = {NoFlyZoneKind.MILITARY: military_buffer_m,
                      NoFlyZoneKind.PROTECTED_AREA: 0.0}.get(kind, radius_m)
        features.append(ZoneFeature(source_id, kind, tags.get("name", ""), geom, buffer, tags))
    return features


def _buffered(feature: ZoneFeature) -> MultiPolygon:
    center = feature.geometry.centroid
    srid = utm_srid(GEOSGeometry(center.wkt, srid=4326))
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{srid}", always_xy=True)
    to_wgs = Transformer.from_crs(f"EPSG:{srid}", "EPSG:4326", always_xy=True)
    projected = shapely.transform(feature.geometry, lambda c: np.column_stack(
        to_utm.transform(c[:, 0], c[:, 1])))
    if feature.buffer_m > 0:
        projected = projected.buffer(feature.buffer_m, quad_segs=16)
    geom = shapely.transform(projected, lambda c: np.column_stack(
        to_wgs.transform(c[:, 0], c[:, 1])))
    geom = shapely.make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
    return MultiPolygon([GEOSGeometry(p.wkt, srid=4326) for p in polys], srid=4326)


def import_no_fly_zones(region: Region, osm_file: str | Path, *, radius_m: float = 500.0,
                        military_buffer_m: float = 0.0, military_point_radius_m: float = 100.0,
                        ) -> dict:
    """Import (or re-import) the OSM no-fly zones of ``region`` from its extract.

    Parameters
    ----------
    region
        The region the zones belong to.
    osm_file
        A local ``.osm.pbf`` / ``.osm`` / ``.osm.bz2`` file.
    radius_m
        Buffer around aerodromes, heliports and helipads (default 500 m).
    military_buffer_m, military_point_radius_m
        Buffer around military areas (default none) and radius around military points (100 m).

    Returns
    -------
    dict
        ``{"created": n, "updated": n, "unchanged": n, "deleted": n, "zones": total}``.
    """
    for name, value in (("radius_m", radius_m), ("military_buffer_m", military_buffer_m),
                        ("military_point_radius_m", military_point_radius_m)):
        if not isinstance(value, int | float) or not 0 <= value <= 20_000:
            raise RoutingInputError(f"{name} must be a number of metres from 0 to 20000")
    features = read_no_fly_features(Path(osm_file), radius_m=radius_m,
                                    military_buffer_m=military_buffer_m,
                                    military_point_radius_m=military_point_radius_m)
    report = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    with transaction.atomic():
        existing = {z.source_id: z for z in NoFlyZone.objects.filter(
            region=region, source=NoFlyZoneSource.OSM)}
        seen = set()
        for feature in features:
            seen.add(feature.source_id)
            geometry = _buffered(feature)
            if geometry.empty:
                continue
            fields = {"name": feature.name[:200], "kind": feature.kind, "geometry": geometry,
                      "buffer_m": feature.buffer_m, "tags": feature.tags, "region": region,
                      "source": NoFlyZoneSource.OSM}
            zone = existing.get(feature.source_id)
            if zone is None:
                NoFlyZone.objects.create(source_id=feature.source_id, **fields)
                report["created"] += 1
            elif (zone.kind, zone.buffer_m, zone.name) == (feature.kind, feature.buffer_m,
                                                          fields["name"]) and \
                    zone.geometry.equals_exact(geometry, 1e-9):
                report["unchanged"] += 1
            else:
                for key, value in fields.items():
                    setattr(zone, key, value)
                zone.save()
                report["updated"] += 1
        gone = [pk for sid, z in existing.items() if sid not in seen for pk in [z.pk]]
        report["deleted"] = NoFlyZone.objects.filter(pk__in=gone).delete()[0]
    report["zones"] = NoFlyZone.objects.filter(region=region, active=True).count()
    return report


def active_zones(region: Region, altitude_m: float) -> list[NoFlyZone]:
    """The active zones of ``region`` (and region-less ones) that apply at ``altitude_m`` AGL."""
    zones = NoFlyZone.objects.filter(active=True).filter(
        region__in=[region]) | NoFlyZone.objects.filter(active=True, region__isnull=True)
    return [z for z in zones.order_by("id") if z.applies_at(altitude_m)]


def project_zones(zones: list[NoFlyZone], crs: str) -> list[shapely.Geometry]:
    """Zone polygons in the graph's projected CRS (metres)."""
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return [shapely.transform(shapely.from_wkb(bytes(z.geometry.wkb)), lambda c: np.column_stack(
        to_utm.transform(c[:, 0], c[:, 1]))) for z in zones]


def forbidden_edges(edge_geoms: np.ndarray, zone_polys: list[shapely.Geometry]) -> np.ndarray:
    """Boolean mask of the edges (shapely geometries, metres) inside or crossing any zone."""
    mask = np.zeros(len(edge_geoms), dtype=bool)
    if not zone_polys or not len(edge_geoms):
        return mask
    tree = shapely.STRtree(edge_geoms)
    _, hits = tree.query(np.asarray(zone_polys, dtype=object), predicate="intersects")
    mask[hits] = True
    return mask


def zone_containing(point_xy: tuple[float, float], zones: list[NoFlyZone],
                    zone_polys: list[shapely.Geometry]) -> NoFlyZone | None:
    """The first zone whose projected polygon covers a projected point, or ``None``."""
    point = ShapelyPoint(point_xy)
    for zone, poly in zip(zones, zone_polys, strict=True):
        if poly.covers(point):
            return zone
    return None
