"""The price layer in a real headless Chromium (Playwright, /usr/bin/chromium) over a live server
holding the CAISO SF Bay Area nodes with four 15-minute real-time intervals of their prices and
the CISO carbon intensity of that day (EIA-930): the layer appears, the time slider changes it,
a node click shows its price and carbon chart; no console errors, nothing leaves 127.0.0.1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.test import override_settings

from markets.models import CarbonIntensity, Market, PricingNode
from tests.conftest import SHARED_DATA
from tests.frontend import test_map_browser as base
from tests.frontend.conftest import docs_screenshot
from tests.markets.test_overlays import INTERVALS, PRICES_CSV, load_caiso

pytestmark = [pytest.mark.browser, pytest.mark.django_db]
# The map tests' browser and page fixtures, over this module's ``server``.
chromium = base.chromium
open_map = base.open_map

CARBON_CSV = SHARED_DATA / "carbon" / "eia930_CISO_2022_hourly_genmix_avgCI.csv"
DAY = datetime(2022, 9, 1, tzinfo=UTC)


def load_carbon() -> int:
    """The CISO hourly average carbon intensity of 2022-09-01 (EIA-930)."""
    table = pd.read_csv(CARBON_CSV, usecols=["timestamp", "avg_CI"])
    table["start"] = pd.to_datetime(table["timestamp"], utc=True)
    table = table[(table["start"] >= DAY) & (table["start"] < DAY + timedelta(days=1))]
    CarbonIntensity.objects.bulk_create([
        CarbonIntensity(zone="CISO", interval_start=row.start.to_pydatetime(),
                        interval_end=row.start.to_pydatetime() + timedelta(hours=1),
                        average_g_per_kwh=row.avg_CI, source="eia930")
        for row in table.itertuples()])
    return len(table)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A live server over the CAISO prices and carbon, committed, removed at the end."""
    if not PRICES_CSV.exists() or not CARBON_CSV.exists():
        pytest.skip("../shared/data missing")
    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media):
        market = load_caiso()
        load_carbon()
        crew = base.make_user("price-crew", "field-crew")
        try:
            with base.live_server_signed_in(crew) as (url, cookies):
                yield {"url": url, "cookies": cookies, "crew": crew}
        finally:
            Market.objects.filter(pk=market.pk).delete()
            CarbonIntensity.objects.filter(source="eia930").delete()
            PricingNode.history.model.objects.all().delete()
            Market.history.model.objects.all().delete()


def _wait_ready(map_page, timeout_ms: int = 30000) -> None:
    map_page.page.wait_for_function(
        "document.querySelector('#price-panel')?.dataset.ready === 'true' && "
        "document.querySelector('#price-panel').dataset.loading === 'false'", timeout=timeout_ms)
    map_page.idle()


def _wait_interval(map_page, when: datetime) -> None:
    map_page.page.wait_for_function(
        "(ms) => Date.parse(document.querySelector('#price-panel').dataset.interval) === ms",
        arg=when.timestamp() * 1000, timeout=20000)


def _node_prices(map_page) -> dict[int, float]:
    return {f["id"]: f["properties"]["lmp_per_mwh"] for f in map_page.rendered(["prices-nodes"])}


def _surface_url(map_page) -> str | None:
    return map_page.evaluate("() => window.gridtwinMap.getSource('price-surface')?.url || null")


