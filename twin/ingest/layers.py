"""Import the twin's asset layers from GIS files (GeoPackage, Shapefile, GeoJSON,
FlatGeobuf, CSV) through geopandas / pyogrio.

One file holds one *kind* of asset: ``substation``, ``line``, ``support`` or ``charger``.

Reading
-------
* The format comes from the suffix (:data:`READ_FORMATS`). A GeoPackage with several layers is
  read at the layer named like the kind (``line`` or ``lines``), else at its first layer.
* Coordinates are reprojected to EPSG:4326 from the layer's CRS (a Shapefile's ``.prj``, a
  GeoPackage's SRS …). A layer without a CRS is read as EPSG:4326 only for GeoJSON and CSV
  (both are lon/lat by definition); any other format without a CRS is refused. A row whose
  coordinates do not convert to lon/lat and back (outside the CRS's domain), or fall outside
  longitude -180..180 / latitude -90..90, is skipped with the reason.
* A substation layer may carry points (the location) or polygons (the footprint; the location
  is then a point on it). A ``footprint`` column holds a footprint as WKT in EPSG:4326.
* A CSV carries points as ``lon``/``lat`` columns (also ``lng``/``longitude``/``x`` and
  ``latitude``/``y``), or any geometry as WKT in a ``wkt`` or ``geometry`` column; always in
  EPSG:4326 degrees.
* Columns are matched to the model's fields by name (exact, then case-insensitive); a mapping
  ``{field: column}`` names other columns (``None`` ignores a column of that name), and for a
  CSV also the coordinate columns (keys ``lon``, ``lat``, ``wkt``). Unused columns are listed
  in the report as ``ignored_columns``.
* ``voltages_kv``: a number is one level in kV; a text holds levels separated by ``;``, each a
  number in kV with an optional unit (``"110;16"``, ``"110 kV;16000 V"``); a GeoJSON array is a
  list of levels. Levels outside 0–1500 kV or unreadable parts are dropped with a warning (the
  row is kept with the levels that could be read), as the OSM importer does.
* ``source_id`` comes from the mapped or ``source_id`` column, else it is made up as
  ``<file stem>:<row>`` (row = 1-based position of the feature in the layer). Such ids are not
  stable: re-importing an edited or re-ordered file cannot update its rows in place. ``source``
  is the row's ``source`` column value, else ``"gis"``.
* References are source ids: ``from_substation`` / ``to_substation`` of a line, ``lines`` of a
  support (separated by ``;``), and ``region`` is a region's name (created if needed; ignored
  when ``region_name`` is given). Import substations, then
  lines, then supports so that the references resolve; an unknown reference is dropped with a
  warning. A charger's ``evses`` column is a JSON list
  ``[{"uid", "status", "connectors": [{"standard", "power_type", "power_kw", "voltage_v",
  "current_a"}]}]``.
* Fields whose column is absent are left as they are on existing rows (operator edits survive).
* With ``region_name`` the file speaks for the whole layer of that region: rows of that kind,
  region and source(s) that the file no longer holds are marked ``missing_since`` (never
  deleted). Without it nothing is marked.

Writing them back out is :mod:`twin.services.exports`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models
from django.db.models import Q
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS

from twin.ingest.base import (
    CONNECTOR_FIELDS,
    ImportFailed,
    ImportReport,
    import_job_path,
    import_transaction,
    read_voltages_kv,
    sync_evses,
    sync_records,
    sync_support_lines,
    valid_records,
)
from twin.jobs import JobParameterError, Progress
from twin.models import EVSE, Charger, Connector, Line, Region, Substation, Support

ProgressFn = Callable[[float, str], None]

READ_FORMATS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON",
                ".json": "GeoJSON", ".fgb": "FlatGeobuf", ".csv": "CSV"}
CRS_OPTIONAL = ("GeoJSON", "CSV")  # lon/lat by definition; any other format must say its CRS
DEFAULT_SOURCE = "gis"
COMMON_FIELDS = ("source_id", "source", "name", "operator", "ref", "region", "condition_score",
                 "criticality", "tags")
CSV_COLUMNS = {  # CSV-only mapping keys and the column names they default to
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "lat": ("lat", "latitude", "y"),
    "wkt": ("wkt", "geometry", "geom", "the_geom"),
}


@dataclass(frozen=True)
class LayerKind:
    """What a layer of one asset kind holds.

    Attributes
    ----------
    name
        The kind (``"line"`` …), also the GeoPackage layer name on export.
    model
        The asset model.
    geometry_field
        The model field the layer's geometry goes to.
    geometry_types
        Geometry types a layer of this kind may carry (before checks by :func:`clean_geometry`).
    fields
        The columns read and written besides the geometry, in export order.
    derived
        Read-only columns written on export and ignored on import.
    """

    name: str
    model: type[models.Model]
    geometry_field: str
    geometry_types: tuple[str, ...]
    fields: tuple[str, ...]
    derived: tuple[str, ...] = ()

    @property
    def points(self) -> bool:
        return self.geometry_types[0] == "Point"


KINDS: dict[str, LayerKind] = {
    "substation": LayerKind(
        "substation", Substation, "location", ("Point", "Polygon", "MultiPolygon"),
        (*COMMON_FIELDS[:5], "voltages_kv", "rating_mva", "commissioned", *COMMON_FIELDS[5:],
         "footprint"), derived=("voltage_kv",)),
    "line": LayerKind(
        "line", Line, "geometry", ("LineString", "MultiLineString"),
        (*COMMON_FIELDS[:5], "kind", "voltages_kv", "circuits", "from_substation",
         "to_substation", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka",
         *COMMON_FIELDS[5:]), derived=("voltage_kv", "length_m")),
    "support": LayerKind(
        "support", Support, "location", ("Point",),
        (*COMMON_FIELDS[:5], "kind", "height_m", "material", *COMMON_FIELDS[5:], "lines")),
    "charger": LayerKind(
        "charger", Charger, "location", ("Point",),
        (*COMMON_FIELDS[:5], "network", "address", "city", "postal_code", "country_code",
         "access", "status", "opening_hours", *COMMON_FIELDS[5:], "evses")),
}


class _BadValue(ValueError):
    """A cell that cannot be turned into its field's value; the row is skipped."""


