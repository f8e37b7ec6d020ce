"""Vector tiles of the twin's layers: zoom rules kept as data, encoded by PostGIS or in Python.

A tile is ``/tiles/{layer}/{z}/{x}/{y}.mvt``: XYZ scheme (y = 0 at the north), Web Mercator
(EPSG:3857), Mapbox Vector Tile 2.1 with one layer named like the URL's, extent 4096, buffer 64.
The feature id is the asset's primary key; the attributes are the few a map needs to style a
feature and fill its popup (see each layer's ``attributes``); empty text and NULLs are left out.

Zoom rules
----------
:data:`LAYERS` maps a layer name to a :class:`ModelLayer`: a model, its geometry field(s), its
attributes and a list of :class:`ZoomRule` — zoom range → a Django ``Q`` filter, which geometry
field, how much to simplify. The same ``Q`` is compiled to SQL for PostGIS and run through the ORM
for the Python encoder, so both encoders put the same features in a tile. Every layer also
leaves out assets whose ``missing_since`` is set. The twin's rules (a start from OpenInfraMap's):

=========== ====== ======================================= ==================================
layer       zoom   what                                    geometry
=========== ====== ======================================= ==================================
lines       0–7    ``voltage_kv`` ≥ 220                     simplified, 8 tile units
            8–9    ``voltage_kv`` ≥ 110                     simplified, 8 tile units
            10–11  ``voltage_kv`` ≥ 30, or ``kind=line``    simplified, 4 tile units
            12     all                                      simplified, 2 tile units
            13–22  all                                      as stored
substations 0–7    ``voltage_kv`` ≥ 220                     ``location`` (point)
            8–9    ``voltage_kv`` ≥ 110                     point
            10–11  ``voltage_kv`` ≥ 30                      point
            12     all                                      point
            13–22  all                                      ``footprint`` polygon, else point
supports    13–22  all (towers, poles, portals)             point
chargers    10–22  all                                      point
=========== ====== ======================================= ==================================

A tile unit is 1/4096 of the tile's width: 8 units are one pixel of a 512 px tile. Lines of
unknown voltage appear from z10 when they are ``kind=line`` and from z12 otherwise. At a zoom
where a layer has no rule its tiles are empty, answered without touching the database.

Encoding
--------
* **PostGIS** (production): one statement per tile —
  ``geom && ST_MakeEnvelope(<tile + buffer in lon/lat>, 4326)`` (the GiST index on the stored
  4326 geometry), the rule's filter (compiled once per rule), ``ST_Simplify`` in lon/lat when
  the rule simplifies, ``ST_AsMVTGeom(ST_Transform(…, 3857), ST_TileEnvelope(z, x, y), 4096,
  64)`` and ``ST_AsMVT``: byte for byte what a hand-written query gives (``bench/tiles.py``).
  Each rule's statement is prepared once per connection with a generic plan
  (:func:`prepared_cursor`): for a small tile, planning costs more than running.
* **Python** (the embedded SpatiaLite mode, which has no MVT functions): the same rows through
  the ORM (prefiltered with ``MbrIntersects``), then the steps of ``ST_AsMVTGeom`` —
  remove points closer than half a tile unit, Douglas–Peucker at half a unit, to tile
  coordinates, snap to the integer grid, clip to the buffered tile, repair polygons — in
  shapely, encoded by ``mapbox-vector-tile``. The two encoders agree on feature ids and, to a
  tile unit or two, on coordinates (``tests/twin/test_tiles.py`` checks it).

ETags, versions and the tile cache
----------------------------------
* **ETag** = a hash of the tile's bytes: strong, exact, the same in every process and after a
  cache flush, and unchanged by edits elsewhere in the layer (clients keep what they have).
  ``If-None-Match`` is answered 304 (the view compares it with the current ETag).
* **Tile cache**: bytes and ETag are kept in Django's cache (``TILES_CACHE``, default
  ``"default"``) for ``TILES_CACHE_TIMEOUT`` seconds (default 600; 0 turns caching off) under a
  key holding the layer's *version*, so a repeated tile — or a revalidation answered 304 — costs
  one cheap query, and a changed twin is never served from the cache. The settings make
  ``TILES_CACHE`` the process's own memory and, with ``CACHE_URL``, ``TILES_SHARED_CACHE`` the
  shared Redis cache, asked on a local miss and filled on a render: a tile is rendered once for
  all web processes, and a repeated one costs no round trip to Redis. (A process's memory can
  never serve a stale tile: the version in the key is read from the database each time.)
* A layer's **version** is ``max(history_id)`` of the model's django-simple-history table plus
  ``max(id)`` of the model's table: two index look-ups, microseconds even at millions of rows,
  read on every cached request. Every ``save()``/``delete()`` and the importers'
  ``bulk_create_with_history``/``bulk_update_with_history`` add a history row, so any change made
  through the application moves the version, in whichever process (web, Celery worker) made it.
  ``post_save`` signals bumping a cache key were not chosen: the bulk importers send none, and a
  key in a per-process cache (the default LocMemCache) would not reach the other web processes.
  Writes that bypass the history (``QuerySet.update()``, raw SQL) or a transaction committing
  after a later one are healed by the cache timeout: no cached tile is older than
  ``TILES_CACHE_TIMEOUT``.
* With the cache off, a tile request runs exactly one query (the tile); a 304 then saves the
  transfer but not the rendering.

Adding a layer
--------------
Register it, e.g. from the owning app's ``AppConfig.ready()``::

    from django.db.models import Q
    from twin.tiles.service import ModelLayer, ZoomRule, register_layer, text

    register_layer(ModelLayer(
        name="roads", model=Road, geometry=("geometry",), where=Q(),
        attributes=(text("name"), text("highway")),
        rules=(ZoomRule(6, 9, Q(highway__in=["motorway", "trunk"]), simplify=8),
               ZoomRule(10, 13, ~Q(highway__in=["footway", "path"]), simplify=4),
               ZoomRule(14, 22)),
        public=True,  # a basemap: anonymous users may read it
    ))

A model without simple-history should give ``version=`` a function of its own (the default
then falls back to ``count(*)`` and ``max(pk)``: a full count, slow on big tables, and blind to
in-place updates). A source that
is not a model can subclass :class:`ModelLayer` and override :meth:`~ModelLayer.render`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.geos import Polygon
from django.core.cache import caches
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Max, Model, Q
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid

from twin.models import Charger, Line, Region, Road, Substation, Support

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
EARTH_RADIUS_M = 6378137.0
WORLD_M = math.pi * EARTH_RADIUS_M  # half the width of the Web Mercator world: 20037508.34 m
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511…°, Web Mercator's edge
ENCODERS = ("postgis", "python")


class UnknownLayer(LookupError):
    """No layer of that name is registered."""


class TileOutOfRange(ValueError):
    """z, x or y is outside the tile pyramid."""


# --- rules as data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    """One attribute of a layer's features: an MVT key and the model field it comes from.

    ``kind`` says how the value travels: ``"text"`` (empty text left out), ``"number"``, or
    ``"levels"`` (a JSON list of voltage levels in kV, written ``"110;16"``).
    """

    name: str
    field: str
    kind: str = "text"

    def sql(self, column: str) -> str:
        """The PostGIS expression giving this attribute from ``column``."""
        if self.kind == "text":
            return f"NULLIF({column}, '')"
        if self.kind == "levels":
            return (f"CASE WHEN jsonb_typeof({column}) = 'array' THEN (SELECT string_agg("
                    f"e.v::float8::text, ';' ORDER BY e.i) FROM jsonb_array_elements_text("
                    f"{column}) WITH ORDINALITY AS e(v, i)) END")
        return column

    def python(self, value: Any) -> Any:
        """The same value computed in Python (``None`` leaves the attribute out)."""
        if self.kind == "text":
            return value or None
        if self.kind == "levels":
            if not isinstance(value, list):
                return None
            return ";".join(_float_text(float(v)) for v in value) or None
        return value


def text(name: str, field: str | None = None) -> Attribute:
    return Attribute(name, field or name, "text")


def number(name: str, field: str | None = None) -> Attribute:
    return Attribute(name, field or name, "number")


def levels(name: str, field: str) -> Attribute:
    return Attribute(name, field, "levels")


def _float_text(value: float) -> str:
    """``110.0`` → ``"110"``, ``16.7`` → ``"16.7"``: PostgreSQL's ``float8::text``."""
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class ZoomRule:
    """What a layer shows from ``min_zoom`` to ``max_zoom`` (both included).

    ``where`` filters the layer's rows; ``geometry`` names the geometry field(s) to draw, the
    first one that is not NULL (empty: the layer's own); ``simplify`` is a Douglas–Peucker
    tolerance in tile units (1/4096 of the tile), meant for lines: applied to the stored lon/lat
    geometry before it is projected (see :func:`simplify_tolerance_deg`), which halves the cost
    of low-zoom tiles, where projecting every vertex dominates.
    """

    min_zoom: int
    max_zoom: int
    where: Q = field(default_factory=Q)
    geometry: tuple[str, ...] = ()
    simplify: float = 0.0

    def __post_init__(self):
        if not 0 <= self.min_zoom <= self.max_zoom <= MAX_ZOOM:
            raise ValueError(f"bad zoom range {self.min_zoom}–{self.max_zoom}")


