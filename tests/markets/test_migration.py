"""The markets app took its models over from the twin: a database of the old layout (prices,
carbon, overlays and their history in ``twin_*`` tables) migrates to the new one with every row,
key, link and permission intact — and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from markets.models import CarbonIntensity, Market, NodalPrice, PriceOverlay, PricingNode

OLD_LAYOUT = [("twin", "0004_prices_and_carbon"), ("markets", None)]
T0 = datetime(2022, 9, 1, 7, tzinfo=UTC)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _seed_old_layout(apps) -> dict:
    """Rows of every moved model, written through the old layout's models (``twin.*``)."""
    Substation = apps.get_model("twin", "Substation")
    OldMarket = apps.get_model("twin", "Market")
    OldNode = apps.get_model("twin", "PricingNode")
    OldPrice = apps.get_model("twin", "NodalPrice")
    OldCarbon = apps.get_model("twin", "CarbonIntensity")
    OldOverlay = apps.get_model("twin", "PriceOverlay")
    OldHistoricalMarket = apps.get_model("twin", "HistoricalMarket")
    substation = Substation.objects.create(name="Schaan", location=Point(9.51, 47.17, srid=4326))
    market = OldMarket.objects.create(name="CAISO", currency="USD", time_zone="America/Los_Angeles",
                                      interval_min=15, carbon_zone="CISO")
    OldHistoricalMarket.objects.create(
        id=market.pk, name=market.name, operator="", currency="USD", time_zone="UTC",
        interval_min=15, carbon_zone="CISO", history_date=T0, history_type="+")
    nodes = [OldNode.objects.create(market=market, code=f"NODE_{i}", name=f"Node {i}",
                                    location=Point(-122.3 + i / 100, 37.8, srid=4326),
                                    substation=substation if i == 0 else None)
             for i in range(3)]
    for node in nodes:
        for k in range(4):
            start = T0 + timedelta(minutes=15 * k)
            OldPrice.objects.create(node=node, run="real-time", interval_start=start,
                                    interval_end=start + timedelta(minutes=15),
                                    lmp_per_mwh=40.0 + k, congestion_per_mwh=1.5)
    OldCarbon.objects.create(zone="CISO", interval_start=T0, interval_end=T0 + timedelta(hours=1),
                             average_g_per_kwh=210.0, source="eia930")
    OldCarbon.objects.create(node=nodes[1], interval_start=T0,
                             interval_end=T0 + timedelta(hours=1), average_g_per_kwh=190.0,
                             source="computed")
    OldOverlay.objects.create(market=market, run="real-time", interval_start=T0, kind="points",
                              geojson={"type": "FeatureCollection", "features": []},
                              stats={"nodes": 3})
    # A role's permission on a moved model must follow it (content types move, not duplicate).
    content_type, _ = ContentType.objects.get_or_create(app_label="twin", model="market")
    permission, _ = Permission.objects.get_or_create(content_type=content_type,
                                                     codename="view_market",
                                                     defaults={"name": "Can view market"})
    group = Group.objects.create(name="market-readers")
    group.permissions.add(permission)
    return {"market": market.pk, "nodes": [n.pk for n in nodes], "substation": substation.pk,
            "permission": permission.pk}


@pytest.mark.django_db(transaction=True)
def test_old_layout_migrates_with_every_row_intact():
    try:
        old_apps = _migrate(OLD_LAYOUT)
        assert {"twin_market", "twin_nodalprice"} <= _tables()
        assert "markets_market" not in _tables()
        seeded = _seed_old_layout(old_apps)

        _migrate(_latest())

        tables = _tables()
        assert {"markets_market", "markets_historicalmarket", "markets_pricingnode",
                "markets_historicalpricingnode", "markets_nodalprice", "markets_carbonintensity",
                "markets_priceoverlay"} <= tables
        assert not {t for t in tables if t.startswith("twin_") and "market" in t}
        market = Market.objects.get()
        assert (market.pk, market.name, market.interval_min, market.carbon_zone) == (
            seeded["market"], "CAISO", 15, "CISO")
        assert market.history.count() == 1
        assert sorted(PricingNode.objects.values_list("pk", flat=True)) == seeded["nodes"]
        node0 = PricingNode.objects.get(code="NODE_0")
        assert node0.substation_id == seeded["substation"] and node0.location.x == pytest.approx(-122.3)
        assert NodalPrice.objects.count() == 12
        assert sorted(NodalPrice.objects.filter(node=node0).values_list("lmp_per_mwh", flat=True)) \
            == [40.0, 41.0, 42.0, 43.0]
        assert CarbonIntensity.objects.filter(zone="CISO").get().average_g_per_kwh == 210.0
        assert CarbonIntensity.objects.get(node__code="NODE_1").average_g_per_kwh == 190.0
        assert PriceOverlay.objects.get().stats == {"nodes": 3}
        permission = Permission.objects.get(pk=seeded["permission"])
        assert permission.content_type.app_label == "markets"
        assert Group.objects.get(name="market-readers").permissions.filter(pk=permission.pk).exists()
        # New rows still get fresh keys after the rename (the identity sequences came along).
        extra = PricingNode.objects.create(market=market, code="NEW")
        assert extra.pk > max(seeded["nodes"])

        # And back: the old layout again, rows intact.
        old_apps = _migrate(OLD_LAYOUT)
        assert old_apps.get_model("twin", "NodalPrice").objects.count() == 12
        assert ContentType.objects.get(pk=permission.content_type_id).app_label == "twin"
    finally:
        _migrate(_latest())
