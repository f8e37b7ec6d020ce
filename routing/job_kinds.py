"""The routing app's job kinds: each name and the function a worker runs for it.

* ``routing.build_flight_graph`` — ``{"region": name, "corridor_weight"?: float, ...}``;
* ``routing.plan_flights`` — see :func:`routing.services.planning.plan_flights_job`.

The services are imported when a job runs, not when Django starts (osmnx and PyVRP are slow to
import, and only workers need them).
"""

from __future__ import annotations

from twin.jobs import JobFunction, Progress, register_job_kinds


def build_flight_graph_job(parameters: dict, progress: Progress) -> dict:
    """Build (or reuse the cached) flight graph of a region."""
    from routing.services.graph import build_flight_graph_job as run

    return run(parameters, progress)


def plan_flights_job(parameters: dict, progress: Progress) -> dict:
    """Plan flights over a region's cached graph and store the plan."""
    from routing.services.planning import plan_flights_job as run

    return run(parameters, progress)


JOB_KINDS: dict[str, JobFunction] = {
    "routing.build_flight_graph": build_flight_graph_job,
    "routing.plan_flights": plan_flights_job,
}


def register() -> None:
    """Register the routing app's job kinds."""
    register_job_kinds(JOB_KINDS)
