"""The routing job kinds on a real Celery worker: graph build and plan through the jobs API."""

from __future__ import annotations

import pytest

from routing.models import Flight, FlightPlan
from tests.conftest import REPO
from tests.twin.test_jobs import finished, wait_for
from twin.ingest.osm import import_osm

pytestmark = [pytest.mark.worker]
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"


def test_build_graph_then_plan_on_a_worker(start_worker, operator_client, settings, tmp_path):
    settings.ROUTING_GRAPH_DIR = str(tmp_path)  # the worker reads the path stored on the row
    import_osm(DEMO, region_name="liechtenstein")
    start_worker()
    plan_request = {"kind": "routing.plan_flights", "parameters": {
        "region": "liechtenstein", "targets": {"kind": "substations"},
        "drone": {"range_m": 30_000}, "drones": 2, "ports": "substations",
        "options": {"time_budget_s": 1}}}
    # no graph yet: the job fails with a clear message and leaves no plan
    job = operator_client.post("/api/v1/jobs/", plan_request, format="json").json()
    final = wait_for(job["id"], operator_client, finished, timeout_s=120)[-1]
    assert final["status"] == "failed" and "no flight graph yet" in final["error"]
    assert not FlightPlan.objects.exists()

    r = operator_client.post("/api/v1/jobs/", {"kind": "routing.build_flight_graph",
                                               "parameters": {"region": "liechtenstein"}},
                             format="json")
    assert r.status_code == 202, r.content
    final = wait_for(r.json()["id"], operator_client, finished, timeout_s=180)[-1]
    assert final["status"] == "succeeded", final
    assert final["result"]["nodes"] > 9000 and final["result"]["crs"] == "EPSG:32632"

    r = operator_client.post("/api/v1/jobs/", plan_request, format="json")
    assert r.status_code == 202, r.content
    seen = wait_for(r.json()["id"], operator_client, finished, timeout_s=180)
    final = seen[-1]
    assert final["status"] == "succeeded", final
    plan = FlightPlan.objects.get(pk=final["result"]["plan"])
    assert plan.job_id == final["id"] and plan.created_by.username == "olga-operator"
    flights = Flight.objects.filter(plan=plan)
    visited = [t for f in flights for t in f.targets]
    assert len(visited) + len(plan.skipped) == 5 and visited
    assert final["result"]["total_length_m"] == pytest.approx(sum(f.length_m for f in flights))

    bad = dict(plan_request, parameters={**plan_request["parameters"], "drone": {"range_m": -1}})
    final = wait_for(operator_client.post("/api/v1/jobs/", bad, format="json").json()["id"],
                     operator_client, finished, timeout_s=120)[-1]
    assert final["status"] == "failed" and "range_m must be a number greater than 0" in final["error"]
    assert FlightPlan.objects.count() == 1
