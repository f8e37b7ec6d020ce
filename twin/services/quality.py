"""Data-quality checks over the twin: what an operator must fix before planning on the data."""

from __future__ import annotations

from django.db.models import Count, Q

from twin.jobs import JobParameterError, Progress
from twin.models import Charger, Line, Substation, Support

CHECKED_KINDS = {
    "substation": (Substation, "location"),
    "line": (Line, "geometry"),
    "support": (Support, "location"),
    "charger": (Charger, "location"),
}
BATCH_SIZE = 2000


def invalid_geometries(model, geometry_field: str, progress=None, share=(0.0, 1.0)) -> list[dict]:
    """Rows of ``model`` whose geometry is invalid or empty, with the reason GEOS gives."""
    found = []
    ids = list(model.objects.order_by("pk").values_list("pk", flat=True))
    start, width = share
    for i in range(0, len(ids), BATCH_SIZE):
        rows = model.objects.filter(pk__in=ids[i : i + BATCH_SIZE]).only("pk", geometry_field)
        for row in rows:
            geom = getattr(row, geometry_field)
            if geom is None or geom.empty or not geom.valid:
                found.append({"id": row.pk, "reason": geom.valid_reason if geom else "missing"})
        if progress:
            progress(start + width * min(1.0, (i + BATCH_SIZE) / max(1, len(ids))),
                     f"checked {min(len(ids), i + BATCH_SIZE)} of {len(ids)} {model._meta.verbose_name}")
    return found


def check_twin(parameters: dict, progress: Progress) -> dict:
    """Report data-quality problems per asset kind.

    Parameters (all optional): ``kinds`` — a list out of substation, line, support, charger.
    Returns counts and up to 100 example ids per problem.
    """
    kinds = parameters.get("kinds") or list(CHECKED_KINDS)
    unknown = sorted(set(kinds) - set(CHECKED_KINDS))
    if unknown:
        raise JobParameterError(
            f"unknown kinds {unknown}; choose from {', '.join(CHECKED_KINDS)}"
        )
    report: dict = {}
    for n, kind in enumerate(kinds):
        model, geometry_field = CHECKED_KINDS[kind]
        share = (n / len(kinds), 1 / len(kinds))
        invalid = invalid_geometries(model, geometry_field, progress, share)
        entry = {"count": model.objects.count(), "invalid_geometry": _summary(invalid)}
        if kind == "line":
            entry["no_substation_at_either_end"] = _summary(
                Line.objects.filter(from_substation__isnull=True, to_substation__isnull=True)
            )
            entry["no_voltage"] = _summary(Line.objects.filter(voltage_kv__isnull=True))
        elif kind == "support":
            entry["carries_no_line"] = _summary(
                Support.objects.annotate(n=Count("lines")).filter(n=0)
            )
        elif kind == "charger":
            entry["no_connector"] = _summary(
                Charger.objects.annotate(n=Count("evses__connectors")).filter(n=0)
            )
        entry["never_assessed"] = _summary(
            model.objects.filter(Q(condition_score__isnull=True))
        )
        report[kind] = entry
    return report


def _summary(rows) -> dict:
    if isinstance(rows, list):
        return {"count": len(rows), "examples": rows[:100]}
    return {"count": rows.count(), "examples": list(rows.values_list("pk", flat=True)[:100])}