# --- reading --------------------------------------------------------------------------------------


@dataclass
class _Layer:
    """A layer as read: attribute frame, geometries in EPSG:4326 (or None), and where it came from."""

    frame: pd.DataFrame
    geometries: list[shapely.Geometry | None]
    driver: str
    layer: str | None
    crs: str
    reprojected: bool
    columns: dict[str, str]
    ignored: list[str]


def _driver_for(path: Path, formats: dict[str, str], action: str) -> str:
    driver = formats.get(path.suffix.lower())
    if driver is None:
        raise ImportFailed(
            f"{path.name}: unknown format {path.suffix or '(no suffix)'!r}; can {action} "
            f"{', '.join(sorted(set(formats)))}; nothing was imported")
    return driver


MAX_UNZIPPED_BYTES = 4 * 1024**3


def unzip_layer(path: Path) -> Path:
    """The GIS file inside a ``.zip`` (a Shapefile with its ``.dbf``/``.prj`` …), extracted next
    to the archive; other paths are returned as they are."""
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()
                       and not m.filename.startswith(("__MACOSX/", "/")) and ".." not in m.filename]
            data = [m for m in members if Path(m.filename).suffix.lower() in READ_FORMATS]
            if len(data) != 1:
                raise ImportFailed(f"{path.name}: a .zip must hold exactly one GIS file "
                                   f"({', '.join(sorted(READ_FORMATS))}); found "
                                   f"{len(data)}; nothing was imported")
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                raise ImportFailed(f"{path.name}: unpacks to more than 4 GB; nothing was imported")
            folder = path.with_suffix("")
            archive.extractall(folder, members)
    except zipfile.BadZipFile as exc:
        raise ImportFailed(f"{path.name}: not a readable zip archive ({exc}); nothing was "
                           "imported") from exc
    return folder / data[0].filename