def test_price_layer_time_slider_and_node_chart(open_map, server):
    map_page = open_map(user="price-crew")
    page = map_page.page
    _wait_ready(map_page)
    panel = page.locator("#price-panel")
    assert panel.is_visible()
    # The latest interval is shown first (all four lie in the past).
    assert datetime.fromisoformat(panel.get_attribute("data-interval")) == INTERVALS[-1]
    page.locator("#price-zoom").click()
    map_page.idle()

    # The price layer: nodes coloured by price on a data-driven scale, the surface image.
    prices = _node_prices(map_page)
    assert len(prices) >= 300, len(prices)
    color = map_page.evaluate("() => window.gridtwinMap.getPaintProperty('prices-nodes', 'circle-color')")
    assert color[0] == "interpolate" and color[2] == ["to-number", ["get", "lmp_per_mwh"]]
    stats = map_page.evaluate("() => window.gridtwinPrices.state.points.stats")
    assert color[3] == pytest.approx(stats["domain"][0]) and color[-2] == pytest.approx(stats["domain"][1])
    assert page.locator(".price-scale [data-role=min]").inner_text().replace(",", "") != ""
    url = _surface_url(map_page)
    assert url and "kind=surface" in url and "format=png" in url
    pngs = [r for r in map_page.responses if "format=png" in r.url]
    assert pngs and all(r.status == 200 and r.headers["content-type"] == "image/png" for r in pngs)
    assert map_page.evaluate("() => window.gridtwinMap.getLayer('price-surface-image') !== undefined")
    before_label = page.locator("#price-time-label").inner_text()
    assert "2022" in before_label
    map_page.screenshot("prices-desktop")
    docs_screenshot(page, "prices")

    # The time slider: one step back shows the previous interval's prices and surface.
    slider = page.locator("#price-time")
    assert slider.get_attribute("max") == str(len(INTERVALS) - 1)
    slider.focus()
    page.keyboard.press("ArrowLeft")
    _wait_interval(map_page, INTERVALS[-2])
    _wait_ready(map_page)
    after = _node_prices(map_page)
    changed = [node for node in prices if node in after and after[node] != prices[node]]
    assert len(changed) > 100, "the slider did not change the nodes' prices"
    assert _surface_url(map_page) != url
    assert page.locator("#price-time-label").inner_text() != before_label

    # A node click: its price and carbon over time as a chart.
    node_id = changed[0]
    lon, lat = map_page.evaluate(
        "(id) => window.gridtwinPrices.state.points.features.find(f => f.id === id).geometry.coordinates",
        node_id)
    map_page.jump(lon, lat, 15)
    x, y = map_page.screen_point(lon, lat)
    page.mouse.click(x, y)
    feature_panel = page.locator("#feature-panel")
    feature_panel.wait_for(state="visible")
    chart = feature_panel.locator("svg[data-role=price-chart]")
    chart.wait_for(state="visible", timeout=15000)
    assert page.locator("#feature-kind").text_content() == "Pricing node"
    price_path = chart.locator("path[data-series=price]").get_attribute("d")
    carbon_path = chart.locator("path[data-series=carbon]").get_attribute("d")
    assert price_path.count("L") >= 2 * len(INTERVALS) - 1, price_path
    assert carbon_path and carbon_path.startswith("M")
    assert "LMP" in feature_panel.inner_text() and "g/kWh" in feature_panel.inner_text()
    map_page.screenshot("prices-node-chart")
    map_page.assert_clean()


def test_fixed_scale_keeps_the_domain_while_sliding(open_map, server):
    map_page = open_map(user="price-crew")
    page = map_page.page
    _wait_ready(map_page)
    domain = map_page.evaluate("() => window.gridtwinPrices.state.domain")
    page.locator("#price-fixed-scale").check()
    _wait_ready(map_page)
    page.locator("#price-time").focus()
    page.keyboard.press("Home")
    _wait_interval(map_page, INTERVALS[0])
    _wait_ready(map_page)
    assert map_page.evaluate("() => window.gridtwinPrices.state.domain") == domain
    first_stats = map_page.evaluate("() => window.gridtwinPrices.state.points.stats.domain")
    assert first_stats != domain  # the interval's own range differs; the scale did not follow
    vmin, vmax = map_page.evaluate(
        "(url) => ['vmin', 'vmax'].map(k => Number(new URL(url).searchParams.get(k)))",
        _surface_url(map_page))
    assert [vmin, vmax] == pytest.approx(domain)
    assert "fixed scale" in page.locator(".price-scale .unit").inner_text()

    # The carbon layer (off by default): service areas coloured by the CISO carbon intensity.
    page.locator("#price-zoom").click()
    map_page.idle()
    assert map_page.rendered(["carbon-fill"]) == []
    page.locator("#layer-toggle-carbon").check()
    map_page.idle()
    cells = map_page.rendered(["carbon-fill"])
    assert len({c["id"] for c in cells}) > 300
    carbon = {c["properties"]["carbon_g_per_kwh"] for c in cells}
    assert len(carbon) == 1 and 200 < carbon.pop() < 500  # one zone, one hour: one value
    map_page.assert_clean()


def test_price_control_fits_a_phone(open_map, server):
    map_page = open_map(user="price-crew", viewport=base.PHONE, phone=True)
    page = map_page.page
    _wait_ready(map_page)
    box = page.locator("#price-panel").bounding_box()
    viewport = page.viewport_size
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert box["y"] + box["height"] <= viewport["height"]
    top_bar = page.locator(".topbar").bounding_box()
    assert box["y"] > top_bar["y"] + top_bar["height"]
    assert page.locator("#price-time").bounding_box()["height"] >= 30  # a finger can drag it
    map_page.screenshot("prices-phone")
    map_page.assert_clean()
