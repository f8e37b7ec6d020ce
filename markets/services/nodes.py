"""Markets and their pricing nodes: finding and creating markets, and importing node files
(CSV ``node_id, latitude, longitude[, node_type, area]``)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.gis.geos import Point
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from markets.models import Market, PricingNode, PricingNodeKind
from markets.services.readers.common import (
    _row_refs,
)
from twin.ingest.base import ImportFailed, ImportReport, import_transaction
from twin.ingest.sources import ProgressFn, job_options, no_progress, parse_float, read_table
from twin.jobs import JobParameterError, Progress

NODE_KINDS = {"load": PricingNodeKind.LOAD, "gen": PricingNodeKind.GEN,
              "generator": PricingNodeKind.GEN, "bus": PricingNodeKind.BUS,
              "zone": PricingNodeKind.ZONE, "area": PricingNodeKind.ZONE,
              "tg": PricingNodeKind.GEN, "ldp": PricingNodeKind.LOAD}


def get_market(name: str | None) -> Market:
    """The market called ``name``; ``ImportFailed`` naming the known ones when there is none."""
    if not name:
        raise ImportFailed("a market name is required (--market NAME)")
    market = Market.objects.filter(name=name).first()
    if market is None:
        known = ", ".join(Market.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise ImportFailed(f"unknown market {name!r} (known: {known}); create it with "
                           "import_nodes PATH --market NAME --currency … --time-zone …")
    return market


def _market_settings(currency: str | None, time_zone: str | None,
                     interval_min: int | None) -> dict:
    wanted = {}
    if currency is not None:
        if not (len(currency) == 3 and currency.isalpha()):
            raise ImportFailed(f"currency {currency!r}: give an ISO 4217 code such as USD")
        wanted["currency"] = currency.upper()
    if time_zone is not None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportFailed(f"time zone {time_zone!r} is not an IANA name") from exc
        wanted["time_zone"] = time_zone
    if interval_min is not None:
        if int(interval_min) < 1:
            raise ImportFailed("interval_min must be a positive number of minutes")
        wanted["interval_min"] = int(interval_min)
    return wanted


def ensure_market(name: str, report: ImportReport, *, currency: str | None = None,
                  time_zone: str | None = None, interval_min: int | None = None,
                  operator: str | None = None, carbon_zone: str | None = None) -> Market:
    """The market ``name``, created with the given settings when missing.

    Settings given for an existing market that differ from its own are not changed; they are
    reported as a warning instead (a market's time zone or interval is not changed by a file).
    """
    if not name or len(name) > 100:
        raise ImportFailed("a market name of 1–100 characters is required (--market NAME)")
    wanted = _market_settings(currency, time_zone, interval_min)
    if operator:
        wanted["operator"] = operator[:200]
    if carbon_zone:
        wanted["carbon_zone"] = carbon_zone[:50]
    market = Market.objects.filter(name=name).first()
    if market is None:
        market = Market.objects.create(name=name, **wanted)
        report.extra["market_created"] = True
        return market
    differ = {k: v for k, v in wanted.items() if getattr(market, k) != v}
    if differ:
        report.warn("market", name, "kept the existing market's "
                    + ", ".join(f"{k}={getattr(market, k)!r} (file run asked {v!r})"
                                for k, v in differ.items()))
    return market


def sync_nodes(market: Market, wanted: dict[str, dict], report: ImportReport) -> dict[str, int]:
    """Create or update ``market``'s pricing nodes ``{code: fields}``; returns ``{code: id}``.

    Only the fields given are compared and written; a ``location`` of ``None`` never erases a
    known location. Saves with history, in bulk.
    """
    existing = {n.code: n for n in PricingNode.objects.filter(market=market, code__in=wanted)}
    to_create, to_update, changed = [], [], set()
    for code, fields in wanted.items():
        node = existing.get(code)
        if node is None:
            to_create.append(PricingNode(market=market, code=code, **fields))
            report.counts["node"]["created"] += 1
            continue
        diff = set()
        for name, value in fields.items():
            old = getattr(node, name)
            if name == "location":
                if value is None or (old is not None and old.equals_exact(value, 1e-9)):
                    continue
            elif old == value:
                continue
            setattr(node, name, value)
            diff.add(name)
        if diff:
            changed |= diff
            to_update.append(node)
            report.counts["node"]["updated"] += 1
        else:
            report.counts["node"]["unchanged"] += 1
    if to_create:
        bulk_create_with_history(to_create, PricingNode, batch_size=2000)
    if to_update:
        bulk_update_with_history(to_update, PricingNode, sorted(changed), batch_size=2000)
    return dict(PricingNode.objects.filter(market=market, code__in=wanted)
                .values_list("code", "id"))


def import_nodes(path: str | Path, *, market_name: str, currency: str | None = None,
                 time_zone: str | None = None, interval_min: int | None = None,
                 operator: str | None = None, carbon_zone: str | None = None,
                 allow_unlocated: bool = False, strict: bool = False,
                 progress: ProgressFn | None = None) -> dict:
    """Import (or re-import) pricing nodes from a CSV ``node_id, latitude, longitude[, node_type,
    area]``; return the JSON-ready report.

    Parameters
    ----------
    path
        The CSV (UTF-8). ``node_type`` is LOAD, GEN, BUS or ZONE (any case); ``area`` free text.
    market_name
        The market the nodes belong to; created when missing with ``currency``, ``time_zone``,
        ``interval_min``, ``operator`` and ``carbon_zone`` (the model's defaults for those not
        given).
    allow_unlocated
        Create nodes whose latitude and longitude are both empty without a location (reported
        as warnings); by default such rows are skipped.
    strict
        Roll everything back on any skipped row or warning.

    Raises
    ------
    ImportFailed
        Missing file or columns, bad market settings, or under ``strict`` any problem row.
    """
    path, progress = Path(path), progress or no_progress
    report = ImportReport(source=str(path))
    progress(0.1, f"reading {path.name}")
    frame = read_table(path, label=path.name, required=("node_id", "latitude", "longitude"))
    seen: dict[str, int] = {}
    wanted: dict[str, dict] = {}
    for i, row in enumerate(frame.to_dict("records")):
        ref = _row_refs([i])
        code = row["node_id"].strip()
        if not code or len(code) > 100:
            report.skip("node", ref, "node_id must be 1–100 characters")
            continue
        if code in seen:
            report.skip("node", ref, f"duplicate node_id {code!r} (first on {_row_refs([seen[code]])})")
            continue
        seen[code] = i
        lat_text, lon_text = row["latitude"].strip(), row["longitude"].strip()
        fields: dict = {}
        if not lat_text and not lon_text:
            if not allow_unlocated:
                report.skip("node", ref, f"node {code!r} has no location (pass --allow-unlocated "
                            "to create it without one)")
                continue
            report.warn("node", ref, f"node {code!r} created without a location")
        else:
            lat, lon = parse_float(lat_text), parse_float(lon_text)
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                report.skip("node", ref, f"node {code!r}: latitude {lat_text!r} / longitude "
                            f"{lon_text!r} are not a valid WGS84 position")
                continue
            fields["location"] = Point(lon, lat, srid=4326)
        node_type = (row.get("node_type") or "").strip().lower()
        if node_type:
            if node_type not in NODE_KINDS:
                report.warn("node", ref, f"node {code!r}: unknown node_type {node_type!r}, "
                            "stored as bus")
            fields["kind"] = NODE_KINDS.get(node_type, PricingNodeKind.BUS)
        if "area" in row:
            fields["area"] = row["area"].strip()[:50]
        wanted[code] = fields
    progress(0.5, f"writing {len(wanted)} nodes")
    with import_transaction(report, strict=strict):
        market = ensure_market(market_name, report, currency=currency, time_zone=time_zone,
                               interval_min=interval_min, operator=operator,
                               carbon_zone=carbon_zone)
        sync_nodes(market, wanted, report)
        report.extra["market"] = market.name
    progress(1.0, "done")
    return report.as_dict()




def _option(parameters: dict, name: str, kind: type, default=None):
    value = parameters.get(name, default)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind
                              is not bool)):
        raise JobParameterError(f"{name} must be a {kind.__name__}")
    return value


def import_nodes_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"path", "market", "currency", "time_zone", "interval_min", "operator",
    "allow_unlocated", "strict"}`` → :func:`import_nodes`."""
    options = job_options(parameters, required=["path", "market"],
                          optional=["currency", "time_zone", "interval_min", "operator",
                                    "carbon_zone", "allow_unlocated"])
    return import_nodes(
        options["path"], market_name=_option(parameters, "market", str),
        currency=_option(parameters, "currency", str),
        time_zone=_option(parameters, "time_zone", str),
        interval_min=_option(parameters, "interval_min", int),
        operator=_option(parameters, "operator", str),
        carbon_zone=_option(parameters, "carbon_zone", str),
        allow_unlocated=_option(parameters, "allow_unlocated", bool, False),
        strict=options["strict"], progress=progress)


