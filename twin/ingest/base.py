"""What every importer shares: validation of rows, idempotent upserts by ``source_id``, marking
vanished assets, atomic writes, and one report format.

An importer turns its file into *records* — dicts of model field values with a ``source_id`` —
and hands them to :func:`sync_records` inside :func:`import_transaction`. Re-importing the same
file changes nothing; a newer file updates what changed and marks what vanished (never deleting
an asset that may carry inspection history). A row that cannot be stored is skipped with its
reason; under ``strict`` any skipped row or warning rolls the whole import back.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from twin.ingest.osm_tags import MAX_VOLTAGE_KV, parse_voltages_kv
from twin.jobs import JobParameterError
from twin.models import EVSE, Charger, Connector, Line, Region, Substation, Support
from twin.services.geometry import GeometryError, check_geometry

OUTCOMES = ("created", "updated", "unchanged", "skipped", "vanished", "restored")
# The geometry fields of each asset model and the GEOS types they accept.
GEOMETRY_RULES = {
    Substation: {"location": ("Point",), "footprint": ("MultiPolygon",)},
    Line: {"geometry": Line.GEOMETRY_TYPES},
    Support: {"location": ("Point",)},
    Charger: {"location": ("Point",)},
}
CONNECTOR_FIELDS = ("standard", "power_type", "power_kw", "voltage_v", "current_a")


class ImportFailed(JobParameterError):
    """The import was refused or rolled back; ``report`` says why, row by row where it can."""

    def __init__(self, message: str, report: ImportReport | None = None):
        super().__init__(message)
        self.report = report
        self.result = report.as_dict() if report is not None else None


@dataclass
class ImportReport:
    """Counts per kind and outcome, skipped rows with their reasons, and warnings."""

    source: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(
        lambda: dict.fromkeys(OUTCOMES, 0)))
    skipped: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def skip(self, kind: str, ref: str, reason: str) -> None:
        self.counts[kind]["skipped"] += 1
        self.skipped.append({"kind": kind, "row": ref, "reason": reason})

    def warn(self, kind: str, ref: str, message: str) -> None:
        self.warnings.append({"kind": kind, "row": ref, "message": message})

    def as_dict(self) -> dict:
        return {"source": self.source, "counts": {k: dict(v) for k, v in self.counts.items()},
                "skipped": self.skipped, "warnings": self.warnings, **self.extra}


@contextlib.contextmanager
def import_transaction(report: ImportReport, *, strict: bool) -> Iterator[ImportReport]:
    """One atomic import: rolled back on any error, and under ``strict`` on any skip or warning."""
    with transaction.atomic():
        yield report
        if strict and (report.skipped or report.warnings):
            problems = [f"{r['row']}: {r['reason']}" for r in report.skipped] + [
                f"{w['row']}: {w['message']}" for w in report.warnings]
            raise ImportFailed(
                f"strict import rolled back: {len(problems)} problem(s), first: {problems[0]}",
                report,
            )


def clean_geometry(geometry: GEOSGeometry, allowed: tuple[str, ...], *, kind: str, ref: str,
                   report: ImportReport) -> GEOSGeometry | None:
    """Validate a geometry for storage; repair invalid polygons with make_valid (and say so).

    Returns ``None`` (and records the skip) when it cannot be stored.
    """
    try:
        return check_geometry(geometry, allowed)
    except GeometryError as exc:
        reason = str(exc)
        if reason.startswith("invalid geometry") and geometry.geom_type in ("Polygon",
                                                                           "MultiPolygon"):
            repaired = geometry.make_valid()
            polygons = [g for g in (repaired if repaired.geom_type in ("GeometryCollection",
                                    "MultiPolygon") else [repaired]) if g.geom_type == "Polygon"]
            if polygons:
                with contextlib.suppress(GeometryError):
                    fixed = check_geometry(MultiPolygon(*polygons, srid=4326), allowed)
                    report.warn(kind, ref, f"{reason}; repaired with make_valid")
                    return fixed
        report.skip(kind, ref, reason)
        return None


def validate_record(model: type[Model], record: dict, *, kind: str, report: ImportReport,
                    ref: str) -> bool:
    """Check field values against the model's validators and choices; record a skip if not."""
    obj = model(**{k: v for k, v in record.items() if not k.startswith("_")})
    try:
        obj.full_clean(validate_unique=False, validate_constraints=False,
                       exclude=[f.name for f in model._meta.fields if f.name not in record])
    except ValidationError as exc:
        reason = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())
        report.skip(kind, ref, reason)
        return False
    return True


