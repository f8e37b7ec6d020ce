"""Plumbing shared by the file importers of third-party sources.

The importers themselves live one per source:

* :mod:`twin.ingest.afdc` — NREL/DOE Alternative Fuels Data Center station CSV → chargers;
* :mod:`twin.ingest.gridkit` — GridKit-style vertex/link CSVs → substations and lines;
* :mod:`twin.ingest.pandapower` — pandapower networks → buses and lines (the markets app adds
  a market and its nodes through :data:`twin.ingest.signals.network_imported`).

All of them build records for :func:`twin.ingest.base.sync_records` inside
:func:`twin.ingest.base.import_transaction`; this module holds what they have in common:
reading a delimited table with a clear error for missing columns, recording the region of an
import, and checking job parameters.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import pandas as pd
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from twin.ingest.base import ImportFailed, ImportReport, import_job_path
from twin.jobs import JobParameterError, check_parameters
from twin.models import Region

ProgressFn = Callable[[float, str], None]


def no_progress(fraction: float, message: str = "") -> None:
    """The progress callback used when the caller passes none."""


def read_table(source: Path | IO[bytes], *, label: str, required: Iterable[str],
               sep: str | None = None, encoding: str = "utf-8-sig") -> pd.DataFrame:
    """Read a delimited text table with every cell as a string ("" when empty).

    Parameters
    ----------
    source
        A file path or an open binary file.
    label
        How the table is named in error messages (usually the file name).
    required
        Columns the table must have; the error names the missing ones.
    sep
        Field separator; ``None`` takes ``#`` when the header line holds one, else ``,``.
    encoding
        Text encoding; the default also strips a UTF-8 byte-order mark.

    Raises
    ------
    ImportFailed
        When the file is missing, unreadable, empty, or lacks a required column.
    """
    if isinstance(source, Path) and not source.is_file():
        raise ImportFailed(f"{source}: no such file")
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source.read()
        text = raw.decode(encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{label}: could not read the file as {encoding} text ({exc}); "
                           "nothing was imported") from exc
    if not text.strip():
        raise ImportFailed(f"{label}: the file is empty; nothing was imported")
    if sep is None:
        sep = "#" if "#" in text.split("\n", 1)[0] else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            skipinitialspace=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportFailed(f"{label}: could not parse the table ({exc}); nothing was imported"
                           ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ImportFailed(f"{label}: missing required column(s): {', '.join(missing)}; "
                           f"found: {', '.join(frame.columns[:20])}")
    return frame


def parse_float(value: object) -> float | None:
    """A finite float from a cell, or ``None`` for empty, non-numeric, NaN or infinite cells."""
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def non_empty(row: dict, *, prefix: str, exclude: Iterable[str] = ()) -> dict[str, str]:
    """The non-empty cells of ``row`` as tags ``{prefix + column: value}``."""
    skip = set(exclude)
    return {f"{prefix}{key}": str(value).strip() for key, value in row.items()
            if key not in skip and str(value).strip()}


def extent(geometries: Iterable[GEOSGeometry | None]) -> tuple[float, float, float, float] | None:
    """The bounding box (minx, miny, maxx, maxy) of some geometries, ``None`` when there are none."""
    boxes = [g.extent for g in geometries if g is not None and not g.empty]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def finish_region(region: Region, *, source_file: str, report: ImportReport,
                  bbox: tuple[float, float, float, float] | None) -> None:
    """Record an import on its region: boundary (the data's bounding box), file, time, report.

    A region's own copy of its OSM file (:func:`keep_source_file`) stays its ``source_file``
    when another source adds to the region: the region's later jobs read that copy.
    """
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        if minx == maxx or miny == maxy:  # a single point or a straight north–south line
            minx, miny, maxx, maxy = minx - 1e-6, miny - 1e-6, maxx + 1e-6, maxy + 1e-6
        region.boundary = MultiPolygon(Polygon.from_bbox((minx, miny, maxx, maxy)), srid=4326)
    if source_file.startswith(f"{REGION_FILES}/") or not region.source_file.startswith(f"{REGION_FILES}/"):
        region.source_file = source_file[:500]
    region.imported_at = timezone.now()
    region.summary = report.as_dict()
    region.save()


REGION_FILES = "regions"  # under MEDIA_ROOT


def keep_source_file(region: Region, path: Path) -> str:
    """Copy the file a region is imported from into the media folder, where its later jobs
    (e.g. ``build_flight_graph``, which reads its roads) find it wherever the original was or
    goes; return the copy's path relative to ``MEDIA_ROOT``, for ``Region.source_file``.

    The copy is ``MEDIA_ROOT/regions/<region folder>/<sha256 prefix>-<file name>``, the folder
    named for the region (its name as a slug plus a hash of the exact name, so that "Andorra"
    and "andorra" keep apart): the same content is copied once (and keeps its modification
    time, so a cached flight graph stays valid), a new one is written beside it and, once the
    import commits, the folder's other files are removed. An import that rolls back leaves the
    recorded copy untouched. Call inside the import's transaction.
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    short = digest.hexdigest()[:16]
    name_hash = hashlib.blake2b(region.name.encode(), digest_size=4).hexdigest()
    folder = Path(settings.MEDIA_ROOT) / REGION_FILES / f"{slugify(region.name)}-{name_hash}"
    kept = folder / f"{short}-{path.name.removeprefix(f'{short}-')}"  # a copy imported again
    if not kept.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".incoming-", delete=False) as tmp:
            partial = Path(tmp.name)
        try:
            shutil.copy2(path, partial)
            partial.replace(kept)
        finally:
            partial.unlink(missing_ok=True)

    def remove_older_copies() -> None:
        for other in folder.iterdir():
            if other != kept and other.is_file():
                other.unlink(missing_ok=True)

    transaction.on_commit(remove_older_copies)
    return kept.relative_to(settings.MEDIA_ROOT).as_posix()


def job_options(parameters: dict, *, required: Iterable[str], optional: Iterable[str]) -> dict:
    """Check a job's parameters: required ones present, no unknown ones (typos fail loudly).

    ``region`` and ``strict`` (which every import job takes) are always allowed. A ``path`` is
    resolved inside the import folders (:func:`~twin.ingest.base.import_job_path`): jobs
    read no other files. Returns ``region_name``, ``strict`` and, when given, ``path``.
    """
    check_parameters(parameters, allowed={*optional, "region", "strict"}, required=required)
    if not isinstance(parameters.get("strict", False), bool):
        raise JobParameterError("strict must be true or false")
    region = parameters.get("region") or None
    if region is not None and (not isinstance(region, str) or len(region) > 100):
        raise JobParameterError("region must be a name of at most 100 characters")
    options = {"region_name": region, "strict": bool(parameters.get("strict", False))}
    if parameters.get("path"):
        options["path"] = import_job_path(parameters["path"])
    return options
