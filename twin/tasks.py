"""Celery tasks of the twin: thin wrappers around :mod:`twin.jobs`."""

from celery import shared_task

from twin import jobs


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int, attempt: int = 1) -> str:
    """Run one attempt of a :class:`twin.models.Job` (any registered kind)."""
    return jobs.execute_job(job_id, attempt)


@shared_task
def reap_lost_jobs() -> dict:
    """Periodic (Celery beat): restart or fail jobs whose worker went silent."""
    return jobs.reap_lost_jobs()
