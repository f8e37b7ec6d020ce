"""Import price files: each format's reader turns its file into a frame, which is checked
against the market's nodes and stored in bulk (:mod:`markets.services.storage`).

Formats: ``caiso-oasis`` (:mod:`~markets.services.readers.caiso`), ``generic``
(:mod:`~markets.services.readers.generic`) and ``jepx`` (:mod:`~markets.services.readers.jepx`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from markets.models import Market, PricingNode, PricingNodeKind
from markets.services.nodes import _option, get_market, sync_nodes
from markets.services.readers.caiso import read_caiso
from markets.services.readers.common import (
    AMBIGUOUS_POLICIES,
)
from markets.services.readers.generic import read_generic
from markets.services.readers.jepx import jepx_nodes, read_jepx
from markets.services.storage import (
    PRICE_VALUES,
    _batch,
    write_prices,
)
from twin.ingest.base import ImportFailed, ImportReport, import_transaction
from twin.ingest.sources import ProgressFn, job_options, no_progress
from twin.jobs import Progress

PRICE_FORMATS = ("caiso-oasis", "generic", "jepx")

READERS = {"caiso-oasis": read_caiso, "generic": read_generic, "jepx": read_jepx}


def import_prices(fmt: str, path: str | Path, *, market_name: str | None = None,
                  create_nodes: bool = False, ambiguous: str = "reject",
                  strict: bool = False, progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) a price file into the market's nodes; return the JSON report.

    Parameters
    ----------
    fmt
        ``caiso-oasis`` (CAISO OASIS LMP CSV, plain or gzip), ``generic`` (the long CSV in the
        README) or ``jepx`` (JEPX spot summary, Shift_JIS).
    path
        The file.
    market_name
        An existing market (``jepx``: default ``JEPX``, created with Asia/Tokyo, JPY, 30 min).
    create_nodes
        Create nodes the market does not know, without a location (reported as warnings);
        by default their rows are skipped and reported per node.
    ambiguous
        Local times repeated by a DST fall-back: ``reject`` the rows (default), or take the
        ``earlier``/``later`` instant and report it. Local times in a DST gap are always skipped.
    strict
        Roll everything back on any skipped row or warning.

    Raises
    ------
    ImportFailed
        Unknown format or market, missing file or columns, nothing importable, or under
        ``strict`` any problem. Nothing is written then.
    """
    if fmt not in READERS:
        raise ImportFailed(f"unknown price format {fmt!r}; choose from {', '.join(PRICE_FORMATS)}")
    if ambiguous not in AMBIGUOUS_POLICIES:
        raise ImportFailed(f"ambiguous must be one of {', '.join(AMBIGUOUS_POLICIES)}")
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    _ = report.counts["price"]  # listed in the report even when no price was loaded
    if fmt == "jepx":
        market_name = market_name or "JEPX"
        market = Market.objects.filter(name=market_name).first() or Market(
            name=market_name, operator="Japan Electric Power Exchange", currency="JPY",
            time_zone="Asia/Tokyo", interval_min=30)
    else:
        market = get_market(market_name)
    progress(0.05, f"reading {path.name}")
    frame = READERS[fmt](path, market, report, ambiguous=ambiguous)
    report.extra.update(market=market.name, format=fmt)
    progress(0.5, f"writing {len(frame)} prices")
    with import_transaction(report, strict=strict):
        if market.pk is None:
            market.save()
            report.extra["market_created"] = True
        codes = pd.unique(frame["code"])
        known = dict(PricingNode.objects.filter(market=market, code__in=list(codes))
                     .values_list("code", "id"))
        if fmt == "jepx":
            zones = jepx_nodes()
            known |= sync_nodes(market, {c: zones[c] for c in codes if c not in known}, report)
        unknown = [c for c in codes if c not in known]
        if unknown and create_nodes:
            for code in unknown:
                report.warn("node", code, f"node {code!r} created without a location")
            known |= sync_nodes(market, {c[:100]: {"kind": PricingNodeKind.BUS}
                                         for c in unknown}, report)
        elif unknown:
            counts = frame.loc[frame["code"].isin(unknown), "code"].value_counts()
            for code, n in counts.items():
                report.skip("price", f"node {code}", f"unknown node {code!r} in market "
                            f"{market.name}: {n} row(s) skipped (import its location with "
                            "import_nodes, or pass --create-nodes)")
                report.counts["price"]["skipped"] += int(n) - 1
            frame = frame[~frame["code"].isin(unknown)]
        if frame.empty and not report.counts["price"]["skipped"]:
            raise ImportFailed(f"{path.name}: no prices in the file; nothing was imported", report)
        outcome = _store_frame(frame, known, source=f"{fmt}:{path.name}"[:100])
        for name, n in outcome.items():
            report.counts["price"][name] += n
        if len(frame):
            report.extra["interval_range"] = [frame["interval_start"].min().isoformat(),
                                              frame["interval_end"].max().isoformat()]
            report.extra["nodes_with_prices"] = int(frame["code"].nunique())
    progress(1.0, "done")
    return report.as_dict()


def _store_frame(frame: pd.DataFrame, node_ids: dict[str, int], *, source: str) -> dict:
    """Store a checked price frame (codes resolved through ``node_ids``) as one
    :class:`PriceBatch`, without building a Python object per row."""
    if frame.empty:
        return {"created": 0, "updated": 0, "unchanged": 0}
    n = len(frame)

    def micros(column: str) -> np.ndarray:
        return ((frame[column] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
                ).to_numpy(dtype="int64")

    return write_prices(_batch(
        frame["code"].map(node_ids).to_numpy(dtype="int64"), frame["run"].astype(str).to_numpy(),
        micros("interval_start"), micros("interval_end"),
        frame[list(PRICE_VALUES)].to_numpy(dtype="float64"), np.ones(n, dtype="int16"),
        np.full(n, source, dtype=object)))




def import_prices_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path", "format": caiso-oasis|generic|jepx, "market", "create_nodes",
    "ambiguous", "strict"}`` → :func:`import_prices`."""
    options = job_options(parameters, required=["path", "format"],
                          optional=["market", "create_nodes", "ambiguous"])
    return import_prices(
        _option(parameters, "format", str), options["path"],
        market_name=_option(parameters, "market", str),
        create_nodes=_option(parameters, "create_nodes", bool, False),
        ambiguous=_option(parameters, "ambiguous", str, "reject"),
        strict=options["strict"], progress=progress)


