"""Celery tasks of the twin. The task that runs every job, :func:`twin.jobs.run_job`, lives
beside the runner; this module holds the periodic ones (Celery beat)."""

from celery import shared_task

from twin import jobs


@shared_task
def reap_lost_jobs() -> dict:
    """Periodic (Celery beat): restart or fail jobs whose worker went silent."""
    return jobs.reap_lost_jobs()