def _pick_layer(path: Path, kind: str) -> str | None:
    layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    if len(layers) <= 1:
        return None
    for name in layers:
        if name.lower() in (kind, f"{kind}s"):
            return name
    return layers[0]


def _crs_label(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.name


def read_layer(path: Path, kind: LayerKind, mapping: dict[str, str | None]) -> _Layer:
    """Read one layer of ``path`` for ``kind``: attributes, geometries in EPSG:4326, columns.

    Raises
    ------
    ImportFailed
        For an unknown suffix, a missing or unreadable file, a layer without CRS (except
        GeoJSON/CSV), a mapping naming unknown fields or absent columns, or a CSV without
        coordinate columns. Nothing has been written at that point.
    """
    driver = _driver_for(path, READ_FORMATS, "read")
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file; nothing was imported")
    layer = None
    try:
        if driver == "GPKG":
            layer = _pick_layer(path, kind.name)
        # CSV: every column as text, geometry parsed here (lon/lat or WKT), not by GDAL
        with warnings.catch_warnings():  # "could not parse column as JSON": read as text then
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=driver != "CSV")
    except (DataSourceError, DataLayerError, RuntimeError, OSError, ValueError) as exc:
        raise ImportFailed(f"{path.name}: could not open the file as {driver} ({exc}); "
                           "nothing was imported") from exc
    is_csv = driver == "CSV"
    available = [str(c) for c in frame.columns if c != "geometry" or is_csv]
    columns, ignored = _resolve_columns(path, kind, mapping, available, is_csv=is_csv)
    if is_csv:
        geometries = _csv_geometries(path, kind, frame, mapping, available)
        return _Layer(frame, geometries, driver, layer, "EPSG:4326", False, columns,
                      [c for c in ignored if c not in _csv_coordinate_columns(mapping, available)])
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ImportFailed(f"{path.name}: the layer has no geometry; nothing was imported")
    crs = frame.crs
    if crs is None:
        if driver not in CRS_OPTIONAL:
            raise ImportFailed(
                f"{path.name}: the layer has no coordinate reference system (a Shapefile needs "
                "its .prj file); refusing to guess where its coordinates are. Add the CRS or "
                "convert the file to EPSG:4326; nothing was imported")
        crs = CRS.from_epsg(4326)
        frame = frame.set_crs(crs)
    reprojected = not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True)
    label = _crs_label(crs)
    geometries: list[shapely.Geometry | str | None] = [
        None if g is None or g.is_empty else shapely.force_2d(g) for g in frame.geometry]
    if reprojected:
        frame = frame.to_crs(4326)
        returned = frame.geometry.to_crs(crs)
        for i, (there, back) in enumerate(zip(frame.geometry, returned, strict=True)):
            if geometries[i] is not None:
                geometries[i] = _outside(geometries[i], back, label) or shapely.force_2d(there)
    return _Layer(pd.DataFrame(frame.drop(columns=frame.geometry.name)), geometries, driver,
                  layer, label, reprojected, columns, ignored)


def _outside(original: shapely.Geometry, back: shapely.Geometry, crs: str) -> str | None:
    """Why ``original`` lies outside its CRS's domain: it does not convert to lon/lat and back.

    PROJ wraps longitudes, so a point beyond a projection's edge (x = 30 000 km in Web
    Mercator) lands somewhere valid but wrong; the round trip catches it. Points that cannot be
    converted at all (infinite) are reported by :func:`_coordinate_problem`.
    """
    before = shapely.get_coordinates(original)
    after = shapely.get_coordinates(back)
    if before.shape != after.shape or not np.isfinite(after).all():
        return None
    if np.all(np.abs(before - after) <= 1e-6 * np.maximum(1.0, np.abs(before))):
        return None
    minx, miny, maxx, maxy = shapely.bounds(original)
    return (f"coordinates outside the bounds of {crs}: they do not convert to longitude/latitude "
            f"and back (got extent {minx:g},{miny:g},{maxx:g},{maxy:g} in {crs})")