@dataclass(frozen=True, eq=False)
class ModelLayer:
    """A tile layer drawn from one model, by zoom rules."""

    name: str
    model: type[Model]
    geometry: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    rules: tuple[ZoomRule, ...]
    where: Q = field(default_factory=lambda: Q(missing_since__isnull=True))
    public: bool = False
    version: Callable[[], str] | None = None
    description: str = ""
    _statements: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        covered = [z for rule in self.rules for z in range(rule.min_zoom, rule.max_zoom + 1)]
        if len(covered) != len(set(covered)):
            raise ValueError(f"layer {self.name}: zoom rules overlap")

    def rule_for(self, z: int) -> ZoomRule | None:
        for rule in self.rules:
            if rule.min_zoom <= z <= rule.max_zoom:
                return rule
        return None

    @property
    def min_zoom(self) -> int:
        return min(rule.min_zoom for rule in self.rules)

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the layer's definition, in the cache keys: new rules, new tiles."""
        spec = repr((self.name, self.model._meta.label, self.geometry, self.attributes,
                     self.rules, self.where))
        return hashlib.sha1(spec.encode()).hexdigest()[:12]

    # --- version ------------------------------------------------------------------------------
    def current_version(self) -> str:
        """Moves whenever the layer's rows change (see the module notes)."""
        if self.version is not None:
            return self.version()
        with (prepared_cursor() if connection.vendor == "postgresql"
              else connection.cursor()) as cursor:
            cursor.execute(self._version_sql)
            return "-".join("" if v is None else str(v) for v in cursor.fetchone())

    @cached_property
    def _version_sql(self) -> str:
        qn = connection.ops.quote_name
        meta = self.model._meta
        table, pk = qn(meta.db_table), qn(meta.pk.column)
        history = getattr(self.model, "history", None)
        if history is not None:
            hmeta = history.model._meta
            first = f"SELECT max({qn(hmeta.pk.column)}) FROM {qn(hmeta.db_table)}"
        else:
            first = f"SELECT count(*) FROM {table}"
        return f"SELECT ({first}), (SELECT max({pk}) FROM {table})"

    # --- rendering ----------------------------------------------------------------------------
    def render(self, z: int, x: int, y: int, *, encoder: str) -> bytes:
        """The tile's bytes (``b""`` when it holds nothing), uncached."""
        rule = self.rule_for(z)
        if rule is None:
            return b""
        if encoder == "postgis":
            statement = self.postgis_sql(z, x, y)
            if statement is None:
                return b""
            with prepared_cursor() as cursor:
                cursor.execute(*statement)
                row = cursor.fetchone()
            return bytes(row[0]) if row and row[0] is not None else b""
        if encoder == "python":
            features = self.python_features(z, x, y)
            if not features:
                return b""
            return mapbox_vector_tile.encode(
                {"name": self.name, "features": features},
                default_options={"extents": EXTENT, "y_coord_down": True,
                                 "quantize_bounds": None, "check_winding_order": True,
                                 "on_invalid_geometry": on_invalid_geometry_make_valid},
            )
        raise ValueError(f"unknown encoder {encoder!r}, expected one of {ENCODERS}")

    def _geometry_fields(self, rule: ZoomRule) -> tuple[str, ...]:
        return rule.geometry or self.geometry

    def _where_sql(self, rule: ZoomRule) -> tuple[str, list]:
        """The layer's and the rule's ``Q`` compiled to a WHERE clause on the bare table.

        Raises ``EmptyResultSet`` when the filter can match nothing.
        """
        query = Query(self.model)
        where = query.build_where(self.where & rule.where)
        compiler = query.get_compiler(connection=connection)
        try:
            sql, params = where.as_sql(compiler, connection)
        except FullResultSet:
            return "TRUE", []
        return (sql or "TRUE"), list(params)

    def postgis_sql(self, z: int, x: int, y: int) -> tuple[str, list] | None:
        """The ``ST_AsMVT`` statement and its parameters; ``None`` when nothing can match."""
        rule = self.rule_for(z)
        if rule is None:
            return None
        key = (connection.vendor, self.rules.index(rule))
        if key not in self._statements:  # compiled once per rule: the Q costs ~0.4 ms to compile
            self._statements[key] = self._compile(rule)
        compiled = self._statements[key]
        if compiled is None:
            return None
        sql, n_geoms, where_params = compiled
        params: list = [self.name]
        if rule.simplify > 0:
            params.append(simplify_tolerance_deg(rule.simplify, z, y))
        params += [z, x, y, *lonlat_envelope(z, x, y) * n_geoms, *where_params]
        return sql, params

    def _compile(self, rule: ZoomRule) -> tuple[str, int, list] | None:
        """(statement, number of geometry columns, WHERE parameters) of a rule."""
        try:
            where, where_params = self._where_sql(rule)
        except EmptyResultSet:
            return None
        qn = connection.ops.quote_name
        meta = self.model._meta
        table = qn(meta.db_table)

        def column(name: str) -> str:
            return f"{table}.{qn(meta.get_field(name).column)}"

        geoms = [column(name) for name in self._geometry_fields(rule)]
        stored = geoms[0] if len(geoms) == 1 else f"COALESCE({', '.join(geoms)})"
        if rule.simplify > 0:  # in lon/lat, before projecting: fewer vertices to transform
            stored = f"ST_Simplify({stored}, %s, true)"
        mercator = f"ST_Transform({stored}, 3857)"
        select = [f"{table}.{qn(meta.pk.column)} AS id"]
        select += [f"{a.sql(column(a.field))} AS {qn(a.name)}" for a in self.attributes]
        select.append(f"ST_AsMVTGeom({mercator}, ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER},"
                      " true) AS geom")
        index = " OR ".join(f"{g} && ST_MakeEnvelope(%s, %s, %s, %s, 4326)" for g in geoms)
        sql = (f"SELECT ST_AsMVT(tile, %s, {EXTENT}, 'geom', 'id') FROM ("
               f"SELECT {', '.join(select)} FROM {table} WHERE ({index}) AND ({where})"
               ") AS tile WHERE tile.geom IS NOT NULL")
        return sql, len(geoms), where_params

    def python_features(self, z: int, x: int, y: int) -> list[dict]:
        """The tile's features for ``mapbox_vector_tile.encode``, in tile coordinates."""
        rule = self.rule_for(z)
        if rule is None:
            return []
        geometry_fields = self._geometry_fields(rule)
        envelope = lonlat_envelope(z, x, y)
        rows = list(
            self.model._default_manager.filter(self.where, rule.where)
            .filter(_bbox_q(self.model, geometry_fields, envelope))
            .order_by()
            .values_list("pk", *(a.field for a in self.attributes), *geometry_fields)
        )
        if not rows:
            return []
        n_attrs = len(self.attributes)
        wkbs = []
        for row in rows:
            geom = next((g for g in row[1 + n_attrs:] if g is not None), None)
            wkbs.append(None if geom is None else bytes(geom.wkb))
        shapes = to_tile_coords(shapely.from_wkb(wkbs), z, x, y, simplify=rule.simplify)
        features = []
        for row, shape in zip(rows, shapes, strict=True):
            if shape is None:
                continue
            properties = {}
            for attribute, value in zip(self.attributes, row[1:1 + n_attrs], strict=True):
                value = attribute.python(value)
                if value is not None:
                    properties[attribute.name] = value
            features.append({"id": row[0], "geometry": shape, "properties": properties})
        return features


@cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


def prepared_cursor():
    """A Django cursor (logged and wrapped like any other) whose statements PostgreSQL parses
    and plans once per connection: psycopg's server-side prepared statements.

    A tile's statement differs only by its parameters, and for a small tile planning it takes
    longer than running it (PostgreSQL's own ``EXPLAIN``: 0.16 ms planning against 0.05–0.2 ms
    execution at z16). With ``plan_cache_mode = force_generic_plan`` (set on the connection in
    ``config/settings.py``; only prepared statements follow it, and nothing else in GridTwin
    prepares any) every tile after the first on a connection reuses one generic plan, an index
    scan on the bounding box whatever the box: the tile query runs in about 60 % of the time of
    the same text sent unprepared (``bench/tiles.py``, ``service_sql_vs_raw``). The layers'
    version query, asked before every cached tile, is prepared the same way.
    """
    # what connection.cursor() does, with psycopg's server-binding cursor in place of Django's
    # client-side one (BaseDatabaseWrapper._cursor)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_preparing_cursor_class()(connection.connection))


# --- tile geometry ----------------------------------------------------------------------------
def tile_size_m(z: int) -> float:
    return 2 * WORLD_M / (1 << z)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of the tile in EPSG:3857 metres, as ``ST_TileEnvelope``."""
    size = tile_size_m(z)
    return (-WORLD_M + size * x, WORLD_M - size * (y + 1), -WORLD_M + size * (x + 1),
            WORLD_M - size * y)


def _lat(my: float) -> float:
    my = max(-WORLD_M, min(WORLD_M, my))
    return math.degrees(math.atan(math.sinh(my / EARTH_RADIUS_M)))


def simplify_tolerance_deg(units: float, z: int, y: int) -> float:
    """A Douglas–Peucker tolerance in degrees that keeps the simplification within ``units``
    tile units of Web Mercator anywhere in tile row ``y``: a degree of longitude is a constant
    111.3 km of Mercator, a degree of latitude 111.3 km / cos(lat), so the tolerance is scaled by
    the cosine of the row's latitude farthest from the equator."""
    _, miny, _, maxy = tile_bounds(z, 0, y)
    lat = max(abs(_lat(miny)), abs(_lat(maxy)))
    metres = units * tile_size_m(z) / EXTENT
    return metres * math.cos(math.radians(lat)) / (EARTH_RADIUS_M * math.pi / 180)


