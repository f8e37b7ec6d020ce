"""Planning flights: from targets, a drone type and a fleet at ports to a stored FlightPlan.

:func:`plan_flights` runs the whole pipeline over the region's cached flight graph:

1. check the input (range, fleet, targets, graph) — nothing is written on bad input;
2. remove the graph edges inside or crossing the no-fly zones that apply at the cruise altitude;
3. snap ports and targets to the graph (targets inside a zone or cut off are skipped);
4. one csgraph multi-source Dijkstra for the length matrix between ports and targets;
5. skip targets no drone can reach and return from within the usable range, with the reason;
6. solve with PyVRP (:mod:`routing.services.solver`), or say how many more flights are needed;
7. rebuild each flight's path along graph edges, its waypoints and altitudes, and store the
   :class:`~routing.models.FlightPlan` with its :class:`~routing.models.Flight` rows atomically.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from django.contrib.gis.geos import LineString, MultiLineString
from django.db import transaction
from pyproj import Transformer

from routing.models import Drone, DronePort, Flight, FlightPlan, FlightPlanStatus
from routing.services import airspace
from routing.services.errors import RoutingInputError
from routing.services.graph import current_graph, get_region, load_graph
from routing.services.matrix import (
    distance_matrix,
    graph_arrays,
    join_geometry,
    node_path,
    path_edges,
    routing_matrix,
    snap,
)
from routing.services.solver import Problem, RouteSolution, nearest_neighbour_routes, solve_routes
from routing.services.targets import Target, resolve_targets
from twin.jobs import check_parameters
from twin.models import Region, Substation

ProgressFn = Callable[[float, str], None]
DEFAULT_OPTIONS = {
    "time_budget_s": 5.0,  # PyVRP's run time
    "max_snap_m": 300.0,  # farthest a target or port may lie from a flyable graph node
    "seed": 0,
    "waypoint_tolerance_m": 5.0,  # waypoints simplify the path within this distance
    "solver": "pyvrp",  # or "nearest-neighbour" (the baseline)
}


MATRIX_CELLS_MAX = 20_000_000  # (ports + targets) × graph nodes: about 1 GB of matrix arrays


def _no_progress(fraction: float, message: str = "") -> None:
    """Progress callback used when the caller passes none."""


@dataclass
class DroneSpec:
    """The drone parameters a plan uses (from a :class:`~routing.models.Drone` or given ad hoc)."""

    range_m: float
    name: str = "drone"
    reserve_fraction: float = 0.2
    cruise_speed_mps: float = 12.0
    service_time_s: float = 60.0
    cruise_altitude_m: float = 60.0
    max_altitude_m: float = 120.0
    min_clearance_m: float = 30.0
    max_duration_s: float | None = None

    @classmethod
    def from_drone(cls, drone: Drone) -> DroneSpec:
        return cls(**{f.name: getattr(drone, f.name) for f in fields(cls)})

    @classmethod
    def from_dict(cls, data: dict) -> DroneSpec:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise RoutingInputError(f"unknown drone field(s) {', '.join(unknown)}")
        if "range_m" not in data:
            raise RoutingInputError("drone range_m is required")
        return cls(**data)

    @property
    def usable_range_m(self) -> float:
        return self.range_m * (1.0 - self.reserve_fraction)

    def check(self) -> None:
        """Raise :class:`RoutingInputError` for parameters no drone can fly with."""
        for name in ("range_m", "cruise_speed_mps", "cruise_altitude_m", "max_altitude_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise RoutingInputError(f"{name} must be a number greater than 0 (got {value!r})")
        if not isinstance(self.reserve_fraction, int | float) or not 0 <= self.reserve_fraction < 1:
            raise RoutingInputError("reserve_fraction must be from 0 to below 1")
        if not isinstance(self.service_time_s, int | float) or self.service_time_s < 0:
            raise RoutingInputError("service_time_s must not be negative")
        for name in ("min_clearance_m", "cruise_altitude_m", "max_altitude_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise RoutingInputError(f"{name} must be a number of metres, not negative "
                                        f"(got {value!r})")
        if self.max_duration_s is not None and not isinstance(self.max_duration_s, int | float):
            raise RoutingInputError("max_duration_s must be a number of seconds")
        if self.cruise_altitude_m > self.max_altitude_m:
            raise RoutingInputError(f"cruise_altitude_m ({self.cruise_altitude_m:g} m) is above "
                                    f"max_altitude_m ({self.max_altitude_m:g} m)")
        if self.max_duration_s is not None and self.max_duration_s <= 0:
            raise RoutingInputError("max_duration_s must be greater than 0")


# --- ports and fleets -------------------------------------------------------------------------


def substation_ports(region: Region) -> list[DronePort]:
    """A drone port at each present substation of ``region`` (created when missing)."""
    ports = []
    for sub in Substation.objects.filter(region=region, missing_since__isnull=True).order_by("id"):
        port, _ = DronePort.objects.get_or_create(
            region=region, substation=sub,
            defaults={"name": f"{sub.name or 'substation'} #{sub.pk}"[:200], "location": sub.location},
        )
        ports.append(port)
    if not ports:
        raise RoutingInputError(f"region {region.name!r} has no substations to put ports at")
    return ports


def distribute_drones(ports: list[DronePort], drones: int, targets: list[Target]
                      ) -> list[tuple[DronePort, int]]:
    """Spread ``drones`` over the ports nearest to some target: busiest first, round robin."""
    if not isinstance(drones, int) or drones < 1:
        raise RoutingInputError(f"the number of drones must be at least 1 (got {drones!r})")
    if not ports:
        raise RoutingInputError("no drone ports given")
    pts = np.array([(p.location.x, p.location.y) for p in ports])
    tg = np.array([(t.lon, t.lat) for t in targets]) if targets else np.zeros((0, 2))
    share = np.zeros(len(ports), dtype=int)
    if len(tg):
        coslat = math.cos(math.radians(float(np.mean(tg[:, 1]))))
        d = ((tg[:, None, 0] - pts[None, :, 0]) * coslat) ** 2 + (tg[:, None, 1] - pts[None, :, 1]) ** 2
        share = np.bincount(d.argmin(axis=1), minlength=len(ports))
    order = sorted(range(len(ports)), key=lambda i: (-share[i], ports[i].pk or 0))
    if share.any():  # ports no target is nearest to get no drones
        order = [i for i in order if share[i] > 0]
    counts = [0] * len(ports)
    for k in range(drones):
        counts[order[k % len(order)]] += 1
    return [(ports[i], counts[i]) for i in order if counts[i] > 0]


def _check_fleet(fleet: list[tuple[DronePort, int]]) -> None:
    if not fleet:
        raise RoutingInputError("no drone ports given: a plan needs at least one port with drones")
    total = 0
    for port, n in fleet:
        if not isinstance(n, int) or n < 0:
            raise RoutingInputError(f"port {port}: the number of drones must be 0 or more")
        if n > port.capacity:
            raise RoutingInputError(f"port {port} holds {port.capacity} drone(s), not {n}")
        total += n
    if total == 0:
        raise RoutingInputError("zero drones: a plan needs at least one drone at a port")


# --- the pipeline -----------------------------------------------------------------------------


@dataclass
class _Leg:
    edges: np.ndarray
    nodes: list[int]


def plan_flights(region: str | Region, targets: list[Target], drone: Drone | DroneSpec,
                 fleet: list[tuple[DronePort, int]], *, options: dict | None = None,
                 name: str = "", user=None, job=None, progress: ProgressFn | None = None,
                 skip_ports_in_zones: bool = False, check_only: bool = False) -> FlightPlan | dict:
    """Plan and store the flights that visit ``targets`` with the drones at the ports.

    Parameters
    ----------
    region
        The region (or its name) whose cached flight graph is flown.
    targets
        From :func:`~routing.services.targets.resolve_targets`.
    drone
        The drone type (all drones of the plan are alike).
    fleet
        ``[(port, drones at that port)]``; each count at most the port's capacity.
    options
        ``time_budget_s`` (5), ``max_snap_m`` (300), ``seed`` (0), ``waypoint_tolerance_m`` (5),
        ``solver`` (``pyvrp`` or ``nearest-neighbour``).
    skip_ports_in_zones
        Leave out ports inside a no-fly zone with a warning instead of refusing the plan (for
        automatically chosen ports such as "all substations").
    check_only
        Run every check on the request (graph, fleet, ports, targets, snapping) and stop before
        the distance matrix: the API answers bad input before it queues a job.

    Returns
    -------
    FlightPlan
        The stored plan: every target is in exactly one flight or in ``skipped`` with a reason.
        With ``check_only``: ``{"targets", "ports", "drones", "skipped"}`` counts, nothing stored.

    Raises
    ------
    RoutingInputError
        Range ≤ 0, zero drones, no targets, no graph yet, a port inside a no-fly zone or off the
        graph, targets outside the graph. Nothing is written then.
    """
    progress = progress or _no_progress
    region = get_region(region)
    spec = DroneSpec.from_drone(drone) if isinstance(drone, Drone) else drone
    spec.check()
    opts = _plan_options(options or {})
    _check_fleet(fleet)
    if not targets:
        raise RoutingInputError("the target set is empty: nothing to inspect")
    if len({t.key for t in targets}) != len(targets):
        raise RoutingInputError("targets must not repeat")
    record = current_graph(region)
    progress(0.05, "loading the flight graph")
    graph = load_graph(record)
    arrays = graph_arrays(graph)
    crs = graph.graph["crs"]
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    progress(0.1, "applying no-fly zones")
    zones = airspace.active_zones(region, spec.cruise_altitude_m)
    zone_polys = airspace.project_zones(zones, crs)
    forbidden = airspace.forbidden_edges(arrays.geoms, zone_polys)
    routing = routing_matrix(arrays, forbidden)
    warnings: list[str] = []
    if record.stats.get("lines") is not None and record.inputs_digest != _digest_now(region, record):
        warnings.append("the flight graph was built from older inputs (the OSM file or the lines "
                        "changed since); run build_flight_graph to rebuild it")

    # ports: inside a zone or off the graph is an error (or, if allowed, left out)
    fleet = [(p, n) for p, n in fleet if n > 0]
    port_xy = np.array([to_utm.transform(p.location.x, p.location.y) for p, _ in fleet])
    kept = []
    for (port, n), xy in zip(fleet, port_xy, strict=True):
        zone = airspace.zone_containing(tuple(xy), zones, zone_polys)
        if zone is not None:
            message = f"port {port} is inside the no-fly zone {zone} ({zone.get_kind_display()})"
            if not skip_ports_in_zones:
                raise RoutingInputError(message)
            warnings.append(message + "; left out")
            continue
        kept.append((port, n, xy))
    if not kept:
        raise RoutingInputError("every port is inside a no-fly zone: " + "; ".join(warnings))
    fleet = [(p, n) for p, n, _ in kept]
    port_nodes, port_snap = snap(routing, np.array([xy for _, _, xy in kept]))
    for (port, _), dist in zip(fleet, port_snap, strict=True):
        if dist > opts["max_snap_m"]:
            raise RoutingInputError(f"port {port} is {dist:.0f} m from the nearest flyable graph "
                                    f"node (more than max_snap_m = {opts['max_snap_m']:g} m)")

    # targets: outside the graph's extent is an error; inside a zone or cut off is skipped
    target_xy = np.array(to_utm.transform([t.lon for t in targets], [t.lat for t in targets])).T
    lo, hi = arrays.xy.min(axis=0) - opts["max_snap_m"], arrays.xy.max(axis=0) + opts["max_snap_m"]
    outside = [t.key for t, xy in zip(targets, target_xy, strict=True)
               if not (np.all(xy >= lo) and np.all(xy <= hi))]
    if outside:
        raise RoutingInputError(
            f"{len(outside)} target(s) lie outside the flight graph of region {region.name!r}: "
            f"{', '.join(outside[:10])}{' …' if len(outside) > 10 else ''}",
            details={"outside": outside})
    skipped: list[dict] = []
    candidates: list[int] = []
    for i, (target, xy) in enumerate(zip(targets, target_xy, strict=True)):
        zone = airspace.zone_containing(tuple(xy), zones, zone_polys)
        if zone is not None:
            skipped.append({"target": target.key, "reason": f"inside the no-fly zone {zone} "
                                                            f"({zone.get_kind_display()})"})
        else:
            candidates.append(i)
    cand_nodes, cand_snap = snap(routing, target_xy[candidates]) if candidates else ([], [])
    reachable = []
    for i, node, dist in zip(candidates, cand_nodes, cand_snap, strict=True):
        if dist > opts["max_snap_m"]:
            skipped.append({"target": targets[i].key,
                            "reason": f"no flyable graph node within {opts['max_snap_m']:g} m "
                                      f"(nearest {dist:.0f} m away)"})
        else:
            reachable.append((i, int(node), float(dist)))

    # the batch Dijkstra keeps a few (ports + targets) × graph-nodes arrays in memory
    most = max(1, MATRIX_CELLS_MAX // max(1, len(arrays.nodes)) - len(fleet))
    if len(reachable) > most:
        raise RoutingInputError(
            f"too many targets for one plan on this graph: {len(reachable)} (at most {most} with "
            f"{len(arrays.nodes)} graph nodes and {len(fleet)} port(s)); split the request, e.g. "
            "by bbox")
    if check_only:
        return {"targets": len(targets), "ports": len(fleet),
                "drones": sum(n for _, n in fleet), "skipped": len(skipped)}
    progress(0.2, f"distance matrix for {len(reachable)} targets and {len(fleet)} ports")
    sources = np.array([*port_nodes, *(node for _, node, _ in reachable)], dtype=np.int64)
    matrix = distance_matrix(routing, sources)
    P = len(fleet)
    usable = spec.usable_range_m
    flyable = []
    for k, (i, _, _) in enumerate(reachable):
        round_trip = matrix.length_m[:P, P + k] + matrix.length_m[P + k, :P]
        best = int(np.argmin(round_trip))
        if not np.isfinite(round_trip[best]):
            skipped.append({"target": targets[i].key, "reason": "no flyable path from any port "
                            "(cut off by no-fly zones or a disconnected part of the graph)"})
        elif round_trip[best] > usable:
            skipped.append({"target": targets[i].key, "reason": (
                f"round trip from the nearest port {fleet[best][0]} is {round_trip[best]:.0f} m, "
                f"more than the usable range {usable:.0f} m")})
        elif spec.max_duration_s is not None and (
                round_trip[best] / spec.cruise_speed_mps + spec.service_time_s > spec.max_duration_s):
            skipped.append({"target": targets[i].key, "reason": (
                f"round trip from the nearest port {fleet[best][0]} takes longer than the "
                f"drone's {spec.max_duration_s:.0f} s")})
        else:
            flyable.append(k)

    keep = [*range(P), *(P + k for k in flyable)]
    problem = Problem(length_m=matrix.length_m[np.ix_(keep, keep)],
                      drones_per_port=[n for _, n in fleet], usable_range_m=usable,
                      service_time_s=spec.service_time_s, speed_mps=spec.cruise_speed_mps,
                      max_duration_s=spec.max_duration_s)
    progress(0.3, f"solving routes for {len(flyable)} targets ({opts['solver']})")
    if not flyable:
        solution = RouteSolution([], opts["solver"], 0.0, True)
    elif opts["solver"] == "nearest-neighbour":
        solution = nearest_neighbour_routes(problem)
    else:
        solution = solve_routes(problem, time_budget_s=opts["time_budget_s"], seed=opts["seed"])

    progress(0.85, "building flight paths")
    dem = record.options.get("dem_path")
    flights = []
    sorties: dict[int, int] = {}
    for route in solution.routes:
        port, drones_here = fleet[route.port]
        order = sorties.get(route.port, 0)
        sorties[route.port] = order + 1
        stops = [route.port, *(P + flyable[t] for t in route.targets), route.port]
        legs = []
        for a, b in itertools.pairwise(stops):
            nodes = node_path(matrix.predecessors[a], int(sources[a]), int(sources[b]))
            legs.append(_Leg(path_edges(routing, nodes), nodes))
        keys = [targets[reachable[flyable[t]][0]].key for t in route.targets]
        flights.append(_flight(arrays, legs, keys, spec, port, order, drones_here, to_wgs, crs, dem,
                               opts["waypoint_tolerance_m"], warnings))

    visited = [k for f in flights for k in f["targets"]]
    assert len(visited) == len(set(visited)) and len(visited) + len(skipped) == len(targets)
    status = (FlightPlanStatus.NEEDS_MORE_FLIGHTS if solution.extra_flights_needed
              else FlightPlanStatus.COMPLETE)
    if solution.extra_flights_needed:
        warnings.append(f"the fleet of {sum(n for _, n in fleet)} drone(s) needs "
                        f"{solution.extra_flights_needed} more flight(s): recharge and fly again "
                        "(sortie 2…) or bring more drones")
    progress(0.95, "saving the plan")
    with transaction.atomic():
        plan = FlightPlan.objects.create(
            name=name[:200], region=region, graph=record, job=job,
            drone=drone if isinstance(drone, Drone) else None, drone_spec=asdict(spec),
            fleet=[{"port": p.pk, "name": p.name, "drones": n} for p, n in fleet],
            options=opts, targets=[t.as_dict() for t in targets], skipped=skipped,
            status=status, extra_flights_needed=solution.extra_flights_needed,
            usable_range_m=usable,
            total_length_m=sum(f["length_m"] for f in flights),
            total_duration_s=sum(f["duration_s"] for f in flights),
            solver={"method": solution.method, "runtime_s": round(solution.runtime_s, 3),
                    "feasible": solution.feasible, **solution.stats,
                    "removed_edges": int(forbidden.sum()), "no_fly_zones": len(zones)},
            warnings=warnings,
            geometry=MultiLineString([f["path"] for f in flights], srid=4326) if flights else None,
            created_by=user if user is not None and getattr(user, "pk", None) else None,
        )
        plan.ports.set([p for p, _ in fleet])
        Flight.objects.bulk_create([Flight(plan=plan, sequence=n, **f)
                                    for n, f in enumerate(flights, start=1)])
    progress(1.0, f"{len(flights)} flight(s), {len(skipped)} target(s) skipped")
    return plan


def _plan_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise RoutingInputError(f"unknown option(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(sorted(DEFAULT_OPTIONS))}")
    opts = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if v is not None}}
    for key in ("time_budget_s", "max_snap_m", "waypoint_tolerance_m"):
        try:
            opts[key] = float(opts[key])
        except (TypeError, ValueError) as exc:
            raise RoutingInputError(f"{key} must be a number") from exc
    if not 0 < opts["time_budget_s"] <= 3600:
        raise RoutingInputError("time_budget_s must be greater than 0 and at most 3600")
    if not 0 < opts["max_snap_m"] <= 10_000:
        raise RoutingInputError("max_snap_m must be greater than 0 and at most 10000")
    if opts["solver"] not in ("pyvrp", "nearest-neighbour"):
        raise RoutingInputError("solver must be pyvrp or nearest-neighbour")
    opts["seed"] = int(opts["seed"])
    return opts


def _digest_now(region: Region, record) -> str:
    from routing.services.graph import inputs_digest, region_osm_file

    try:
        osm = Path(record.stats["osm_file"]) if record.stats.get("osm_file") else region_osm_file(region)
        return inputs_digest(region, record.options, osm)
    except (RoutingInputError, OSError):
        return ""


def _ground(dem: str | None, xy: np.ndarray, crs: str) -> np.ndarray:
    """Ground elevation at projected points from the DEM (NaN where unknown or no DEM)."""
    if not dem or not len(xy):
        return np.full(len(xy), np.nan)
    import rasterio

    with rasterio.open(dem) as src:
        to_dem = Transformer.from_crs(crs, src.crs, always_xy=True)
        dx, dy = to_dem.transform(xy[:, 0], xy[:, 1])
        values = np.array([v[0] for v in src.sample(zip(dx, dy, strict=True))], dtype=float)
        left, bottom, right, top = src.bounds
        values[(dx < left) | (dx > right) | (dy < bottom) | (dy > top)] = np.nan
        if src.nodata is not None:
            values[values == src.nodata] = np.nan
    return values


def _flight(arrays, legs: list[_Leg], keys: list[str], spec: DroneSpec, port: DronePort,
            order: int, drones_here: int, to_wgs: Transformer, crs: str, dem: str | None,
            tolerance_m: float, warnings: list[str]) -> dict:
    """One flight's path (EPSG:4326), waypoints with altitudes, length and duration."""
    edges = np.concatenate([leg.edges for leg in legs]) if legs else np.zeros(0, dtype=np.int64)
    length_m = float(arrays.length[edges].sum())
    # waypoints: per leg, the path simplified within tolerance (terrain following: every vertex)
    points: list[tuple[float, float, str | None]] = []
    for n, leg in enumerate(legs):
        if len(leg.edges):
            line = join_geometry(arrays, leg.edges)
            if not dem:
                line = line.simplify(tolerance_m, preserve_topology=False)
            coords = list(line.coords)
            if points:
                coords = coords[1:]  # the leg starts where the previous one ended
        else:
            coords = [tuple(arrays.xy[leg.nodes[0]])]  # two stops at one node: hover again
        points.extend((float(x), float(y), None) for x, y in coords)
        if n < len(keys):  # leg n ends at target n
            x, y, _ = points[-1]
            points[-1] = (x, y, keys[n])
    xy = np.array([(x, y) for x, y, _ in points])
    if len(xy) == 1:
        xy = np.vstack([xy, xy])
        points.append((*points[0][:2], None))
    ground = _ground(dem, xy, crs)
    home = ground[0] if np.isfinite(ground[0]) else 0.0
    agl = spec.cruise_altitude_m
    alt = np.where(np.isfinite(ground), ground - home + agl, agl)
    lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
    waypoints = [{"lon": round(float(a), 7), "lat": round(float(b), 7), "alt_m": round(float(h), 1),
                  "agl_m": round(float(agl), 1), "target": key}
                 for a, b, h, (_, _, key) in zip(lon, lat, alt, points, strict=True)]
    if dem:
        # check the altitude above ground along the whole path, every ~25 m (the waypoints
        # are every vertex of the path here, so distances along them are distances along it)
        wp_dist = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        samples = np.arange(0.0, wp_dist[-1] + 25.0, 25.0).clip(max=wp_dist[-1])
        sample_xy = np.column_stack([np.interp(samples, wp_dist, xy[:, 0]),
                                     np.interp(samples, wp_dist, xy[:, 1])])
        sample_ground = _ground(dem, sample_xy, crs)
        planned = np.interp(samples, wp_dist, alt) + home
        above = planned - sample_ground
        above = above[np.isfinite(above)]
        if len(above):
            low, high = float(above.min()), float(above.max())
            if high > spec.max_altitude_m or low < spec.min_clearance_m:
                warnings.append(f"flight from {port} over {len(keys)} target(s): altitude above "
                                f"ground {low:.0f}–{high:.0f} m leaves the limits "
                                f"{spec.min_clearance_m:g}–{spec.max_altitude_m:g} m")
    path_xy = join_geometry(arrays, edges).coords if len(edges) else xy
    path_xy = np.asarray(path_xy)
    plon, plat = to_wgs.transform(path_xy[:, 0], path_xy[:, 1])
    coords = list(zip(plon, plat, strict=True))
    if len(coords) < 2:
        coords = coords * 2
    return {
        "port": port, "port_name": port.name, "drone_number": order % drones_here + 1,
        "sortie": order // drones_here + 1,
        "path": LineString(coords, srid=4326), "waypoints": waypoints, "targets": keys,
        "length_m": round(length_m, 2),
        "duration_s": round(length_m / spec.cruise_speed_mps + spec.service_time_s * len(keys), 1),
    }


