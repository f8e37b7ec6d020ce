"""Battery-limited multi-depot routing: PyVRP, and a nearest-neighbour baseline.

Both work on plain arrays: a matrix of path lengths in metres between locations — the ports
first (``0 … P−1``), then the targets (``P … P+T−1``) — and the number of drones at each port.
Every flight starts and ends at its own port and flies at most the usable range
(``range × (1 − reserve)``); hovering at a target takes ``service_time_s``. The caller removes
targets that no drone can reach and return from before solving.

When the drones cannot cover every target with one flight each, :func:`solve_routes` solves
again allowing more flights per port (each extra flight has a fixed cost, so as few as possible
are added) and reports how many more flights are needed: a drone flies again after recharging,
or more drones are brought.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

INT_INF = 2**40
DM_PER_M = 10  # PyVRP's distance unit: decimetres


@dataclass
class Route:
    """One flight: its port (index), the targets visited (indices 0…T−1) in order."""

    port: int
    targets: list[int]
    length_m: float
    duration_s: float


@dataclass
class RouteSolution:
    """A set of flights and how it was found."""

    routes: list[Route]
    method: str
    runtime_s: float
    feasible: bool
    extra_flights_needed: int = 0
    stats: dict = field(default_factory=dict)

    @property
    def total_length_m(self) -> float:
        return float(sum(r.length_m for r in self.routes))


@dataclass
class Problem:
    """The routing problem: lengths between ports and targets, the fleet and its limits."""

    length_m: np.ndarray  # (P+T, P+T), inf where unreachable
    drones_per_port: list[int]
    usable_range_m: float
    service_time_s: float
    speed_mps: float
    max_duration_s: float | None = None

    @property
    def num_ports(self) -> int:
        return len(self.drones_per_port)

    @property
    def num_targets(self) -> int:
        return self.length_m.shape[0] - self.num_ports

    def route_length(self, port: int, targets: list[int]) -> float:
        stops = [port, *(self.num_ports + t for t in targets), port]
        return float(sum(self.length_m[a, b] for a, b in itertools.pairwise(stops)))

    def route_duration(self, port: int, targets: list[int]) -> float:
        return self.route_length(port, targets) / self.speed_mps + self.service_time_s * len(targets)

    def fits(self, length_m: float, duration_s: float) -> bool:
        return length_m <= self.usable_range_m + 1e-6 and (
            self.max_duration_s is None or duration_s <= self.max_duration_s + 1e-6)


def _route(problem: Problem, port: int, targets: list[int]) -> Route:
    return Route(port, targets, problem.route_length(port, targets),
                 problem.route_duration(port, targets))


def _problem_data(problem: Problem, extra_per_port: int = 0,
                  extra_cost: int = 0) -> pyvrp.ProblemData:
    """PyVRP's data: per port one vehicle type for its drones (no fixed cost) and, with
    ``extra_per_port``, one for extra flights that cost ``extra_cost`` each."""
    finite = np.isfinite(problem.length_m)
    # PyVRP wants integers: decimetres, so that rounding up every leg (which keeps the range
    # limit safe) doesn't add up to a worse plan than one measured in float metres
    distance = np.where(finite, np.ceil(problem.length_m * DM_PER_M), INT_INF).astype(np.int64)
    np.fill_diagonal(distance, 0)
    duration = np.where(finite, np.ceil(problem.length_m / problem.speed_mps),
                        INT_INF).astype(np.int64)
    np.fill_diagonal(duration, 0)
    locations = [pyvrp.Location(0, 0) for _ in range(distance.shape[0])]
    depots = [pyvrp.Depot(p) for p in range(problem.num_ports)]
    service = math.ceil(problem.service_time_s)
    clients = [pyvrp.Client(problem.num_ports + t, service_duration=service, required=True)
               for t in range(problem.num_targets)]
    max_distance = math.floor(problem.usable_range_m * DM_PER_M)
    shift = int(problem.max_duration_s) if problem.max_duration_s else INT_INF
    vehicle_types = [
        pyvrp.VehicleType(num_available=count, start_depot=p, end_depot=p,
                          max_distance=max_distance, shift_duration=shift, fixed_cost=cost,
                          name=f"port{p}{'-extra' if cost else ''}")
        for p, n in enumerate(problem.drones_per_port) if n > 0
        for count, cost in ((n, 0), (extra_per_port, extra_cost)) if count > 0
    ]
    return pyvrp.ProblemData(locations, clients, depots, vehicle_types, [distance], [duration])


def _pyvrp_routes(problem: Problem, data: pyvrp.ProblemData, solution) -> list[Route]:
    routes = []
    for route in solution.routes():
        port = data.vehicle_type(route.vehicle_type()).start_depot
        targets = [a.idx for a in route if a.is_client()]
        if targets:
            routes.append(_route(problem, int(port), targets))
    return routes


def _check(problem: Problem, routes: list[Route]) -> bool:
    visited = sorted(t for r in routes for t in r.targets)
    return visited == list(range(problem.num_targets)) and all(
        problem.fits(r.length_m, r.duration_s) for r in routes)


def _extra(problem: Problem, routes: list[Route]) -> int:
    used = [0] * problem.num_ports
    for r in routes:
        used[r.port] += 1
    return sum(max(0, u - n) for u, n in zip(used, problem.drones_per_port, strict=True))


def _solve(data: pyvrp.ProblemData, time_budget_s: float, seed: int):
    with warnings.catch_warnings():
        # PyVRP warns when its penalties max out (a fleet too small): handled below, not news
        warnings.simplefilter("ignore", UserWarning)
        return pyvrp.solve(data, MaxRuntime(time_budget_s), seed=seed, display=False)


def solve_routes(problem: Problem, *, time_budget_s: float = 5.0, seed: int = 0) -> RouteSolution:
    """Solve the multi-depot, distance-limited VRP with PyVRP within ``time_budget_s`` seconds.

    Returns a feasible solution: with one flight per drone when PyVRP finds one, else with as
    few extra flights as it can and ``extra_flights_needed`` set.
    """
    if problem.num_targets == 0:
        return RouteSolution([], "pyvrp", 0.0, True)
    started = time.monotonic()
    data = _problem_data(problem)
    result = _solve(data, time_budget_s, seed)
    stats = {"iterations": int(result.num_iterations), "fleet_feasible": bool(result.is_feasible())}
    if result.is_feasible():
        routes = _pyvrp_routes(problem, data, result.best)
        if _check(problem, routes):
            return RouteSolution(routes, "pyvrp", time.monotonic() - started, True, 0, stats)
    # The fleet is too small (or no feasible plan was found in time). The nearest-neighbour
    # plan bounds how many extra flights are needed; solve again with that many extra flights
    # allowed at every port, each costing a fixed penalty (the usable range) so that PyVRP adds
    # as few as it can. Whichever plan needs fewer extra flights (then: is shorter) is kept.
    greedy = nearest_neighbour_routes(problem)
    data = _problem_data(problem, extra_per_port=max(1, greedy.extra_flights_needed),
                         extra_cost=int(problem.usable_range_m * DM_PER_M))
    result = _solve(data, time_budget_s, seed)
    stats["iterations"] += int(result.num_iterations)
    routes = _pyvrp_routes(problem, data, result.best)
    if not (result.is_feasible() and _check(problem, routes)) or (
            (greedy.extra_flights_needed, greedy.total_length_m)
            < (_extra(problem, routes), sum(r.length_m for r in routes))):
        routes = greedy.routes
        stats["kept"] = "nearest-neighbour (better than PyVRP's plan within the time budget)"
    return RouteSolution(routes, "pyvrp", time.monotonic() - started, True,
                         _extra(problem, routes), stats)


def nearest_neighbour_routes(problem: Problem) -> RouteSolution:
    """Baseline: fly from a port to the nearest unvisited target that still lets the drone
    return within range, until none does; then the next drone (ports with idle drones first,
    then extra flights). Same constraints as :func:`solve_routes`."""
    started = time.monotonic()
    d = problem.length_m
    P = problem.num_ports
    remaining = set(range(problem.num_targets))
    flights = [0] * P
    routes: list[Route] = []
    ports = [p for p in range(P) if problem.drones_per_port[p] > 0]
    while remaining:
        rem = np.fromiter(remaining, dtype=np.int64)
        best = None
        for p in ports:
            round_trip = d[p, P + rem] + d[P + rem, p]
            ok = round_trip <= problem.usable_range_m
            if problem.max_duration_s is not None:
                ok &= round_trip / problem.speed_mps + problem.service_time_s <= problem.max_duration_s
            if not ok.any():
                continue
            nearest = float(np.min(np.where(ok, d[p, P + rem], np.inf)))
            idle = flights[p] < problem.drones_per_port[p]
            key = (not idle, nearest)
            if best is None or key < best[0]:
                best = (key, p)
        if best is None:
            raise ValueError("a remaining target cannot be reached from any port within range")
        port = best[1]
        current, flown, seconds, order = port, 0.0, 0.0, []
        while True:
            rem = np.fromiter(remaining, dtype=np.int64)
            if not len(rem):
                break
            to_t = d[current, P + rem]
            back = d[P + rem, port]
            total = flown + to_t + back
            ok = total <= problem.usable_range_m
            if problem.max_duration_s is not None:
                ok &= (total / problem.speed_mps + seconds + problem.service_time_s
                       <= problem.max_duration_s)
            if not ok.any():
                break
            k = int(np.argmin(np.where(ok, to_t, np.inf)))
            t = int(rem[k])
            flown += float(to_t[k])
            seconds += problem.service_time_s
            order.append(t)
            remaining.discard(t)
            current = P + t
        flights[port] += 1
        routes.append(_route(problem, port, order))
    return RouteSolution(routes, "nearest-neighbour", time.monotonic() - started, True,
                         _extra(problem, routes))
