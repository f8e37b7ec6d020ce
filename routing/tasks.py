"""Job kinds of the routing app, run by :func:`twin.tasks.run_job` in a Celery worker.

* ``routing.build_flight_graph`` — ``{"region": name, "corridor_weight"?: float, ...}``;
* ``routing.plan_flights`` — see :func:`routing.services.planning.plan_flights_job`.

They are thin: read the parameters, call a service, return its JSON summary.
"""

from __future__ import annotations

from twin.jobs import Progress, job_kind


@job_kind("routing.build_flight_graph")
def build_flight_graph_job(parameters: dict, progress: Progress) -> dict:
    """Build (or reuse the cached) flight graph of a region."""
    from routing.services.graph import build_flight_graph_job as run

    return run(parameters, progress)


@job_kind("routing.plan_flights")
def plan_flights_job(parameters: dict, progress: Progress) -> dict:
    """Plan flights over a region's cached graph and store the plan."""
    from routing.services.planning import plan_flights_job as run

    return run(parameters, progress)
