"""Jobs on a real Celery worker: progress, success, failure, cancellation, and a killed worker."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from twin.jobs import reap_lost_jobs
from twin.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.embedded]


def wait_for(job_id: int, client: APIClient, done, timeout_s: float = 60) -> list[dict]:
    """Poll GET /api/v1/jobs/{id}/ until ``done(body)``; return every body seen."""
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/jobs/{job_id}/")
        assert r.status_code == 200, r.content
        seen.append(r.json())
        if done(seen[-1]):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there in {timeout_s}s: last {seen[-1:]}")


def finished(body: dict) -> bool:
    return body["status"] in ("succeeded", "failed", "cancelled")


def test_job_runs_with_progress_on_a_worker(start_worker, operator_client):
    start_worker()
    r = operator_client.post("/api/v1/jobs/", {"kind": "system.probe",
                                               "parameters": {"hold_s": 3}}, format="json")
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "queued"
    seen = wait_for(r.json()["id"], operator_client, finished)
    statuses = [b["status"] for b in seen]
    assert statuses[0] == "queued" and "running" in statuses
    assert any(b["status"] == "running" and 0 < b["progress"] < 1 for b in seen)
    progress = [b["progress"] for b in seen]
    assert progress == sorted(progress)
    final = seen[-1]
    assert final["status"] == "succeeded", final
    assert final["progress"] == 1.0 and final["attempts"] == 1
    assert final["result"]["database"] in ("postgresql", "sqlite")
    assert final["result"]["held_s"] >= 3
    assert final["created_by"] == "olga-operator" and final["finished_at"]


def test_check_job_reports_on_real_data(start_worker, twin_data, operator_client):
    start_worker()
    job_id = operator_client.post("/api/v1/jobs/", {"kind": "twin.check"},
                                  format="json").json()["id"]
    final = wait_for(job_id, operator_client, finished)[-1]
    assert final["status"] == "succeeded", final
    report = final["result"]
    assert report["line"]["count"] == 15 and report["support"]["count"] == 186
    assert report["line"]["invalid_geometry"]["count"] == 0
    # OSM tags a voltage on only 1 of the 15 lines, and no topology is built yet.
    assert report["line"]["no_voltage"]["count"] == 14
    assert report["line"]["no_substation_at_either_end"]["count"] == 15
    assert report["charger"]["no_connector"]["count"] == 0


def test_failing_job_ends_failed_with_its_error(start_worker, operator_client):
    start_worker()
    job_id = operator_client.post("/api/v1/jobs/", {
        "kind": "twin.check", "parameters": {"kinds": ["line", "pylon"]}}, format="json"
    ).json()["id"]
    final = wait_for(job_id, operator_client, finished)[-1]
    assert final["status"] == "failed"
    assert "unknown kinds ['pylon']" in final["error"] and final["finished_at"]


def test_cancel_a_running_job(start_worker, operator_client):
    start_worker()
    job_id = operator_client.post("/api/v1/jobs/", {"kind": "system.probe",
                                                    "parameters": {"hold_s": 30}},
                                  format="json").json()["id"]
    wait_for(job_id, operator_client, lambda b: b["status"] == "running" and b["progress"] > 0)
    r = operator_client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    time.sleep(2)  # the worker notices at its next heartbeat and stops
    job = Job.objects.get(pk=job_id)
    assert job.status == "cancelled" and job.result is None
    assert operator_client.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 409


def test_killed_worker_does_not_leave_a_job_running(start_worker, operator_client):
    """Kill -9 the worker mid-job: the reaper re-queues it, a new worker finishes it; killed
    again on its last attempt, the job ends failed with the reason — never 'running' forever."""
    first = start_worker()
    job_id = operator_client.post("/api/v1/jobs/", {"kind": "system.probe",
                                                    "parameters": {"hold_s": 6}},
                                  format="json").json()["id"]
    wait_for(job_id, operator_client, lambda b: b["status"] == "running" and b["progress"] > 0)
    first.kill()
    time.sleep(2.5)
    assert Job.objects.get(pk=job_id).status == "running"  # nobody will report on it any more
    assert reap_lost_jobs(timeout_s=2, max_attempts=2) == {"requeued": [job_id], "failed": []}
    assert Job.objects.get(pk=job_id).status == "queued"

    second = start_worker()
    seen = wait_for(job_id, operator_client,
                    lambda b: b["status"] == "running" and b["attempts"] == 2 and b["progress"] > 0)
    assert seen[-1]["attempts"] == 2
    second.kill()
    time.sleep(2.5)
    assert reap_lost_jobs(timeout_s=2, max_attempts=2) == {"requeued": [], "failed": [job_id]}
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "worker lost" in job.error and "2 attempt(s)" in job.error

    # A fresh worker finishes a re-submitted job; the dead attempts' messages do not revive it.
    third = start_worker()
    retry_id = operator_client.post("/api/v1/jobs/", {"kind": "system.probe"},
                                    format="json").json()["id"]
    assert wait_for(retry_id, operator_client, finished)[-1]["status"] == "succeeded"
    assert Job.objects.get(pk=job_id).status == "failed"
    third.stop()


def test_job_list_pages(operator_client, crew_client, operator):
    for kind in ("system.probe", "twin.check", "system.probe"):
        Job.objects.create(kind=kind, created_by=operator)
    body = operator_client.get("/api/v1/jobs/?page_size=2&ordering=id").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert [j["kind"] for j in body["results"]] == ["system.probe", "twin.check"]
    running = operator_client.get("/api/v1/jobs/?status=queued&kind=twin.check").json()
    assert running["count"] == 1
    assert crew_client.get("/api/v1/jobs/").json()["count"] == 0  # crews see their own jobs
    assert operator_client.get("/api/v1/markets/").json()["count"] == 0


def test_job_bad_input(operator_client, crew_client):
    r = operator_client.post("/api/v1/jobs/", {"kind": "no.such.kind"}, format="json")
    assert r.status_code == 400 and "kind" in r.json()["errors"]
    r = operator_client.post("/api/v1/jobs/", {"kind": "system.probe", "parameters": [1]},
                             format="json")
    assert r.status_code == 400 and "parameters" in r.json()["message"]
    # field crews read jobs but do not start them
    assert crew_client.post("/api/v1/jobs/", {"kind": "system.probe"},
                            format="json").status_code == 403
    assert Job.objects.count() == 0
