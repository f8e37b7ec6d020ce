"""The pandapower networks behind computed prices: a market and its pricing nodes for each
imported network, and the network a job or request names.

When :func:`twin.ingest.pandapower.import_pandapower` stores a network's buses, it sends
:data:`twin.ingest.signals.network_imported`; :func:`network_market` answers with a
:class:`~markets.models.Market` named after the network (currency EUR unless given) and one
:class:`~markets.models.PricingNode` per stored bus (``code="bus/<index>"``, kind ``bus``), linked
to the bus's substation — where an OPF run publishes its locational prices.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.gis.geos import GEOSGeometry
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from markets.models import Market, PricingNode
from markets.services.errors import OpfError
from twin.ingest.base import ImportReport, import_job_path
from twin.ingest.pandapower import (
    check_network_name,
    import_pandapower,
    load_network,
    network_names,
    slug,
)
from twin.models import Region, Substation


def network_market(sender, *, network: str, region: Region, buses: dict[int, Substation],
                   report: ImportReport, currency: str | None = None, **kwargs) -> Market:
    """Receiver of ``network_imported``: the network's market and one pricing node per bus
    (``currency`` was checked by the import)."""
    market, created = Market.objects.get_or_create(
        name=network[:100], defaults={"currency": currency or "EUR"}
    )
    if not created and currency and market.currency != currency:
        market.currency = currency
        market.save(update_fields=["currency"])
    sync_pricing_nodes(market, buses, report)
    report.extra["market"] = market.name
    return market


def sync_pricing_nodes(market: Market, buses: dict[int, Substation], report: ImportReport) -> None:
    """One pricing node per stored bus, created or updated in place (with history); nodes of
    buses no longer in the network are counted as vanished and kept (prices refer to them)."""
    existing = {n.code: n for n in market.nodes.all()}
    counts = report.counts["pricing_node"]
    to_create, to_update, changed = [], [], set()
    for index, substation in buses.items():
        code = f"bus/{index}"
        wanted = {
            "name": substation.name,
            "location": substation.location,
            "kind": "bus",
            "substation": substation,
            "tags": {"pp:bus": index},
        }
        node = existing.get(code)
        if node is None:
            to_create.append(PricingNode(market=market, code=code, **wanted))
            counts["created"] += 1
            continue
        diff = {k for k, v in wanted.items() if not _same(getattr(node, k), v)}
        for name in diff:
            setattr(node, name, wanted[name])
        if diff:
            changed |= diff
            to_update.append(node)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    if to_create:
        bulk_create_with_history(to_create, PricingNode, batch_size=2000)
    if to_update:
        bulk_update_with_history(to_update, PricingNode, sorted(changed), batch_size=2000)
    gone = sorted(set(existing) - {f"bus/{index}" for index in buses})
    counts["vanished"] += len(gone)  # kept: prices may refer to them
    if gone:
        report.extra["pricing_nodes_vanished"] = gone[:100]


def _same(a, b) -> bool:
    if isinstance(a, GEOSGeometry) or isinstance(b, GEOSGeometry):
        return a is not None and b is not None and a.equals_exact(b, 1e-9)
    if isinstance(a, Substation) or isinstance(b, Substation):
        return getattr(a, "pk", None) == getattr(b, "pk", None)
    return a == b


def check_network(network: str) -> None:
    """Raise :class:`~twin.ingest.base.ImportFailed` for a missing JSON file or an unknown
    :mod:`pandapower.networks` name, without building the network."""
    text = str(network)
    if text.lower().endswith(".json") or "/" in text or Path(text).is_file():
        if not Path(text).is_file():
            raise OpfError(f"network {text}: no such file")
    elif text not in network_names():
        load_network(text)  # raises with "did you mean …"


def job_network(network: str) -> str:
    """A network named by a job or an API request: a :mod:`pandapower.networks` name, or a JSON
    file inside the import folders (returned resolved); any other file is refused."""
    text = str(network)
    if not text.lower().endswith(".json"):
        check_network_name(text)
        return text
    path = str(import_job_path(text))
    check_network(path)
    return path


def ensure_network(network: str | None, market_name: str | None) -> str:
    """The market to price: import ``network`` into the twin (``import_pandapower``) when the
    market does not exist yet or has no nodes; return the market's name."""
    if not network:
        if not market_name:
            raise OpfError("give a market (and a network to import when it is not in the twin)")
        return market_name
    check_network(network)
    if market_name and PricingNode.objects.filter(market__name=market_name).exists():
        return market_name
    if not market_name:
        _, market_name = load_network(network)
        if PricingNode.objects.filter(market__name=market_name).exists():
            return market_name
    if not slug(market_name):
        raise OpfError(f"market name {market_name!r} has no letters or digits")
    report = import_pandapower(network, network_name=market_name)
    return report["market"]