def _resolve_columns(path: Path, kind: LayerKind, mapping: dict[str, str | None],
                     available: list[str], *, is_csv: bool) -> tuple[dict[str, str], list[str]]:
    """``{field: column}`` for the fields this file has, and the columns nothing reads."""
    allowed = set(kind.fields) | (set(CSV_COLUMNS) if is_csv else set())
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ImportFailed(
            f"mapping: unknown field(s) for a {kind.name} layer: {', '.join(unknown)}; fields "
            f"are {', '.join(kind.fields)}{' (and lon, lat, wkt for a CSV)' if is_csv else ''}")
    bad = [f"{k}={v!r}" for k, v in mapping.items() if v is not None and not isinstance(v, str)]
    if bad:
        raise ImportFailed(f"mapping: column names must be text: {', '.join(bad)}")
    absent = sorted(v for v in mapping.values() if v is not None and v not in available)
    if absent:
        raise ImportFailed(f"{path.name}: mapping names column(s) not in the file: "
                           f"{', '.join(absent)}; its columns are {', '.join(available)}")
    columns = {f: c for f, c in mapping.items() if c is not None and f in kind.fields}
    taken = set(mapping.values())
    by_lower: dict[str, str] = {}
    for column in available:
        by_lower.setdefault(column.lower(), column)
    for name in kind.fields:
        if name in mapping:
            continue
        column = name if name in available else by_lower.get(name.lower())
        if column is not None and column not in taken:
            columns[name], taken = column, taken | {column}
    derived = {d.lower() for d in kind.derived}
    ignored = [c for c in available if c not in taken and c.lower() not in derived]
    return columns, ignored


def _find_column(key: str, mapping: dict[str, str | None], available: list[str]) -> str | None:
    if key in mapping:
        return mapping[key]
    by_lower = {c.lower(): c for c in reversed(available)}
    return next((by_lower[a] for a in CSV_COLUMNS[key] if a in by_lower), None)


def _csv_coordinate_columns(mapping: dict[str, str | None], available: list[str]) -> set[str]:
    return {c for key in CSV_COLUMNS if (c := _find_column(key, mapping, available))}


def _csv_geometries(path: Path, kind: LayerKind, frame: pd.DataFrame,
                    mapping: dict[str, str | None], available: list[str]
                    ) -> list[shapely.Geometry | str | None]:
    """Geometries from lon/lat (points) or WKT columns; a str marks a cell that is unreadable."""
    lon, lat = _find_column("lon", mapping, available), _find_column("lat", mapping, available)
    wkt = _find_column("wkt", mapping, available)
    if kind.points and lon and lat:
        return [_point(x, y) for x, y in zip(frame[lon], frame[lat], strict=True)]
    if wkt:
        return [_wkt_cell(wkt, v) for v in frame[wkt]]
    if kind.points:
        missing = [name for name, col in (("lon", lon), ("lat", lat)) if col is None]
        raise ImportFailed(
            f"{path.name}: missing coordinate column(s) {', '.join(missing)}: a CSV of "
            f"{kind.name}s needs lon and lat columns (EPSG:4326 degrees) or a WKT column; name "
            "other columns with --mapping '{\"lon\": \"X\", \"lat\": \"Y\"}'; nothing was imported")
    raise ImportFailed(
        f"{path.name}: missing geometry column: a CSV of {kind.name}s needs a WKT column named "
        "geometry or wkt (EPSG:4326), or --mapping '{\"wkt\": \"COLUMN\"}'; nothing was imported")


