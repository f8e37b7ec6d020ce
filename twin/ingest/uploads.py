"""Uploaded source files: stored under MEDIA_ROOT/imports/ and handed to an import job."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from twin.jobs import JOB_KINDS, JobParameterError, submit_job

IMPORT_PREFIX = "import_"


class UploadTooLarge(JobParameterError):
    """The upload exceeds ``IMPORT_MAX_UPLOAD_MB``."""


def import_kinds() -> dict[str, str]:
    """The sources an upload can be imported from (``osm``, ``prices`` …) and their job kinds:
    every registered kind named ``<app>.import_<source>``."""
    kinds = {}
    for kind in JOB_KINDS:
        action = kind.partition(".")[2]
        if action.startswith(IMPORT_PREFIX):
            kinds[action.removeprefix(IMPORT_PREFIX)] = kind
    return kinds


def import_sources() -> list[str]:
    """The sources an upload can be imported from (``osm``, ``layer``, ``prices`` …)."""
    return sorted(import_kinds())


def store_upload(upload: UploadedFile) -> Path:
    """Write an upload to its own folder under MEDIA_ROOT/imports/ and return its path."""
    limit_mb = settings.IMPORT_MAX_UPLOAD_MB
    if upload.size > limit_mb * 1024 * 1024:
        raise UploadTooLarge(f"file is {upload.size / 1048576:.0f} MB; the limit is {limit_mb} MB")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.name or "upload").name).lstrip(".") or "upload"
    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / name
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def submit_import(upload: UploadedFile, source: str, *, user=None, region: str = "",
                  strict: bool = False, options: dict | None = None):
    """Store ``upload`` and queue the import job for ``source``; return the :class:`Job`."""
    kind = import_kinds().get(source)
    if kind is None:
        raise JobParameterError(f"unknown source {source!r}; choose from {', '.join(import_sources())}")
    path = store_upload(upload)
    parameters = {**(options or {}), "path": str(path), "region": region, "strict": strict}
    return submit_job(kind, parameters, user=user)
