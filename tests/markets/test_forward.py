"""Forward curves from real spot history: CAISO RTPD prices of four days of September 2022 (Source:
California ISO OASIS, read from ../shared/data) with the EIA-930 CISO carbon series of 2022
(Source: U.S. EIA Form EIA-930 via HewlettPackard/dc-rl, MIT)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command

from markets.models import CarbonIntensity, Market, NodalPrice, PricingNode
from markets.services.forward import ForwardError, build_forward_curve, forward_curve
from markets.services.opf import price_shape_from_market
from markets.services.storage import store_prices
from tests.conftest import SHARED_DATA

PRICES = SHARED_DATA / "lmp" / "caiso_rtpd_lmp_sfbayarea_2022-09-01_2022-09-04.csv.gz"
NODES = SHARED_DATA / "lmp" / "caiso_sfbayarea_node_locations.csv"
CARBON = SHARED_DATA / "carbon" / "eia930_CISO_2022_hourly_genmix_avgCI.csv"
LA = ZoneInfo("America/Los_Angeles")
N_NODES = 6

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not PRICES.exists(), reason="needs ../shared/data (CAISO, EIA-930)"),
]


@pytest.fixture(scope="module")
def history():
    """LMP history of the first nodes of the CAISO file (pandas, as the expected values' source)."""
    frame = pd.read_csv(PRICES, usecols=["INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE_ID",
                                         "LMP_TYPE", "PRC"])
    frame = frame[frame.LMP_TYPE == "LMP"]
    codes = sorted(frame.NODE_ID.unique())[:N_NODES]
    frame = frame[frame.NODE_ID.isin(codes)].copy()
    frame["start"] = pd.to_datetime(frame.INTERVALSTARTTIME_GMT, utc=True)
    frame["end"] = pd.to_datetime(frame.INTERVALENDTIME_GMT, utc=True)
    return frame


@pytest.fixture(scope="module")
def carbon():
    frame = pd.read_csv(CARBON).dropna(subset=["avg_CI"])  # a few hours lack generation data
    frame["start"] = pd.to_datetime(frame.timestamp, utc=True)
    return frame


@pytest.fixture(scope="module")
def caiso(django_db_setup, django_db_blocker, history, carbon):
    """A CAISO market with those nodes, their real-time prices and the CISO carbon series."""
    with django_db_blocker.unblock():
        market = Market.objects.create(name="CAISO", operator="California ISO", currency="USD",
                                       time_zone="America/Los_Angeles", interval_min=15,
                                       carbon_zone="CISO")
        places = pd.read_csv(NODES).set_index("node_id")
        nodes = {code: PricingNode.objects.create(
            market=market, code=code, kind=places.at[code, "node_type"].lower(),
            location=Point(places.at[code, "longitude"], places.at[code, "latitude"], srid=4326))
            for code in history.NODE_ID.unique()}
        store_prices(({"node_id": nodes[r.NODE_ID].pk, "run": "real-time",
                       "interval_start": r.start.to_pydatetime(), "interval_end": r.end.to_pydatetime(),
                       "lmp_per_mwh": float(r.PRC)} for r in history.itertuples()), source="test")
        CarbonIntensity.objects.bulk_create([
            CarbonIntensity(zone="CISO", interval_start=r.start.to_pydatetime(),
                            interval_end=r.start.to_pydatetime() + timedelta(hours=1),
                            average_g_per_kwh=float(r.avg_CI), source="eia930")
            for r in carbon.itertuples()])
    yield market
    with django_db_blocker.unblock():
        CarbonIntensity.objects.filter(zone="CISO").delete()
        market.delete()


def local_hour_means(frame: pd.DataFrame, value: str) -> pd.Series:
    return frame.groupby(frame.start.dt.tz_convert(LA).dt.hour)[value].mean()


def test_curve_repeats_the_history_shape_at_its_level(caiso, history, carbon):
    code = sorted(history.NODE_ID.unique())[0]
    node = PricingNode.objects.get(market=caiso, code=code)
    curve = forward_curve(node, months=3)
    assert len(history[history.NODE_ID == code]) == 384
    # The history ends 2022-09-05 00:00 PDT: the curve starts at local midnight of 1 October.
    assert curve["points"][0]["interval_start"] == datetime(2022, 10, 1, 7, tzinfo=UTC)
    # October 744 h, November 721 h (the hour gained when DST ends), December 744 h.
    assert len(curve["points"]) == 744 + 721 + 744
    assert curve["history"]["run"] == "real-time" and curve["history"]["intervals"] == 384
    assert curve["history"]["months"] == ["2022-09"] and "1 month(s) (2022-09)" in curve["history"]["note"]
    assert curve["shaping"] == "multiplicative" and curve["currency"] == "USD"
    # Without given levels each hour is the history's mean price in that local hour of day.
    expected = local_hour_means(history[history.NODE_ID == code], "PRC")
    for point in curve["points"]:
        hour = point["interval_start"].astimezone(LA).hour
        assert point["lmp_per_mwh"] == pytest.approx(expected[hour], abs=1e-3)
        assert point["interval_end"] - point["interval_start"] == timedelta(hours=1)
    # The September 2022 heat wave priced the evening ramp highest.
    peak_hour = max(range(24), key=lambda h: expected[h])
    assert 16 <= peak_hour <= 21
    # Carbon beside price: October's own mean by local hour from a year of EIA-930 data.
    october = carbon[carbon.start.dt.tz_convert(LA).dt.month == 10]
    carbon_expected = local_hour_means(october, "avg_CI")
    for point in curve["points"][:744]:
        hour = point["interval_start"].astimezone(LA).hour
        assert point["carbon_g_per_kwh"] == pytest.approx(carbon_expected[hour], abs=1e-3)
    assert curve["carbon"]["series"] == "CISO" and len(curve["carbon"]["months_with_own_shape"]) == 12


def test_given_levels_scale_the_shape(caiso, history):
    code = sorted(history.NODE_ID.unique())[1]
    node = PricingNode.objects.get(market=caiso, code=code)
    curve = forward_curve(node, months=2, levels={"2022-10": 100.0, "2030-01": 1.0})
    assert curve["levels_given"] == ["2022-10"] and curve["levels_unused"] == ["2030-01"]
    october = [p["lmp_per_mwh"] for p in curve["points"][:744]]
    assert sum(october) / len(october) == pytest.approx(100.0, rel=1e-4)
    expected = local_hour_means(history[history.NODE_ID == code], "PRC")
    first_day = {p["interval_start"].astimezone(LA).hour: p["lmp_per_mwh"] for p in curve["points"][:24]}
    for hour in range(24):  # same shape, scaled
        assert first_day[hour] / 100.0 == pytest.approx(expected[hour] / expected.mean(), rel=1e-4)
    november = [p["lmp_per_mwh"] for p in curve["points"][744:]]
    assert len(november) == 721 and max(november) == pytest.approx(expected.max(), abs=1e-3)


@pytest.mark.embedded
def test_build_stores_the_forward_run_and_carbon(caiso, history):
    summary = build_forward_curve("CAISO", months=1)
    assert summary["nodes"] == N_NODES and summary["points"] == N_NODES * 744
    assert summary["stored"]["created"] == N_NODES * 744 and summary["carbon"]["stored"] == 744
    stored = NodalPrice.objects.filter(node__market=caiso, run="forward")
    assert stored.count() == N_NODES * 744
    assert stored.filter(interval_start__lt=datetime(2022, 10, 1, 7, tzinfo=UTC)).count() == 0
    assert CarbonIntensity.objects.filter(zone="CISO", is_forecast=True).count() == 744
    again = build_forward_curve("CAISO", months=1)
    assert again["stored"] == {"created": 0, "updated": 0, "unchanged": N_NODES * 744}
    assert CarbonIntensity.objects.filter(zone="CISO", is_forecast=True).count() == 744
    out = StringIO()
    code = sorted(history.NODE_ID.unique())[0]
    call_command("build_forward_curve", "--market", "CAISO", "--node", code, "--months", "2",
                 stdout=out, stderr=StringIO())
    body = json.loads(out.getvalue())
    assert body["nodes"] == 1 and body["points"] == 744 + 721
    assert body["stored"]["created"] == 721 and body["stored"]["unchanged"] == 744


def test_bad_input_gives_clear_errors(caiso, history):
    node = PricingNode.objects.filter(market=caiso).first()
    empty = PricingNode.objects.create(market=caiso, code="NO_HISTORY")
    for kwargs, message in [
        ({"months": 0}, "months must be a whole number from 1 to 36"),
        ({"start_month": "2022-13"}, "is not a month like 2023-01"),
        ({"run": "forward"}, "not from itself"),
        ({"run": "day-ahead"}, "has no day-ahead price history"),
        ({"levels": {"2022-10": "high"}}, "must be a number"),
    ]:
        with pytest.raises(ForwardError, match=None) as error:
            forward_curve(node, **kwargs)
        assert message in str(error.value), kwargs
    with pytest.raises(ForwardError, match="has no day-ahead / real-time / computed price history"):
        forward_curve(empty)
    with pytest.raises(CommandError, match="unknown market 'NOPE'"):
        call_command("build_forward_curve", "--market", "NOPE", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="has no node 'X'"):
        call_command("build_forward_curve", "--market", "CAISO", "--node", "X", stdout=StringIO(),
                     stderr=StringIO())


def test_api_forward_curve(caiso, history, crew_client, client):
    node = PricingNode.objects.get(market=caiso, code=sorted(history.NODE_ID.unique())[2])
    r = crew_client.get(f"/api/v1/forward-curves/?node={node.pk}&months=2")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["node"] == {"id": node.pk, "code": node.code, "name": "", "market": "CAISO"}
    assert body["method"].startswith("month×hour shape") and "not a traded one" in body["method"]
    assert len(body["points"]) == 744 + 721
    first = body["points"][0]
    assert first["interval_start"] == "2022-10-01T07:00:00Z"
    assert first["interval_end"] == "2022-10-01T08:00:00Z"
    assert set(first) == {"interval_start", "interval_end", "lmp_per_mwh", "carbon_g_per_kwh"}
    assert first["carbon_g_per_kwh"] > 0
    empty = PricingNode.objects.create(market=caiso, code="EMPTY")
    for query, message in [
        ("", "node: give a pricing node id"),
        ("node=999999", "no pricing node with id 999999"),
        (f"node={node.pk}&months=abc", "months: 'abc' is not a whole number"),
        (f"node={node.pk}&months=99", "months must be a whole number from 1 to 36"),
        (f"node={empty.pk}", "has no"),
    ]:
        r = crew_client.get(f"/api/v1/forward-curves/?{query}")
        assert r.status_code == 400 and message in r.json()["message"], (query, r.content)
    assert client.get(f"/api/v1/forward-curves/?node={node.pk}").status_code in (401, 403)


def test_computed_prices_follow_a_real_price_shape(caiso, history):
    """A scenario's grid price can follow the CAISO shape (mean 1 over the local day)."""
    shape = price_shape_from_market("CAISO")
    assert len(shape) == 24 and sum(shape) / 24 == pytest.approx(1.0)
    means = history.groupby("start").PRC.mean().rename("PRC").reset_index()
    expected = local_hour_means(means, "PRC")
    assert shape == pytest.approx(list(expected / expected.mean()), rel=1e-6)