def _point(x: Any, y: Any) -> shapely.Geometry | str | None:
    if _missing(x) and _missing(y):
        return None
    try:
        lon, lat = _float(x), _float(y)
    except _BadValue as exc:
        return f"lon/lat: {exc}"
    if lon is None or lat is None:
        return "lon/lat: both coordinates are needed"
    return shapely.Point(lon, lat)


def _from_wkt(value: Any) -> shapely.Geometry | None:
    """A geometry from WKT text; raises :class:`_BadValue` when it is not WKT."""
    if _missing(value):
        return None
    try:
        return shapely.force_2d(shapely.from_wkt(str(value)))
    except shapely.errors.GEOSException as exc:
        raise _BadValue(f"not WKT ({exc})") from exc


def _wkt_cell(column: str, value: Any) -> shapely.Geometry | str | None:
    try:
        return _from_wkt(value)
    except _BadValue as exc:
        return f"{column}: {exc}"


# --- cell values ----------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _float(value: Any) -> float | None:
    if _missing(value):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError) as exc:
        raise _BadValue(f"{value!r} is not a number") from exc
    if math.isnan(number):
        return None
    if not math.isfinite(number):
        raise _BadValue(f"{value!r} is not a finite number")
    return number


def _int(value: Any) -> int | None:
    number = _float(value)
    if number is None:
        return None
    if not number.is_integer():
        raise _BadValue(f"{value!r} is not a whole number")
    return int(number)


def _text(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _date(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        raise _BadValue(f"{value!r} is not a date (use YYYY-MM-DD)") from exc


def _json(value: Any, expected: type, what: str) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _BadValue(f"not JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(value, expected):
        raise _BadValue(f"expected {what}, got {type(value).__name__}")
    return value


def _choice(field: models.Field, value: str) -> str:
    """A choice given by value or label, in any case, as the stored value."""
    if not field.choices or not value:
        return value
    for stored, label in field.choices:
        if value.lower() in (str(stored).lower(), str(label).lower()):
            return stored
    return value  # validate_record says what the choices are


def _refs(value: Any) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    items = value if isinstance(value, list | tuple) else str(value).split(";")
    return [str(v).strip() for v in items if str(v).strip()]


def _evses(value: Any) -> list[dict]:
    """EVSEs from a JSON cell, validated against the EVSE and Connector models."""
    if _missing(value):
        return []
    items = _json(value, list, "a JSON list of EVSEs")
    out, uids = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or _missing(item.get("uid")):
            raise _BadValue(f"[{i}]: an EVSE needs a uid")
        spec = {"uid": str(item["uid"]), "status": item.get("status") or "unknown",
                "connectors": []}
        if spec["uid"] in uids:
            raise _BadValue(f"[{i}]: uid {spec['uid']!r} appears twice")
        uids.add(spec["uid"])
        _full_clean(EVSE(uid=spec["uid"], status=spec["status"]), ["charger"], f"[{i}]")
        connectors = item.get("connectors") or []
        if not isinstance(connectors, list):
            raise _BadValue(f"[{i}].connectors: expected a list")
        for j, c in enumerate(connectors):
            if not isinstance(c, dict):
                raise _BadValue(f"[{i}].connectors[{j}]: expected an object")
            values = {k: c.get(k) for k in CONNECTOR_FIELDS}
            values["power_type"] = values["power_type"] or "AC_3_PHASE"
            _full_clean(Connector(**values), ["evse"], f"[{i}].connectors[{j}]")
            spec["connectors"].append(values)
        out.append(spec)
    return sorted(out, key=lambda e: e["uid"])


def _full_clean(obj: models.Model, exclude: list[str], where: str) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise _BadValue("; ".join(f"{where}.{name}: {' '.join(msgs)}"
                                  for name, msgs in exc.message_dict.items())) from exc


def _value(kind: LayerKind, name: str, cell: Any, *, ref: str, report: ImportReport) -> Any:
    """The field value for one cell; raises :class:`_BadValue` when it cannot be read."""
    if name == "voltages_kv":
        return [] if _missing(cell) else read_voltages_kv(cell, kind=kind.name, ref=ref,
                                                          report=report, default_unit="kV")
    if name == "tags":
        return {} if _missing(cell) else _json(cell, dict, "a JSON object")
    if name in ("region", "from_substation", "to_substation"):
        text = _text(cell).strip()
        limit = Region._meta.get_field("name").max_length if name == "region" else 200
        if len(text) > limit:
            raise _BadValue(f"longer than {limit} characters")
        return text or None
    if name == "lines":
        return _refs(cell)
    if name == "evses":
        return _evses(cell)
    if name == "footprint":
        return _from_wkt(cell)
    field = kind.model._meta.get_field(name)
    if isinstance(field, models.FloatField):
        return _float(cell)
    if isinstance(field, models.IntegerField):
        number = _int(cell)
        return field.get_default() if number is None and not field.null else number
    if isinstance(field, models.DateField):
        return _date(cell)
    text = _text(cell)
    if not text and field.has_default():
        return field.get_default()
    return _choice(field, text)


def _geos(geometry: shapely.Geometry) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geometry)), srid=4326)


