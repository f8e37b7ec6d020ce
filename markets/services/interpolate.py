"""Spatial interpolation of nodal values (prices, carbon) between pricing nodes.

Everything here works on plain numpy arrays of projected coordinates in metres (a local UTM CRS,
see :func:`twin.services.geometry.utm_srid`); nothing is measured in degrees.

Two methods:

``idw``
    Inverse-distance weighting over the ``neighbours`` nearest nodes (a :class:`scipy.spatial.cKDTree`
    query) with Franke & Nielson's modified Shepard weights ``((R − d) / (R·d))**power``, ``R``
    the distance to the farthest of them: a node's weight falls to zero as it leaves the
    neighbourhood, so the surface is continuous (plain ``1 / d**power`` over k neighbours jumps
    where the neighbour set changes). Exact at the nodes (a query point on a node gets that
    node's value; nodes sharing one location are averaged); never outside the neighbours' range.
``linear``
    Piecewise-linear interpolation on the Delaunay triangulation of the nodes
    (:class:`scipy.interpolate.LinearNDInterpolator`). Exact at the nodes, continuous, never
    outside the range of the three surrounding nodes.

**Coverage.** A value is only returned inside the nodes' *coverage*: their convex hull, optionally
grown by ``buffer_m`` metres. Outside it the result is NaN — like the ISOs' price contour maps,
GridTwin draws no price where it has no node around. The overlay builder passes a buffer of one
pixel diagonal so that a pixel whose centre lies just outside the hull but whose area holds a
node on the hull still gets a value. In that thin ring IDW is used as is and ``linear`` (which is
undefined outside the triangulation) takes the nearest node's value.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import cKDTree

METHODS = ("idw", "linear")
DEFAULT_NEIGHBOURS = 8


def coverage(points_xy: np.ndarray, *, buffer_m: float = 0.0) -> shapely.Polygon:
    """The area the nodes cover: their convex hull in metres, grown by ``buffer_m``.

    Parameters
    ----------
    points_xy
        ``(n, 2)`` node coordinates in metres.
    buffer_m
        Non-negative growth of the hull in metres.

    Raises
    ------
    ValueError
        Fewer than three nodes, or all of them on one line (the hull has no area).
    """
    points_xy = _as_points(points_xy, "points_xy")
    if buffer_m < 0 or not np.isfinite(buffer_m):
        raise ValueError("buffer_m must be a non-negative number of metres")
    if len(points_xy) < 3:
        raise ValueError(f"coverage needs at least 3 located nodes, got {len(points_xy)}")
    hull = shapely.MultiPoint(points_xy).convex_hull
    extent = np.ptp(points_xy, axis=0).max()
    # "One line" up to a sliver: nodes along a parallel are not exactly collinear in UTM
    # (a hull 0.01 % as wide as it is long covers nothing worth drawing).
    if hull.geom_type != "Polygon" or hull.area <= 1e-4 * extent * extent:
        raise ValueError("the nodes lie on one line: their coverage has no area")
    if buffer_m > 0:
        hull = hull.buffer(buffer_m)
    return hull


def interpolate(
    points_xy: np.ndarray,
    values: np.ndarray,
    query_xy: np.ndarray,
    *,
    method: str = "idw",
    power: float = 2.0,
    neighbours: int = DEFAULT_NEIGHBOURS,
    buffer_m: float = 0.0,
) -> np.ndarray:
    """Interpolate node values at query points; NaN outside the nodes' coverage.

    Parameters
    ----------
    points_xy
        ``(n, 2)`` node coordinates in metres (UTM), ``n >= 3`` and not all on one line.
    values
        ``(n,)`` finite node values (e.g. ``lmp_per_mwh``).
    query_xy
        ``(m, 2)`` coordinates in metres, same CRS as ``points_xy``.
    method
        ``"idw"`` (inverse-distance weighting) or ``"linear"`` (Delaunay triangulation).
    power
        IDW distance exponent (> 0); ignored by ``linear``.
    neighbours
        IDW: how many nearest nodes weigh in (clipped to ``n``).
    buffer_m
        Grow the convex hull by this many metres before masking (see the module notes).

    Returns
    -------
    numpy.ndarray
        ``(m,)`` float64 values, NaN where the query point lies outside the coverage.

    Raises
    ------
    ValueError
        Bad shapes, non-finite inputs, an unknown method, a non-positive power, or nodes that
        cover no area.
    """
    points_xy = _as_points(points_xy, "points_xy")
    query_xy = _as_points(query_xy, "query_xy")
    values = np.asarray(values, dtype=float).ravel()
    if len(values) != len(points_xy):
        raise ValueError(f"{len(points_xy)} points but {len(values)} values")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite numbers")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if not (power > 0 and np.isfinite(power)):
        raise ValueError("power must be a positive number")
    if int(neighbours) < 1:
        raise ValueError("neighbours must be at least 1")

    hull = coverage(points_xy, buffer_m=buffer_m)
    shapely.prepare(hull)
    inside = shapely.intersects_xy(hull, query_xy[:, 0], query_xy[:, 1])
    result = np.full(len(query_xy), np.nan)
    if not inside.any():
        return result
    q = query_xy[inside]
    tree = cKDTree(points_xy)
    if method == "idw":
        result[inside] = _idw(tree, values, q, power=power, k=min(int(neighbours), len(points_xy)))
    else:
        linear = LinearNDInterpolator(points_xy, values)(q)
        gap = np.isnan(linear)  # in the buffer ring outside the triangulation
        if gap.any():
            _, nearest = tree.query(q[gap], k=1, workers=-1)
            linear[gap] = values[nearest]
        result[inside] = linear
    return result


def _idw(tree: cKDTree, values: np.ndarray, q: np.ndarray, *, power: float, k: int) -> np.ndarray:
    distance, index = tree.query(q, k=k, workers=-1)
    if k == 1:
        return values[index]
    return shepard_average(distance, index, values, power=power)


def shepard_average(distance: np.ndarray, index: np.ndarray, values: np.ndarray, *,
                    power: float = 2.0) -> np.ndarray:
    """IDW of each row's neighbours with modified Shepard weights ``((R − d) / (R·d))**power``.

    Parameters
    ----------
    distance, index
        ``(m, k)`` distances to each query point's k nearest nodes, ascending, and their indices
        into ``values`` (as :meth:`scipy.spatial.cKDTree.query` returns them).
    values
        ``(n,)`` node values.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` weighted means; a row at distance 0 from nodes gets their mean.
    """
    radius = distance[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.clip(radius - distance, 0, None) / (radius * distance)
        weight = weight * weight if power == 2.0 else weight ** power
        flat = weight.sum(axis=1) == 0  # every neighbour equally far (radius − d = 0)
        if flat.any():
            weight[flat] = distance[flat] ** -power
    on_node = distance[:, 0] == 0.0
    weight[on_node] = (distance[on_node] == 0.0).astype(float)  # exact: mean of co-located nodes
    return (weight * values[index]).sum(axis=1) / weight.sum(axis=1)


def _as_points(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite coordinates")
    return array
