"""The OpenAPI schema's tags: one per part of the product, assigned by URL path in one place.

drf-spectacular would tag every operation ``v1`` (the first path segment after ``/api/``).
:data:`TAGS` declares the tags the API documentation groups operations by, each with a
description, and :func:`tag_by_path` (a postprocessing hook, see ``SPECTACULAR_SETTINGS``)
gives every operation exactly one of them from the first matching prefix of
:data:`PATH_TAGS`; paths that match none belong to the twin.
"""

from __future__ import annotations

TAGS: list[dict[str, str]] = [
    {"name": "twin", "description": "The grid itself: substations, lines, supports (towers and "
     "poles), EV chargers with their EVSEs and connectors, regions, and exports as GIS files. "
     "Geographic resources are GeoJSON with bbox and near/radius_m filters."},
    {"name": "markets", "description": "Markets, pricing nodes, nodal prices and carbon "
     "intensity, price overlays (points, service areas, interpolated surfaces), prices "
     "computed from the twin's network (OPF) and forward curves."},
    {"name": "routing", "description": "Drone inspection flights: no-fly zones, drones, drone "
     "ports, the regions' flight graphs, and flight plans with their exports (QGroundControl, "
     "KML, GeoJSON)."},
    {"name": "jobs", "description": "Background jobs: submit one, poll its status and progress, "
     "cancel it; upload a file to import as a job."},
    {"name": "auth", "description": "Obtain an API token from a user name and password."},
]

#: (path prefix, tag), first match wins; everything else is tagged ``twin``.
PATH_TAGS: list[tuple[str, str]] = [
    ("/api/v1/auth/", "auth"),
    ("/api/v1/jobs/", "jobs"),
    ("/api/v1/imports/", "jobs"),
    ("/api/v1/markets/", "markets"),
    ("/api/v1/pricing-nodes/", "markets"),
    ("/api/v1/prices/", "markets"),
    ("/api/v1/carbon/", "markets"),
    ("/api/v1/overlays/", "markets"),
    ("/api/v1/computed-prices/", "markets"),
    ("/api/v1/forward-curves/", "markets"),
    ("/api/v1/no-fly-zones/", "routing"),
    ("/api/v1/drones/", "routing"),
    ("/api/v1/drone-ports/", "routing"),
    ("/api/v1/flight-graphs/", "routing"),
    ("/api/v1/flight-plans/", "routing"),
]
DEFAULT_TAG = "twin"


def tag_for_path(path: str) -> str:
    """The tag of an API path (``/api/v1/prices/at/`` → ``markets``)."""
    return next((tag for prefix, tag in PATH_TAGS if path.startswith(prefix)), DEFAULT_TAG)


def tag_by_path(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: replace each operation's tags by its path's tag."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["tags"] = [tag_for_path(path)]
    return result
