"""Worker diagnostics: proves the whole job pipeline (broker, worker, database) end to end."""

from __future__ import annotations

import platform
import socket
import time

from django.contrib.gis import gdal, geos
from django.db import connection

from twin.jobs import JobParameterError, Progress

MAX_HOLD_S = 600


def probe_worker(parameters: dict, progress: Progress) -> dict:
    """Report the worker's host, library versions and database, optionally holding a while.

    Parameters: ``hold_s`` (0–600, default 0) keeps the job running with a heartbeat every
    second — operators use it to watch a worker pick up, report and finish a job.
    """
    try:
        hold_s = float(parameters.get("hold_s", 0))
    except (TypeError, ValueError) as exc:
        raise JobParameterError("hold_s must be a number of seconds") from exc
    if not 0 <= hold_s <= MAX_HOLD_S:
        raise JobParameterError(f"hold_s must be within 0..{MAX_HOLD_S}")
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < hold_s:
        progress(elapsed / hold_s, f"holding {elapsed:.0f} of {hold_s:.0f} s")
        time.sleep(min(1.0, hold_s - elapsed))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT postgis_full_version()")
        else:
            cursor.execute("SELECT spatialite_version()")
        spatial = cursor.fetchone()[0]
    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "database": connection.vendor,
        "spatial": spatial[:200],
        "gdal": gdal.gdal_version().decode(),
        "geos": geos.geos_version().decode(),
        "held_s": round(time.monotonic() - started, 2),
    }