# --- summaries and the job --------------------------------------------------------------------


def plan_summary(plan: FlightPlan) -> dict:
    """The JSON summary of a plan (what the CLI prints and the job returns)."""
    return {
        "plan": plan.pk, "region": plan.region.name, "status": plan.status,
        "extra_flights_needed": plan.extra_flights_needed,
        "usable_range_m": round(plan.usable_range_m, 1),
        "routes": [{"flight": f.sequence, "port": f.port_name, "port_id": f.port_id,
                    "drone": f.drone_number, "sortie": f.sortie, "length_m": f.length_m,
                    "duration_s": f.duration_s, "targets": f.targets}
                   for f in plan.flights.order_by("sequence")],
        "skipped": plan.skipped,
        "total_length_m": round(plan.total_length_m, 2),
        "total_duration_s": round(plan.total_duration_s, 1),
        "targets": len(plan.targets), "solver": plan.solver, "warnings": plan.warnings,
    }


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise RoutingInputError(f"{name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise RoutingInputError(f"{name} must be an integer") from exc
    if number != value and not isinstance(value, str):
        raise RoutingInputError(f"{name} must be an integer")
    return number


def fleet_from_parameters(region: Region, *, ports, drones=None, fleet=None,
                          targets: list[Target]) -> tuple[list[tuple[DronePort, int]], bool]:
    """The fleet of a request: ``ports`` = ``"substations"`` or a list of port ids (default: the
    region's active ports, else its substations); ``drones`` = a total spread over them, or
    ``fleet`` = ``[{"port": id, "drones": n}]``. Returns the fleet and whether the ports were
    chosen automatically (then ports inside no-fly zones are left out, not refused)."""
    if fleet is not None:
        if not isinstance(fleet, list) or not fleet:
            raise RoutingInputError('fleet must be a list of {"port": id, "drones": n}')
        result = []
        for item in fleet:
            if not isinstance(item, dict) or "port" not in item or "drones" not in item:
                raise RoutingInputError('fleet must be a list of {"port": id, "drones": n}')
            port = DronePort.objects.filter(pk=_int(item["port"], "fleet port")).first()
            if port is None:
                raise RoutingInputError(f"unknown drone port {item['port']}")
            result.append((port, _int(item["drones"], "fleet drones")))
        return result, False
    automatic = ports in (None, "substations")
    if ports == "substations" or (ports is None and not DronePort.objects.filter(
            region=region, active=True).exists()):
        port_list = substation_ports(region)
    elif ports is None:
        port_list = list(DronePort.objects.filter(region=region, active=True).order_by("id"))
    else:
        if not isinstance(ports, list) or not ports:
            raise RoutingInputError('ports must be "substations" or a list of port ids')
        ids = [_int(p, "port id") for p in ports]
        found = {p.pk: p for p in DronePort.objects.filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise RoutingInputError(f"unknown drone port(s): {', '.join(map(str, missing))}")
        port_list = [found[i] for i in ids]
    if drones is None:
        return [(p, p.capacity) for p in port_list], automatic
    drones = _int(drones, "drones")
    if drones < 1:
        raise RoutingInputError(f"zero drones: the number of drones must be at least 1 (got {drones})")
    if automatic:
        for port in port_list:  # automatically placed ports hold what they are given
            if port.capacity < drones:
                port.capacity = drones
                port.save(update_fields=["capacity"])
    return distribute_drones(port_list, drones, targets), automatic


def plan_flights_from_parameters(parameters: dict, *, user=None, job=None,
                                 progress: ProgressFn | None = None,
                                 check_only: bool = False) -> FlightPlan | dict:
    """Plan from plain JSON parameters (the job's and the API's format).

    ``{"region": name, "targets": {"kind": "supports|spans|substations|points", "ids": [...],
    "bbox": "minx,miny,maxx,maxy", "points": GeoJSON or [[lon, lat]…], "limit": n},
    "drone": id or {"range_m": …, …}, "drones": n, "ports": "substations" or [ids],
    "fleet": [{"port": id, "drones": n}], "options": {...}, "name": "…"}``

    Ports created at substations are rolled back when the request fails a check, and always
    with ``check_only`` (see :func:`plan_flights`).
    """
    check_parameters(parameters, allowed={"drones", "ports", "fleet", "options", "name"},
                     required=["region", "targets", "drone"], error=RoutingInputError)
    region = get_region(parameters["region"])
    current_graph(region)  # no graph yet: say so before looking at anything else
    spec_in = parameters["drone"]
    if isinstance(spec_in, dict):
        drone = DroneSpec.from_dict(spec_in)
    else:
        drone = Drone.objects.filter(pk=_int(spec_in, "drone")).first()
        if drone is None:
            raise RoutingInputError(f"unknown drone {spec_in}")
    selection = parameters["targets"]
    if not isinstance(selection, dict):
        raise RoutingInputError('targets must be an object: {"kind": …, "ids"|"bbox"|"points": …}')
    extra = sorted(set(selection) - {"kind", "ids", "bbox", "points", "limit"})
    if extra:
        raise RoutingInputError(f"unknown target field(s) {', '.join(extra)}")
    limit = selection.get("limit")
    targets = resolve_targets(region, str(selection.get("kind", "")), ids=selection.get("ids"),
                              bbox=selection.get("bbox"), points=selection.get("points"),
                              limit=None if limit is None else _int(limit, "limit"))
    options = parameters.get("options") or {}
    if not isinstance(options, dict):
        raise RoutingInputError("options must be an object")
    # Ports placed at substations are kept only if the request passes every check; the solve
    # itself runs outside this transaction, so that the job's progress is committed as it goes
    # (and the job row is not locked for the whole solve).
    with transaction.atomic():
        fleet, automatic = fleet_from_parameters(
            region, ports=parameters.get("ports"), drones=parameters.get("drones"),
            fleet=parameters.get("fleet"), targets=targets)
        checked = plan_flights(region, targets, drone, fleet, options=options,
                               skip_ports_in_zones=automatic, check_only=True)
        if check_only:
            transaction.set_rollback(True)
            return checked
    return plan_flights(region, targets, drone, fleet, options=options,
                        name=str(parameters.get("name", "")), user=user, job=job,
                        progress=progress, skip_ports_in_zones=automatic)


def plan_flights_job(parameters: dict, progress: ProgressFn) -> dict:
    """Job ``routing.plan_flights``: see :func:`plan_flights_from_parameters`."""
    from twin.models import Job

    job_id = getattr(progress, "job_id", None)
    job = Job.objects.filter(pk=job_id).first() if job_id else None
    plan = plan_flights_from_parameters(parameters, user=job.created_by if job else None,
                                        job=job, progress=progress)
    return plan_summary(plan)