def lonlat_envelope(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile plus its buffer in lon/lat degrees (clamped to the Mercator world): the box of
    the index prefilter, so that features within the buffer are drawn too."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    margin = tile_size_m(z) * BUFFER / EXTENT

    def lon(mx: float) -> float:
        return math.degrees(max(-WORLD_M, min(WORLD_M, mx)) / EARTH_RADIUS_M)

    return lon(minx - margin), _lat(miny - margin), lon(maxx + margin), _lat(maxy + margin)


def _to_mercator(coords: np.ndarray) -> np.ndarray:
    lon = np.radians(coords[:, 0])
    lat = np.radians(np.clip(coords[:, 1], -MAX_LAT, MAX_LAT))
    return np.column_stack([lon * EARTH_RADIUS_M,
                            np.log(np.tan(np.pi / 4 + lat / 2)) * EARTH_RADIUS_M])


_CLIP_BOX = shapely.box(-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def to_tile_coords(geoms: np.ndarray, z: int, x: int, y: int, *,
                   simplify: float = 0.0) -> list[shapely.Geometry | None]:
    """Lon/lat shapely geometries → integer tile coordinates (y down), clipped to the buffered
    tile: what ``ST_AsMVTGeom(ST_Transform(ST_Simplify(g, tolerance), 3857), …, 4096, 64, true)``
    returns, ``None`` where it returns NULL."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    fx, fy = EXTENT / (maxx - minx), EXTENT / (maxy - miny)
    res = min(1 / fx, 1 / fy) / 2  # half a tile unit, in metres
    geoms = np.asarray(geoms, dtype=object)
    if simplify > 0:
        geoms = shapely.simplify(geoms, simplify_tolerance_deg(simplify, z, y),
                                 preserve_topology=False)
    merc = shapely.transform(geoms, _to_mercator)
    point = shapely.get_type_id(merc) == 0
    merc = np.where(point, merc, shapely.simplify(
        shapely.remove_repeated_points(merc, res), res, preserve_topology=False))
    tiled = shapely.transform(
        merc, lambda c: np.rint(np.column_stack([(c[:, 0] - minx) * fx, (maxy - c[:, 1]) * fy])))
    return [_clip(g) for g in tiled]


def _rint(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.remove_repeated_points(shapely.transform(geom, np.rint))


def _clip(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """Clip a tile-coordinate geometry to the buffered tile, keeping its basic type."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in ("Point", "MultiPoint"):
        return geom if geom.intersects(_CLIP_BOX) else None
    geom = shapely.remove_repeated_points(geom)
    if kind in ("LineString", "MultiLineString"):
        if not geom.intersects(_CLIP_BOX):
            return None
        if not _CLIP_BOX.contains(geom):
            geom = _rint(shapely.clip_by_rect(geom, -BUFFER, -BUFFER, EXTENT + BUFFER,
                                              EXTENT + BUFFER))
        parts = [g for g in shapely.get_parts(geom)
                 if g.geom_type == "LineString" and len(set(g.coords)) >= 2]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else shapely.MultiLineString(parts)
    # polygons: valid, clipped, on the grid, still polygons
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if not _CLIP_BOX.contains(geom):
        geom = geom.intersection(_CLIP_BOX)
    geom = _rint(geom)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for g in shapely.get_parts(geom) for p in shapely.get_parts(g)
             if p.geom_type == "Polygon" and not p.is_empty and p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _bbox_q(model: type[Model], fields: tuple[str, ...],
            envelope: tuple[float, float, float, float]) -> Q:
    """Rows whose geometry's bounding box meets ``envelope`` (lon/lat).

    PostGIS: ``&&`` on the GiST index. SpatiaLite: ``MbrIntersects`` row by row (its R*Tree
    tables exist but, as migrated here, are not kept up to date: ``geometry_columns`` has
    ``spatial_index_enabled = 0`` and no index triggers, so they cannot be trusted).
    """
    q = Q()
    if connection.vendor == "postgresql":
        box = Polygon.from_bbox(envelope)
        box.srid = 4326
        for name in fields:
            q |= Q(**{f"{name}__bboverlaps": box})
        return q
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    for name in fields:
        column = f"{table}.{qn(model._meta.get_field(name).column)}"
        q |= Q(pk__in=RawSQL(
            f"SELECT {qn(model._meta.pk.column)} FROM {table} WHERE "
            f"MbrIntersects({column}, BuildMbr(%s, %s, %s, %s, 4326)) = 1", list(envelope)))
    return q


# --- the registry -----------------------------------------------------------------------------
LAYERS: dict[str, ModelLayer] = {}


def register_layer(layer: ModelLayer) -> ModelLayer:
    """Add (or replace) a layer of the tile service."""
    LAYERS[layer.name] = layer
    return layer


def get_layer(name: str) -> ModelLayer:
    try:
        return LAYERS[name]
    except KeyError:
        raise UnknownLayer(f"unknown layer {name!r}; layers: {', '.join(sorted(LAYERS))}") from None


ASSET = (text("name"), text("ref"))
HIGH, MID, LOW = 220, 110, 30

register_layer(ModelLayer(
    name="lines", model=Line, geometry=("geometry",),
    attributes=(*ASSET, text("kind"), number("voltage_kv"), levels("voltages", "voltages_kv"),
                text("operator"), number("condition_score")),
    rules=(
        ZoomRule(0, 7, Q(voltage_kv__gte=HIGH), simplify=8),
        ZoomRule(8, 9, Q(voltage_kv__gte=MID), simplify=8),
        ZoomRule(10, 11, Q(voltage_kv__gte=LOW) | Q(kind="line"), simplify=4),
        ZoomRule(12, 12, simplify=2),
        ZoomRule(13, MAX_ZOOM),
    ),
    description="Power lines and cables; only the high-voltage grid at low zooms.",
))
register_layer(ModelLayer(
    name="substations", model=Substation, geometry=("location",),
    attributes=(*ASSET, number("voltage_kv"), levels("voltages", "voltages_kv"),
                text("operator"), number("condition_score")),
    rules=(
        ZoomRule(0, 7, Q(voltage_kv__gte=HIGH)),
        ZoomRule(8, 9, Q(voltage_kv__gte=MID)),
        ZoomRule(10, 11, Q(voltage_kv__gte=LOW)),
        ZoomRule(12, 12),
        ZoomRule(13, MAX_ZOOM, geometry=("footprint", "location")),
    ),
    description="Substations: points below z13, footprints from z13.",
))
register_layer(ModelLayer(
    name="supports", model=Support, geometry=("location",),
    attributes=(*ASSET, text("kind"), text("operator"), number("condition_score")),
    rules=(ZoomRule(13, MAX_ZOOM),),
    description="Towers, poles and portals, from z13.",
))
register_layer(ModelLayer(
    name="chargers", model=Charger, geometry=("location",),
    attributes=(*ASSET, text("operator"), text("network"), text("status"), text("access"),
                number("condition_score")),
    rules=(ZoomRule(10, MAX_ZOOM),),
    description="EV charging locations, from z10.",
))

MAJOR_ROADS = ["motorway", "motorway_link", "trunk", "trunk_link"]
MAIN_ROADS = [*MAJOR_ROADS, "primary", "primary_link", "secondary", "secondary_link"]
LOCAL_ROADS = [*MAIN_ROADS, "tertiary", "tertiary_link", "unclassified", "residential",
               "living_street", "road", "busway"]


def _roads_version() -> str:
    """Roads change only when their region is imported again."""
    latest = Region.objects.aggregate(at=Max("imported_at"), roads=Max("roads__id"))
    return f"{latest['at'].timestamp() if latest['at'] else 0}:{latest['roads']}"


register_layer(ModelLayer(
    name="roads", model=Road, geometry=("geometry",), where=Q(),
    attributes=(text("kind"), text("name")),
    rules=(
        ZoomRule(5, 8, Q(kind__in=MAJOR_ROADS), simplify=8),
        ZoomRule(9, 10, Q(kind__in=MAIN_ROADS), simplify=4),
        ZoomRule(11, 12, Q(kind__in=LOCAL_ROADS), simplify=2),
        ZoomRule(13, MAX_ZOOM),
    ),
    public=True,  # the offline basemap: OSM data, readable before login
    version=_roads_version,
    description="The regions' OSM roads and paths: the basemap when there is no internet.",
))


# --- serving ----------------------------------------------------------------------------------
def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`TileOutOfRange` unless 0 ≤ z ≤ 22 and 0 ≤ x, y < 2^z."""
    if not 0 <= z <= MAX_ZOOM:
        raise TileOutOfRange(f"z must be between 0 and {MAX_ZOOM}, got {z}")
    n = 1 << z
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value < n:
            raise TileOutOfRange(f"{name} must be between 0 and {n - 1} at zoom {z}, got {value}")


def default_encoder() -> str:
    return "postgis" if connection.vendor == "postgresql" else "python"


def etag_of(data: bytes) -> str:
    """A strong ETag: a hash of the tile's bytes."""
    return f'"{hashlib.blake2b(data, digest_size=12).hexdigest()}"'


@dataclass(frozen=True)
class TileContent:
    data: bytes
    etag: str
    cached: bool = False


EMPTY = TileContent(b"", etag_of(b""))


def fetch_tile(layer: ModelLayer | str, z: int, x: int, y: int, *,
               encoder: str | None = None) -> TileContent:
    """The tile's bytes and ETag: checked (:class:`UnknownLayer`, :class:`TileOutOfRange`), then
    from Django's cache when it holds the layer's current version, else rendered (and cached).

    Queries: none at a zoom the layer has no rule for; with the cache on, the version query
    (one) plus the tile query on a miss; with the cache off, the tile query only. The process's
    cache (``TILES_CACHE``) is asked first, then the shared one (``TILES_SHARED_CACHE``) if set.
    """
    layer = get_layer(layer) if isinstance(layer, str) else layer
    check_tile(z, x, y)
    if layer.rule_for(z) is None:
        return EMPTY
    encoder = encoder or default_encoder()
    timeout = int(getattr(settings, "TILES_CACHE_TIMEOUT", 600))
    if timeout <= 0:
        data = layer.render(z, x, y, encoder=encoder)
        return TileContent(data, etag_of(data))
    store = caches[getattr(settings, "TILES_CACHE", "default")]
    shared_alias = getattr(settings, "TILES_SHARED_CACHE", None)
    key = (f"gridtwin:tile:{layer.name}:{layer.fingerprint}:{encoder}:"
           f"{layer.current_version()}:{z}:{x}:{y}")
    hit = store.get(key)
    if hit is not None:
        return TileContent(*hit, cached=True)
    shared = caches[shared_alias] if shared_alias else None
    hit = shared.get(key) if shared is not None else None
    if hit is not None:
        store.set(key, hit, timeout)
        return TileContent(*hit, cached=True)
    data = layer.render(z, x, y, encoder=encoder)
    content = TileContent(data, etag_of(data))
    store.set(key, (content.data, content.etag), timeout)
    if shared is not None:
        shared.set(key, (content.data, content.etag), timeout)
    return content


def render_tile(layer: ModelLayer | str, z: int, x: int, y: int, *,
                encoder: str | None = None) -> bytes:
    """The tile's bytes, rendered now (no cache): for tests, benchmarks and scripts."""
    layer = get_layer(layer) if isinstance(layer, str) else layer
    check_tile(z, x, y)
    return layer.render(z, x, y, encoder=encoder or default_encoder())