def _coordinate_problem(geometry: shapely.Geometry, crs: str, reprojected: bool) -> str | None:
    """Why the coordinates cannot be stored (not finite, outside lon/lat range), or None."""
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        return (f"coordinates could not be converted from {crs} to longitude/latitude "
                "(outside the area that CRS covers)")
    minx, miny, maxx, maxy = shapely.bounds(geometry)
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        after = f" after reprojection from {crs}" if reprojected else ""
        return ("coordinates out of range: longitude must be within -180..180 and latitude "
                f"within -90..90 (got extent {minx:g},{miny:g},{maxx:g},{maxy:g}{after})")
    return None


def _records(layer: _Layer, kind: LayerKind, *, stem: str, source: str,
             report: ImportReport) -> list[dict]:
    """Records for :func:`sync_records` (references still as source ids), skips reported."""
    records, seen = [], {}
    sid_column = layer.columns.get("source_id")
    rows = layer.frame.to_dict("records")
    generated = 0
    for number, (row, geometry) in enumerate(zip(rows, layer.geometries, strict=True), start=1):
        source_id = _text(row[sid_column]).strip() if sid_column else ""
        if not source_id:
            source_id, generated = f"{stem}:{number}", generated + 1
        ref = source_id
        if source_id in seen:
            report.skip(kind.name, ref, f"duplicate source_id (row {number}; first in row "
                                        f"{seen[source_id]})")
            continue
        seen[source_id] = number
        record: dict[str, Any] = {"source_id": source_id}
        try:
            for name, column in layer.columns.items():
                if name != "source_id":
                    try:
                        record[name] = _value(kind, name, row[column], ref=ref, report=report)
                    except _BadValue as exc:
                        raise _BadValue(f"{name}: {exc}") from exc
        except _BadValue as exc:
            report.skip(kind.name, ref, str(exc))
            continue
        record["source"] = record.get("source") or source
        if isinstance(geometry, str):
            report.skip(kind.name, ref, geometry)
            continue
        if geometry is None:
            report.skip(kind.name, ref, "no geometry")
            continue
        problem = _coordinate_problem(geometry, layer.crs, layer.reprojected)
        if problem:
            report.skip(kind.name, ref, problem)
            continue
        if geometry.geom_type == "MultiPoint" and len(geometry.geoms) == 1:
            geometry = geometry.geoms[0]
        if geometry.geom_type not in kind.geometry_types:
            report.skip(kind.name, ref, f"expected {' or '.join(kind.geometry_types)}, got "
                                        f"{geometry.geom_type}")
            continue
        if kind.name == "substation" and geometry.geom_type != "Point":
            record["footprint"], record["location"] = _geos(geometry), None
        else:
            record[kind.geometry_field] = _geos(geometry)
        if record.get("footprint") is not None and not isinstance(record["footprint"],
                                                                   GEOSGeometry):
            problem = _coordinate_problem(record["footprint"], "EPSG:4326", False)
            if problem:
                report.skip(kind.name, ref, f"footprint: {problem}")
                continue
            record["footprint"] = _geos(record["footprint"])
        for private in ("lines", "evses"):
            if private in record:
                record[f"_{private}"] = record.pop(private)
        records.append(record)
    if generated:
        report.extra["notes"] = [
            f"{generated} row(s) have no source_id: they got '{stem}:<row>' ids, which are not "
            "stable — a re-import of an edited or re-ordered file cannot update these rows in "
            "place. Map a stable id column with --mapping '{\"source_id\": \"COLUMN\"}'."]
    return records


