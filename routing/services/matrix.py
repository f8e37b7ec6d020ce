"""Shortest flights between targets and ports, computed in one batch with scipy's csgraph.

The flight graph is turned once into arrays (:class:`GraphArrays`); for a plan, forbidden edges
(no-fly zones) are masked out and, of the parallel edges between two nodes, the cheapest is kept
(:func:`routing_matrix`). One multi-source Dijkstra run (``scipy.sparse.csgraph.dijkstra`` with
``indices=`` the snapped targets and ports) gives every cost and the predecessor trees; the
length in metres of each cheapest path is summed along the trees (pointer jumping, vectorised),
and :func:`path_edges` rebuilds a path's edges for the flight's geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

UNREACHABLE = -9999  # scipy's "no predecessor"


@dataclass
class GraphArrays:
    """A flight graph as arrays: node ``i`` is ``nodes[i]``; edge ``e`` runs ``eu[e] → ev[e]``."""

    nodes: list
    xy: np.ndarray
    lonlat: np.ndarray
    elevation: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    length: np.ndarray
    cost: np.ndarray
    kind: np.ndarray
    geoms: np.ndarray

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph) -> GraphArrays:
        nodes = list(graph.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        data = graph.nodes
        xy = np.array([(data[n]["x"], data[n]["y"]) for n in nodes], dtype=float)
        lonlat = np.array([(data[n]["lon"], data[n]["lat"]) for n in nodes], dtype=float)
        elevation = np.array([data[n].get("elevation_m", np.nan) for n in nodes], dtype=float)
        edges = list(graph.edges(data=True))
        return cls(
            nodes=nodes, xy=xy, lonlat=lonlat, elevation=elevation,
            eu=np.array([index[u] for u, _, _ in edges], dtype=np.int64),
            ev=np.array([index[v] for _, v, _ in edges], dtype=np.int64),
            length=np.array([d["length"] for _, _, d in edges], dtype=float),
            cost=np.array([d["cost"] for _, _, d in edges], dtype=float),
            kind=np.array([d["kind"] for _, _, d in edges]),
            geoms=np.array([d["geometry"] for _, _, d in edges], dtype=object),
        )


_ARRAYS: dict[int, GraphArrays] = {}


def graph_arrays(graph: nx.MultiDiGraph) -> GraphArrays:
    """:class:`GraphArrays` of ``graph``, built once per graph object in this process."""
    key = id(graph)
    if key not in _ARRAYS:
        _ARRAYS.clear()
        _ARRAYS[key] = GraphArrays.from_graph(graph)
    return _ARRAYS[key]


@dataclass
class RoutingGraph:
    """The usable edges of a plan: one (cheapest) edge per node pair, as CSR matrices.

    ``edge_of`` maps a CSR entry (u→v) back to the edge index in :class:`GraphArrays`.
    """

    arrays: GraphArrays
    cost: csr_matrix
    pair_keys: np.ndarray  # sorted u * n + v of the chosen edges
    pair_edges: np.ndarray  # the chosen edge index of each key
    main: np.ndarray  # boolean mask: nodes in the largest connected component

    def edge_index(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Edge indices (into :class:`GraphArrays`) of node pairs ``u[k] → v[k]``."""
        keys = np.asarray(u, dtype=np.int64) * len(self.arrays.nodes) + np.asarray(v, dtype=np.int64)
        pos = np.searchsorted(self.pair_keys, keys)
        if len(keys) and (pos.max() >= len(self.pair_keys) or
                          not np.array_equal(self.pair_keys[pos], keys)):
            raise ValueError("node pair without an allowed edge")
        return self.pair_edges[pos]


