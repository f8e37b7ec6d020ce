"""What the markets app adds to other apps' events: a market and its pricing nodes for every
pandapower network the twin imports (see :mod:`markets.services.networks`)."""

from twin.ingest.signals import network_imported


def connect() -> None:
    """Connect the markets app's receivers (called once from ``MarketsConfig.ready``)."""
    from markets.services.networks import network_market

    network_imported.connect(network_market, dispatch_uid="markets.network_market")