# --- writing the twin -----------------------------------------------------------------------------


class _References:
    """Source ids → rows for regions, substations and lines, looked up once per import."""

    def __init__(self, records: list[dict], region: Region | None):
        self.region = region
        self.regions: dict[str, Region] = {}
        wanted_subs = {r[k] for r in records for k in ("from_substation", "to_substation")
                       if r.get(k)}
        self.substations = {s.source_id: s for s in
                            Substation.objects.filter(source_id__in=wanted_subs)}
        wanted_lines = {sid for r in records for sid in r.get("_lines", ())}
        self.lines = dict(Line.objects.filter(source_id__in=wanted_lines)
                          .values_list("source_id", "pk"))

    def resolve(self, record: dict, kind: str, report: ImportReport) -> None:
        ref = record["source_id"]
        if self.region is not None:
            record["region"] = self.region
        elif "region" in record and record["region"] is not None:
            name = record["region"]
            if name not in self.regions:
                self.regions[name] = Region.objects.get_or_create(name=name)[0]
            record["region"] = self.regions[name]
        for key in ("from_substation", "to_substation"):
            if record.get(key):
                sub = self.substations.get(record[key])
                if sub is None:
                    report.warn(kind, ref, f"{key}: no substation with source_id "
                                           f"{record[key]!r} in the twin (link dropped)")
                record[key] = sub
        if "_lines" in record:
            unknown = [sid for sid in record["_lines"] if sid not in self.lines]
            if unknown:
                report.warn(kind, ref, f"lines: no line with source_id {', '.join(unknown)} in "
                                       "the twin (link dropped)")
            record["_lines"] = {self.lines[sid] for sid in record["_lines"] if sid in self.lines}


