"""The twin's job kinds: each name and the function a worker runs for it.

A job function takes ``(parameters: dict, progress)`` and returns a JSON-able summary; it lives
beside the service it calls. Registered when the app is ready (:class:`twin.apps.TwinConfig`).
"""

from __future__ import annotations

from twin.ingest import afdc, gridkit, layers, osm, pandapower
from twin.jobs import JobFunction, register_job_kinds
from twin.services import diagnostics, quality

JOB_KINDS: dict[str, JobFunction] = {
    "system.probe": diagnostics.probe_worker,
    "twin.check": quality.check_twin,
    "twin.import_osm": osm.import_osm_job,
    "twin.import_layer": layers.import_layer_job,
    "twin.import_afdc": afdc.import_afdc_job,
    "twin.import_gridkit": gridkit.import_gridkit_job,
    "twin.import_pandapower": pandapower.import_pandapower_job,
}


def register() -> None:
    """Register the twin's job kinds."""
    register_job_kinds(JOB_KINDS)
