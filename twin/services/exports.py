"""Export the twin's asset layers as GIS files (GeoPackage, GeoJSON, FlatGeobuf, CSV) through
geopandas / pyogrio, in the columns :mod:`twin.ingest.layers` reads back.

:func:`export_layer` writes the current (not vanished) assets of a kind to a GeoPackage (layer
named after the kind, other layers of the file kept), GeoJSON, FlatGeobuf or CSV, in EPSG:4326,
with exactly the columns :func:`import_layer` reads (plus the read-only ``voltage_kv`` and
``length_m``). A substation's geometry is its point; its footprint travels as WKT in a
``footprint`` column. In a CSV, points are ``lon``/``lat`` columns and lines a WKT ``geometry``
column.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import models
from pyogrio.errors import DataLayerError, DataSourceError

from twin.ingest.base import evse_specs
from twin.ingest.layers import KINDS, LayerKind
from twin.models import Region

WRITE_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON",
                 ".fgb": "FlatGeobuf", ".csv": "CSV"}


class ExportFailed(Exception):
    """The export was refused (unknown kind or format, unwritable path)."""



def _shapely(geometry: GEOSGeometry | None) -> shapely.Geometry | None:
    return None if geometry is None else shapely.from_wkb(bytes(geometry.wkb))


def _wkt(geometry: GEOSGeometry | None) -> str:
    return "" if geometry is None else shapely.to_wkt(_shapely(geometry), rounding_precision=-1)


def _levels(levels: list[float]) -> str:
    return ";".join(f"{float(v):.12g}" for v in levels or [])


def _rows(spec: LayerKind, queryset) -> tuple[dict[str, list], list[GEOSGeometry]]:
    columns: dict[str, list] = {name: [] for name in (*spec.fields, *spec.derived)}
    geometries = []
    for obj in queryset:
        for name in spec.fields:
            if name == "region":
                value = obj.region.name if obj.region else ""
            elif name in ("from_substation", "to_substation"):
                sub = getattr(obj, name)
                value = sub.source_id if sub else ""
            elif name == "lines":
                value = ";".join(sorted(line.source_id for line in obj.lines.all()))
            elif name == "evses":
                value = json.dumps(evse_specs(obj), ensure_ascii=False)
            elif name == "tags":
                value = json.dumps(obj.tags or {}, ensure_ascii=False, sort_keys=True)
            elif name == "voltages_kv":
                value = _levels(obj.voltages_kv)
            elif name == "footprint":
                value = _wkt(obj.footprint)
            elif name == "commissioned":
                value = obj.commissioned.isoformat() if obj.commissioned else ""
            else:
                value = getattr(obj, name)
            columns[name].append(value)
        for name in spec.derived:
            columns[name].append(getattr(obj, name))
        geometries.append(getattr(obj, spec.geometry_field))
    return columns, geometries


def _frame(spec: LayerKind, columns: dict[str, list]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        field = spec.model._meta.get_field(name) if name not in ("evses", "lines") else None
        if isinstance(field, models.FloatField):
            frame[name] = pd.array([np.nan if v is None else v for v in columns[name]],
                                   dtype="float64")
        elif isinstance(field, models.IntegerField) and not isinstance(field, models.AutoField):
            frame[name] = pd.array(columns[name], dtype="Int64")
    return frame


def export_layer(kind: str, path: str | Path, *, region_name: str | None = None) -> dict:
    """Write the current assets of ``kind`` to a GIS file; return what was written.

    Parameters
    ----------
    kind
        ``substation``, ``line``, ``support`` or ``charger``.
    path
        ``.gpkg`` (layer named ``kind``; the file's other layers are kept), ``.geojson`` /
        ``.json``, ``.fgb`` or ``.csv`` (replaced). EPSG:4326.
    region_name
        Only assets of this region.

    Returns
    -------
    dict
        ``{"kind", "path", "format", "layer", "count"}``.

    Raises
    ------
    ExportFailed
        For an unknown kind, suffix or region, or a file that cannot be written.
    """
    path = Path(path)
    if kind not in KINDS:
        raise ExportFailed(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    driver = WRITE_FORMATS.get(path.suffix.lower())
    if driver is None:
        raise ExportFailed(f"{path.name}: cannot write {path.suffix or '(no suffix)'!r}; "
                           f"suffixes: {', '.join(sorted(WRITE_FORMATS))} (a Shapefile would "
                           "cut column names to 10 characters: use a GeoPackage)")
    spec = KINDS[kind]
    queryset = spec.model.objects.filter(missing_since__isnull=True).select_related("region")
    if region_name:
        if not Region.objects.filter(name=region_name).exists():
            raise ExportFailed(f"no region named {region_name!r}")
        queryset = queryset.filter(region__name=region_name)
    if kind == "line":
        queryset = queryset.select_related("from_substation", "to_substation")
    elif kind == "support":
        queryset = queryset.prefetch_related("lines")
    elif kind == "charger":
        queryset = queryset.prefetch_related("evses__connectors")
    columns, geometries = _rows(spec, queryset.order_by("source_id", "pk"))
    frame = _frame(spec, columns)
    layer = kind if driver == "GPKG" else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if driver == "CSV":
            if spec.points:
                frame.insert(0, "lon", [g.x for g in geometries])
                frame.insert(1, "lat", [g.y for g in geometries])
            else:
                frame["geometry"] = [_wkt(g) for g in geometries]
            frame.to_csv(path, index=False)
        else:
            out = gpd.GeoDataFrame(frame, geometry=[_shapely(g) for g in geometries],
                                   crs="EPSG:4326")
            if driver != "GPKG" and path.exists():
                path.unlink()
            pyogrio.write_dataframe(out, path, driver=driver, layer=layer, promote_to_multi=False,
                                    geometry_type="Point" if spec.points else "Unknown")
    except (DataSourceError, DataLayerError, RuntimeError, OSError) as exc:
        raise ExportFailed(f"{path}: could not write {driver} ({exc})") from exc
    return {"kind": kind, "path": str(path), "format": driver, "layer": layer,
            "count": len(geometries)}