def import_layer(path: str | Path, *, kind: str, mapping: dict[str, str | None] | None = None,
                 strict: bool = False, region_name: str | None = None,
                 source: str = DEFAULT_SOURCE, progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) one GIS layer of assets into the twin; return the JSON-ready report.

    Parameters
    ----------
    path
        A ``.gpkg``, ``.shp`` (with its ``.prj``), ``.geojson``/``.json``, ``.fgb`` or ``.csv``
        file. See the module documentation for columns, CRS and CSV layout.
    kind
        ``substation``, ``line``, ``support`` or ``charger``.
    mapping
        ``{model field: source column}`` for columns not named like the fields; for a CSV also
        ``lon``, ``lat`` and ``wkt``.
    strict
        Roll everything back when any row is skipped or any warning is raised.
    region_name
        Put every row in this region (created if needed) and mark rows of that region, kind
        and source(s) that the file no longer holds as vanished.
    source
        ``source`` of rows whose file gives none.
    progress
        Called with a fraction 0–1 and a message.

    Returns
    -------
    dict
        :meth:`ImportReport.as_dict` plus ``kind``, ``format``, ``layer``, ``crs``,
        ``reprojected``, ``columns`` (field → column used), ``ignored_columns`` and, when ids
        were made up, ``notes``.

    Raises
    ------
    ImportFailed
        With nothing written: unknown kind or format, unreadable file, missing CRS, bad
        mapping, a CSV without coordinate columns; under ``strict`` any skip or warning.
    """
    path = Path(path)
    progress = progress or (lambda fraction, message="": None)
    if kind not in KINDS:
        raise ImportFailed(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if region_name is not None and not 0 < len(region_name) <= 100:
        raise ImportFailed("a region name has 1 to 100 characters")
    spec = KINDS[kind]
    report = ImportReport(source=str(path))
    report.counts[kind]  # an empty layer still reports its kind (a defaultdict)
    progress(0.05, f"reading {path.name}")
    path = unzip_layer(path)
    layer = read_layer(path, spec, dict(mapping or {}))
    report.extra.update(kind=kind, format=layer.driver, layer=layer.layer, crs=layer.crs,
                        reprojected=layer.reprojected, columns=layer.columns,
                        ignored_columns=layer.ignored)
    progress(0.3, f"checking {len(layer.geometries)} {kind} rows")
    records = _records(layer, spec, stem=path.stem, source=source, report=report)
    progress(0.6, "writing the twin")
    try:
        with import_transaction(report, strict=strict):
            region = Region.objects.get_or_create(name=region_name)[0] if region_name else None
            refs = _References(records, region)
            valid = list(valid_records(spec.model, records, kind=kind, report=report,
                                       resolve=lambda r: refs.resolve(r, kind, report)))
            skipped = {r["row"] for r in report.skipped}
            scope = None
            if region is not None:
                scope = Q(region=region, source__in={r["source"] for r in valid} or {source})
                scope &= ~Q(source_id__in=skipped)
            saved = sync_records(spec.model, valid, kind=kind, report=report, scope=scope)
            kept = {r["source_id"] for r in valid}
            if kind == "support":
                report.extra["supports_relinked"] = sync_support_lines({
                    saved[r["source_id"]].pk: r["_lines"] for r in records
                    if "_lines" in r and r["source_id"] in kept})
            elif kind == "charger":
                report.extra["chargers_with_new_evses"] = sync_evses(
                    [r for r in records if r["source_id"] in kept], saved)
    except DatabaseError as exc:
        raise ImportFailed(f"{path.name}: the database refused the import ({exc}); nothing was "
                           "imported", report) from exc
    if region_name:
        report.extra["region"] = region_name
    progress(1.0, "done")
    return report.as_dict()


def import_layer_job(parameters: dict, progress: Progress) -> dict:
    """Job kind ``twin.import_layer``: :func:`import_layer` on a file on the server.

    Parameters: ``path`` (required; relative to, and confined to, the folders in the
    ``IMPORT_ROOTS`` setting — uploads land in ``MEDIA_ROOT/imports``), ``kind`` (required), ``mapping``
    (object or JSON text), ``strict`` (bool), ``region`` (name).
    """
    kind = parameters.get("kind")
    if kind not in KINDS:
        raise JobParameterError(f"kind must be one of {', '.join(KINDS)}")
    mapping = parameters.get("mapping") or {}
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except json.JSONDecodeError as exc:
            raise JobParameterError(f"mapping is not JSON: {exc}") from exc
    if not isinstance(mapping, dict):
        raise JobParameterError("mapping must be an object {field: column}")
    strict = parameters.get("strict", False)
    if not isinstance(strict, bool):
        raise JobParameterError("strict must be true or false")
    region = parameters.get("region") or None
    if region is not None and not isinstance(region, str):
        raise JobParameterError("region must be a name")
    return import_layer(import_job_path(parameters.get("path")), kind=kind, mapping=mapping,
                        strict=strict, region_name=region, progress=progress)
