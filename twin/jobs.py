"""Background jobs: a registry of job kinds, how to submit one, and how a worker runs it.

A job kind is a plain function ``fn(parameters: dict, progress: Progress) -> dict``. Each app
lists its kinds in its ``job_kinds.py`` (one table, registered with :func:`register_job_kinds`
when the app is ready; ``twin`` never imports the other apps). One Celery task, :func:`run_job`
below, runs any kind in a worker:

* the row goes ``queued → running → succeeded | failed | cancelled``; the function reports
  progress (0–1) and a message, which also serves as the worker's heartbeat;
* tasks are acknowledged late and re-queued when a worker process dies
  (``task_acks_late`` + ``task_reject_on_worker_lost``); when a whole worker vanishes,
  :func:`reap_lost_jobs` (run by Celery beat) finds jobs whose heartbeat went silent and starts
  them again, up to ``JOB_MAX_ATTEMPTS``, then marks them failed — no job stays "running" forever;
* each message carries the attempt it belongs to, so a late duplicate of an old attempt is ignored.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from twin.models import Job, JobStatus

logger = logging.getLogger(__name__)

JobFunction = Callable[[dict, "Progress"], dict]
JOB_KINDS: dict[str, JobFunction] = {}
# Former names of renamed kinds (``twin.import_prices`` is now ``markets.import_prices``).
# A former name is accepted wherever a kind is given, and stored under the current name.
JOB_KIND_ALIASES: dict[str, str] = {}


class JobCancelled(Exception):
    """Raised inside a running job when an operator cancelled it."""


class JobParameterError(ValueError):
    """The job's input is unusable; the job fails with this message (no traceback) and, when
    ``result`` is set, keeps it as the job's result (e.g. an import's row-by-row report)."""

    result: dict | None = None


def check_parameters(parameters: dict, *, allowed: Iterable[str], required: Iterable[str] = (),
                     error: type[JobParameterError] = JobParameterError) -> None:
    """Refuse unknown parameters (typos fail loudly) and missing required ones (``None``, empty
    string, list or object), raising ``error`` with a message that lists what is allowed."""
    allowed = set(allowed) | set(required)
    unknown = sorted(set(parameters) - allowed)
    if unknown:
        raise error(f"unknown parameter(s) {', '.join(unknown)}; "
                    f"allowed: {', '.join(sorted(allowed))}")
    missing = [name for name in required if parameters.get(name) in (None, "", [], {})]
    if missing:
        raise error(f"missing parameter(s): {', '.join(missing)}")


def register_job_kinds(kinds: dict[str, JobFunction], *, aliases: dict[str, str] | None = None) -> None:
    """Register each ``name: fn`` of ``kinds``, and ``aliases`` (old name → registered name).

    Called once per app from its ``job_kinds.py``; a name registered twice is a programming error.
    """
    for name, fn in kinds.items():
        if JOB_KINDS.get(name, fn) is not fn:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_KINDS[name] = fn
    for old, new in (aliases or {}).items():
        if new not in kinds:
            raise ValueError(f"alias {old!r} names {new!r}, which is not among these kinds")
        JOB_KIND_ALIASES[old] = new


def canonical_kind(name: str) -> str:
    """The registered name of job kind ``name`` (itself, or what an old alias now names)."""
    return JOB_KIND_ALIASES.get(name, name)


@dataclass
class Progress:
    """Progress reporter handed to a job function; writes at most every ``min_interval_s``."""

    job_id: int
    min_interval_s: float = 0.5
    _last_write: float = field(default=0.0, repr=False)

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last_write < self.min_interval_s and fraction < 1:
            return
        self._last_write = now
        fields = {"progress": min(1.0, max(0.0, float(fraction))), "heartbeat_at": timezone.now()}
        if message:
            fields["message"] = message[:500]
        updated = Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(**fields)
        if not updated:
            raise JobCancelled(f"job {self.job_id} is no longer running")


def submit_job(kind: str, parameters: dict | None = None, *, user=None) -> Job:
    """Create a queued :class:`Job` and send it to the workers once the transaction commits."""
    kind = canonical_kind(kind)
    if kind not in JOB_KINDS:
        raise JobParameterError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
    job = Job.objects.create(
        kind=kind, parameters=parameters or {}, created_by=user if user and user.pk else None,
        message="queued",
    )
    _enqueue(job)
    return job


def _enqueue(job: Job) -> None:
    job_id, attempt = job.pk, job.attempts + 1
    transaction.on_commit(lambda: run_job.delay(job_id, attempt))


def execute_job(job_id: int, attempt: int) -> str:
    """Run attempt ``attempt`` of job ``job_id`` in this process; return the final status."""
    claimed = Job.objects.filter(
        pk=job_id, status=JobStatus.QUEUED, attempts=attempt - 1
    ).update(
        status=JobStatus.RUNNING, attempts=attempt, started_at=timezone.now(),
        heartbeat_at=timezone.now(), progress=0.0, message="started", error="",
    )
    if not claimed:
        job = Job.objects.filter(pk=job_id).first()
        logger.info("job %s attempt %s not claimed (now %s)", job_id, attempt,
                    job and f"{job.status}, attempt {job.attempts}")
        return job.status if job else "missing"
    job = Job.objects.get(pk=job_id)
    fn = JOB_KINDS.get(canonical_kind(job.kind))
    try:
        if fn is None:
            raise JobParameterError(f"unknown job kind {job.kind!r}")
        result = fn(dict(job.parameters), Progress(job_id))
    except JobCancelled:
        return _finish(job_id, JobStatus.CANCELLED, message="cancelled")
    except Exception as exc:  # a job must never end silently: record what went wrong
        logger.exception("job %s (%s) failed", job_id, job.kind)
        expected = isinstance(exc, JobParameterError)
        detail = "" if expected else "\n" + traceback.format_exc(limit=8)
        return _finish(job_id, JobStatus.FAILED, message="failed",
                       error=f"{type(exc).__name__}: {exc}{detail}",
                       result=exc.result if expected else None)
    return _finish(job_id, JobStatus.SUCCEEDED, message="done", result=result, progress=1.0)


# Named as it was when it lived in twin/tasks.py, so queued messages keep their task.
@shared_task(name="twin.tasks.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int, attempt: int = 1) -> str:
    """Celery task: run one attempt of a :class:`twin.models.Job` (any registered kind)."""
    return execute_job(job_id, attempt)


def _finish(job_id: int, status: str, **fields) -> str:
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )
    return status


def cancel_job(job: Job) -> bool:
    """Cancel a queued or running job; a running one stops at its next progress report."""
    updated = Job.objects.filter(
        pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.CANCELLED, finished_at=timezone.now(), message="cancelled")
    return bool(updated)


def reap_lost_jobs(*, timeout_s: int | None = None, max_attempts: int | None = None) -> dict:
    """Restart or fail running jobs whose heartbeat is older than ``timeout_s``.

    Returns ``{"requeued": [ids], "failed": [ids]}``.
    """
    timeout_s = settings.JOB_HEARTBEAT_TIMEOUT_S if timeout_s is None else timeout_s
    max_attempts = settings.JOB_MAX_ATTEMPTS if max_attempts is None else max_attempts
    cutoff = timezone.now() - timedelta(seconds=timeout_s)
    report: dict[str, list[int]] = {"requeued": [], "failed": []}
    for job in Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff):
        silent = f"worker lost: no heartbeat since {job.heartbeat_at.isoformat()}"
        with transaction.atomic():
            if job.attempts < max_attempts:
                if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING,
                                      attempts=job.attempts).update(
                    status=JobStatus.QUEUED, message=f"re-queued ({silent})", progress=0.0
                ):
                    _enqueue(job)
                    report["requeued"].append(job.pk)
            elif Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.FAILED, finished_at=timezone.now(), message="failed",
                error=f"{silent}; gave up after {job.attempts} attempt(s)",
            ):
                report["failed"].append(job.pk)
    if report["requeued"] or report["failed"]:
        logger.warning("reaped lost jobs: %s", report)
    return report
