"""The markets app's job kinds: each name and the function a worker runs for it.

Until the markets app had a home of its own these kinds were named ``twin.*``; the old names
stay accepted (``JOB_KIND_ALIASES``) so that scripts and queued jobs keep working.
"""

from __future__ import annotations

from markets.services import carbon, forward, nodes, opf, overlays, prices
from twin.jobs import JobFunction, register_job_kinds

JOB_KINDS: dict[str, JobFunction] = {
    "markets.import_nodes": nodes.import_nodes_job,
    "markets.import_prices": prices.import_prices_job,
    "markets.import_carbon": carbon.import_carbon_job,
    "markets.compute_lmps": opf.compute_lmps_job,
    "markets.build_forward_curve": forward.build_forward_curve_job,
    "markets.build_price_overlay": overlays.build_price_overlay_job,
}
FORMER_NAMES = {f"twin.{name.removeprefix('markets.')}": name for name in JOB_KINDS}


def register() -> None:
    """Register the markets app's job kinds and their former ``twin.*`` names."""
    register_job_kinds(JOB_KINDS, aliases=FORMER_NAMES)