def routing_matrix(arrays: GraphArrays, forbidden: np.ndarray | None = None) -> RoutingGraph:
    """Sparse matrices of the cheapest allowed edge between each pair of nodes."""
    keep = np.ones(len(arrays.eu), dtype=bool) if forbidden is None else ~forbidden
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((arrays.cost[idx], arrays.ev[idx], arrays.eu[idx]))]
    u, v = arrays.eu[order], arrays.ev[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    chosen = order[first]
    n = len(arrays.nodes)
    shape = (n, n)
    eu, ev = arrays.eu[chosen], arrays.ev[chosen]
    # csgraph takes explicit zeros as "no edge": give zero-length edges a tiny positive weight
    cost = csr_matrix((np.maximum(arrays.cost[chosen], 1e-6), (eu, ev)), shape=shape)
    keys = eu * n + ev  # already sorted (lexsort by u, then v)
    _, labels = connected_components(cost, directed=True, connection="strong")
    main = labels == np.bincount(labels).argmax()
    return RoutingGraph(arrays, cost, keys, chosen, main)


def snap(routing: RoutingGraph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest node of the main component to each point (metres); returns (nodes, distances)."""
    candidates = np.flatnonzero(routing.main)
    tree = cKDTree(routing.arrays.xy[candidates])
    dist, idx = tree.query(np.atleast_2d(xy))
    return candidates[idx], dist


@dataclass
class DistanceMatrix:
    """Costs and lengths (metres) of the cheapest paths between the ``sources`` nodes."""

    sources: np.ndarray  # node indices, one per location (ports first, then targets)
    cost: np.ndarray  # (k, k)
    length_m: np.ndarray  # (k, k); inf where unreachable
    predecessors: np.ndarray  # (k, n)


def distance_matrix(routing: RoutingGraph, sources: np.ndarray) -> DistanceMatrix:
    """All-pairs cheapest paths between ``sources`` with one multi-source Dijkstra run.

    The cost decides the path (corridors preferred when their weight is < 1); ``length_m`` is the
    real length of that path, summed over its edges.
    """
    unique, inverse = np.unique(sources, return_inverse=True)
    cost_all, pred = dijkstra(routing.cost, directed=True, indices=unique,
                              return_predecessors=True)
    lengths_all = tree_lengths(routing, pred)
    cost = cost_all[:, unique][inverse][:, inverse]
    length = lengths_all[:, unique][inverse][:, inverse]
    length[~np.isfinite(cost)] = np.inf
    return DistanceMatrix(sources=np.asarray(sources), cost=cost, length_m=length,
                          predecessors=pred[inverse])


def tree_lengths(routing: RoutingGraph, pred: np.ndarray) -> np.ndarray:
    """Length from each tree's root to every node along the predecessor trees (pointer jumping)."""
    k, n = pred.shape
    nodes = np.broadcast_to(np.arange(n), (k, n))
    has_parent = pred >= 0
    parent = np.where(has_parent, pred, nodes)
    step = np.zeros((k, n))
    rows, cols = np.nonzero(has_parent)
    step[rows, cols] = routing.arrays.length[routing.edge_index(parent[rows, cols], cols)]
    row_index = np.arange(k)[:, None]
    # doubling: total[v] sums the steps from v up to jump[v]; roots point to themselves (step 0)
    total, jump = step, parent
    for _ in range(64):
        following = jump[row_index, jump]
        if np.array_equal(following, jump):
            break
        total = total + total[row_index, jump]
        jump = following
    return total


def node_path(pred_row: np.ndarray, start: int, end: int) -> list[int]:
    """Node indices of the path ``start → end`` from one predecessor row rooted at ``start``."""
    path = [end]
    while path[-1] != start:
        parent = pred_row[path[-1]]
        if parent < 0:
            raise ValueError(f"node {end} is not reachable from {start}")
        path.append(int(parent))
    return path[::-1]


def path_edges(routing: RoutingGraph, path: list[int]) -> np.ndarray:
    """Edge indices (into :class:`GraphArrays`) along a node path."""
    if len(path) < 2:
        return np.zeros(0, dtype=np.int64)
    p = np.asarray(path)
    return routing.edge_index(p[:-1], p[1:])


def join_geometry(arrays: GraphArrays, edges: np.ndarray) -> shapely.LineString:
    """The edges' geometries joined end to end into one LineString (metres)."""
    coords: list[tuple[float, float]] = []
    for e in edges:
        part = list(arrays.geoms[e].coords)
        coords.extend(part if not coords else part[1:])
    return shapely.LineString(coords)