def valid_records(model: type[Model], records: Iterable[dict], *, kind: str,
                  report: ImportReport, region: Region | None = None,
                  resolve: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """The records that can be stored, cleaned; the others are skipped in ``report``.

    Geometries are checked (invalid polygons repaired and reported), a missing ``location``
    is taken on the ``footprint``, ``resolve`` may turn references into rows, ``region`` is set
    when given, and field values are checked against the model's validators. Private ``_keys``
    are dropped and foreign keys are given by id (``region_id`` …), so neither the validation
    nor :func:`sync_records` runs a query per row.
    """
    foreign_keys = {f.name: f.attname for f in model._meta.fields if f.is_relation}
    for record in records:
        ref, ok = record["source_id"], True
        for name, allowed in GEOMETRY_RULES[model].items():
            if record.get(name) is not None:
                record[name] = clean_geometry(record[name], allowed, kind=kind, ref=ref,
                                              report=report)
                ok = ok and record[name] is not None
        if not ok:
            continue
        if record.get("location", "") is None and record.get("footprint") is not None:
            record["location"] = record["footprint"].point_on_surface
        if resolve is not None:
            resolve(record)
        clean = {k: v for k, v in record.items() if not k.startswith("_")}
        if region is not None:
            clean["region"] = region
        for name, attname in foreign_keys.items():
            if name in clean:
                value = clean.pop(name)
                clean[attname] = value.pk if isinstance(value, Model) else value
        if validate_record(model, clean, kind=kind, report=report, ref=ref):
            yield clean


def sync_records(model: type[Model], records: Iterable[dict], *, kind: str,
                 report: ImportReport, scope: Q | None = None, batch_size: int = 2000,
                 ) -> dict[str, Model]:
    """Create or update ``model`` rows from ``records`` by ``source_id``; mark the vanished.

    Parameters
    ----------
    model
        An asset model (with ``source_id``, ``missing_since`` and ``refresh_derived``).
    records
        Field values per row, each with a unique ``source_id``. Only the fields given are
        compared and written, so operator edits to other fields survive a re-import.
    scope
        Which existing rows this import speaks for (e.g. ``Q(source="osm", region=region)``):
        those in scope that the records no longer hold get ``missing_since`` set. ``None``
        marks nothing.

    Returns
    -------
    dict
        ``source_id`` → saved row, for linking (supports to lines, lines to substations).
    """
    records = list(records)
    ids = [r["source_id"] for r in records]
    existing = {o.source_id: o for o in model.objects.filter(source_id__in=ids)}
    now = timezone.now()
    to_create, to_update, changed_fields = [], [], set()
    for record in records:
        obj = existing.get(record["source_id"])
        if obj is None:
            obj = model(**record)
            obj.refresh_derived()
            to_create.append(obj)
            report.counts[kind]["created"] += 1
            continue
        before = {name: getattr(obj, name) for name in (*record, "missing_since")}
        for name, value in record.items():
            setattr(obj, name, value)
        obj.missing_since = None
        obj.refresh_derived()
        diff = {name for name, old in before.items() if not _same(old, getattr(obj, name))}
        if diff:
            changed_fields |= diff
            obj.updated_at = now
            to_update.append(obj)
            report.counts[kind]["restored" if "missing_since" in diff else "updated"] += 1
        else:
            report.counts[kind]["unchanged"] += 1
    if to_create:
        bulk_create_with_history(to_create, model, batch_size=batch_size)
    if to_update:
        derived = {"voltage_kv", "length_m"} & {f.name for f in model._meta.fields}
        bulk_update_with_history(to_update, model, sorted(changed_fields | derived | {"updated_at"}),
                                 batch_size=batch_size)
    if scope is not None:
        vanished = model.objects.filter(scope, missing_since__isnull=True).exclude(
            source_id__in=ids)
        report.counts[kind]["vanished"] += vanished.count()
        for obj in vanished:  # one by one: each keeps a history entry of when it vanished
            obj.missing_since = now
            obj.save(update_fields=["missing_since", "updated_at"])
    return {o.source_id: o for o in model.objects.filter(source_id__in=ids)}


def read_voltages_kv(value, *, kind: str, ref: str, report: ImportReport,
                     default_unit: str = "V", ignore_zero: bool = False) -> list[float]:
    """Voltage levels in kV from a source value; parts not understood become a warning."""
    levels, rejected = parse_voltages_kv(value, default_unit=default_unit, ignore_zero=ignore_zero)
    if rejected:
        unread = ", ".join(map(repr, rejected))
        report.warn(kind, ref, f"voltage {str(value)[:60]!r}: could not read {unread} as "
                    f"{default_unit} within 0..{MAX_VOLTAGE_KV:g} kV (kept the levels that could "
                    "be read)")
    return levels


def evse_specs(charger: Charger) -> list[dict]:
    """A charger's EVSEs and connectors as plain data, sorted by uid (as importers describe them)."""
    return [{"uid": e.uid, "status": e.status, "connectors": [
        {k: getattr(c, k) for k in CONNECTOR_FIELDS} for c in e.connectors.all()]}
        for e in sorted(charger.evses.all(), key=lambda e: e.uid)]


def sync_evses(records: list[dict], chargers: dict[str, Charger]) -> int:
    """Replace the EVSEs and connectors of chargers whose ``_evses`` description changed.

    ``records`` without an ``_evses`` key leave their charger's EVSEs alone. Works in bulk, with
    history; returns how many chargers got new EVSEs.
    """
    wanted = {r["source_id"]: sorted(r["_evses"], key=lambda e: e["uid"]) for r in records
              if "_evses" in r and r["source_id"] in chargers}
    if not wanted:
        return 0
    current = Charger.objects.filter(pk__in=[chargers[sid].pk for sid in wanted]).prefetch_related(
        "evses__connectors")
    have = {c.source_id: evse_specs(c) for c in current}
    changed = [(chargers[sid], spec) for sid, spec in wanted.items() if have.get(sid) != spec]
    if changed:
        EVSE.objects.filter(charger__in=[c for c, _ in changed]).delete()
        specs = [e for _, spec in changed for e in spec]
        created = bulk_create_with_history(
            [EVSE(charger=c, uid=e["uid"], status=e.get("status", "unknown"))
             for c, spec in changed for e in spec], EVSE, batch_size=2000)
        bulk_create_with_history(
            [Connector(evse=evse, **{k: c.get(k) for k in CONNECTOR_FIELDS if k in c})
             for evse, spec in zip(created, specs, strict=True) for c in spec["connectors"]],
            Connector, batch_size=2000)
    return len(changed)


def sync_support_lines(wanted: dict[int, set[int]]) -> int:
    """Set the lines each support (by pk) carries where they differ; return how many changed.

    In bulk: one delete and one insert of link rows, then one history row per changed support
    with its snapshot of links — the same rows ``support.lines.set()`` would leave, in a handful
    of statements instead of several per support.
    """
    through = Support.lines.through
    current: dict[int, set[int]] = {pk: set() for pk in wanted}
    for support_id, line_id in through.objects.filter(
            support_id__in=wanted).values_list("support_id", "line_id"):
        current[support_id].add(line_id)
    changed = [pk for pk, lines in wanted.items() if current[pk] != lines]
    if not changed:
        return 0
    through.objects.filter(support_id__in=changed).delete()
    links = through.objects.bulk_create(
        [through(support_id=pk, line_id=line) for pk in changed for line in sorted(wanted[pk])])
    history = Support.history.bulk_history_create(Support.objects.filter(pk__in=changed),
                                                  update=True)
    snapshot = apps.get_model("twin", "HistoricalSupport_lines")
    by_support: dict[int, list] = defaultdict(list)
    for link in links:
        by_support[link.support_id].append(link)
    snapshot.objects.bulk_create([
        snapshot(history=record, id=link.id, support_id=link.support_id, line_id=link.line_id)
        for record in history for link in by_support[record.id]])
    return len(changed)


def import_job_path(value) -> Path:
    """The file an import job reads: inside one of ``settings.IMPORT_ROOTS``, nowhere else.

    Uploads land in ``MEDIA_ROOT/imports``; an operator submitting a job by hand cannot make a
    worker read other files on the server.
    """
    if not isinstance(value, str) or not value.strip():
        raise JobParameterError("path is required: a file under the import folder")
    roots = [Path(r).resolve() for r in settings.IMPORT_ROOTS]
    candidate = Path(value)
    resolved = (candidate if candidate.is_absolute() else roots[0] / candidate).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise JobParameterError(f"path must be inside {', '.join(map(str, roots))}")
    return resolved


def _same(a, b) -> bool:
    if isinstance(a, GEOSGeometry) or isinstance(b, GEOSGeometry):
        return a is not None and b is not None and a.equals_exact(b, 1e-9)
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (a is not None and b is not None and abs(a - b) < 1e-9)
    return a == b
