"""LMPs computed from the twin's own network: pandapower's mv_oberrhein (179 buses) imported into
the twin, rebuilt from the twin's rows, priced with a DC (and AC) OPF per interval."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import networkx as nx
import pytest
from django.core.management import CommandError, call_command

from markets.models import Market, NodalPrice, PricingNode
from markets.services.opf import OpfError, build_network, compute_lmps
from twin.ingest.pandapower import import_pandapower
from twin.models import Job, Line, Region, Substation

START = datetime(2022, 9, 1, 7, tzinfo=UTC)
MARKET = "mv_oberrhein"
pytestmark = pytest.mark.django_db


def _clean_twin():
    PricingNode.objects.filter(market__name=MARKET).delete()
    Market.objects.filter(name=MARKET).delete()
    for model in (Line, Substation):
        model.objects.filter(source="pandapower").delete()
        model.history.model.objects.filter(source="pandapower").delete()
    Region.objects.filter(name=MARKET).delete()
    Job.objects.all().delete()


@pytest.fixture(scope="module")
def oberrhein(django_db_setup, django_db_blocker):
    """mv_oberrhein imported into the twin once for the module (removed afterwards)."""
    with django_db_blocker.unblock():
        _clean_twin()
        report = import_pandapower(MARKET)
    yield report
    with django_db_blocker.unblock():
        _clean_twin()


def original_net():
    import pandapower.networks as pn

    return pn.mv_oberrhein()


def prices(run: str = "computed"):
    return NodalPrice.objects.filter(node__market__name=MARKET, run=run)


def bridge_with_downstream(twin, low: int = 8, high: int = 40):
    """A line whose removal cuts ``low``–``high`` buses off every supply point: (line index,
    downstream bus indices), the largest such cut."""
    net = twin.net
    graph = nx.MultiGraph()
    graph.add_nodes_from(net.bus.index)
    for i, row in net.line.iterrows():
        graph.add_edge(row.from_bus, row.to_bus, key=("line", i))
    for i, row in net.trafo.iterrows():
        graph.add_edge(row.hv_bus, row.lv_bus, key=("trafo", i))
    supply = set(net.ext_grid.bus) | {net.gen.at[i, "bus"] for kind, i in twin.supply if kind == "gen"}
    best = None
    for i, row in net.line.iterrows():
        cut = graph.copy()
        cut.remove_edge(row.from_bus, row.to_bus, key=("line", i))
        for part in nx.connected_components(cut):
            if not part & supply and low <= len(part) <= high and (best is None or len(part) > len(best[1])):
                best = (i, part)
    assert best is not None, "mv_oberrhein should have a radial branch to congest"
    return best


def test_network_is_built_from_the_twin(oberrhein):
    assert oberrhein["counts"]["substation"]["created"] == 179
    twin = build_network(MARKET)
    net, original = twin.net, original_net()
    assert len(net.bus) == 179 and len(net.line) == 181
    assert twin.counts["line_defaults"] == {} and twin.counts["buses_priced"] == 179
    assert len(twin.node_bus) == 179
    # Transformers are derived from the co-located 110 kV and 20 kV buses, as in the model.
    names = net.bus["name"]
    pairs = {(names[r.hv_bus], names[r.lv_bus]) for r in net.trafo.itertuples()}
    assert pairs == {(f"bus/{r.hv_bus}", f"bus/{r.lv_bus}") for r in original.trafo.itertuples()}
    assert (net.trafo.shift_degree == 0).all() and (net.trafo.sn_mva == 25.0).all()
    # Supply at the 110 kV buses (where the model's external grids are).
    supply_buses = {names[b] for b in net.ext_grid.bus} | {
        names[net.gen.at[i, "bus"]] for kind, i in twin.supply if kind == "gen"}
    assert supply_buses == {f"bus/{b}" for b in original.ext_grid.bus}
    # Line parameters come from the twin's rows, which hold the model's values.
    for row in net.line.itertuples():
        index = int(row.name.rsplit("/", 1)[1])
        model = original.line.loc[index]
        assert (names[row.from_bus], names[row.to_bus]) == (f"bus/{model.from_bus}", f"bus/{model.to_bus}")
        assert math.isclose(row.r_ohm_per_km, model.r_ohm_per_km)
        assert math.isclose(row.x_ohm_per_km, model.x_ohm_per_km)
        assert math.isclose(row.max_i_ka, model.max_i_ka)
        assert math.isclose(row.length_km, model.length_km)


def test_missing_line_data_take_documented_defaults(oberrhein):
    line = Line.objects.get(source_id=f"pp:{MARKET}:line/3")
    Line.objects.filter(pk=line.pk).update(r_ohm_per_km=None, max_i_ka=None)
    twin = build_network(MARKET)
    built = twin.net.line[twin.net.line.name == line.source_id].iloc[0]
    assert twin.counts["line_defaults"] == {"r_ohm_per_km": 1, "max_i_ka": 1}
    assert (built.r_ohm_per_km, built.max_i_ka) == (0.161, 0.362)  # NA2XS2Y 1x185 12/20 kV


@pytest.mark.embedded
def test_dc_lmps_equal_marginal_cost_without_congestion(oberrhein):
    shape = [0.8] * 6 + [1.0] * 10 + [1.5] * 4 + [0.9] * 4
    summary = compute_lmps(MARKET, {"start": START.isoformat(), "grid_price_per_mwh": 47.5,
                                    "price_shape": shape, "name": "flat-load"}, 24)
    assert summary["intervals"]["solved"] == 24 and summary["intervals"]["not_converged_count"] == 0
    assert summary["nodes_priced"] == 179 and summary["intervals"]["prices_separated"] == 0
    assert summary["stored"]["created"] == 179 * 24
    rows = list(prices().values_list("interval_start", "interval_end", "lmp_per_mwh",
                                     "energy_per_mwh", "congestion_per_mwh", "loss_per_mwh"))
    assert len(rows) == 179 * 24
    for start, end, lmp, energy, congestion, loss in rows:
        expected = 47.5 * shape[start.hour]  # the market's time zone is UTC
        assert math.isfinite(lmp) and lmp == pytest.approx(expected, abs=1e-5)
        assert energy == pytest.approx(expected, abs=1e-5) and abs(congestion) < 1e-5 and loss == 0
        assert end - start == timedelta(hours=1) and START <= start < START + timedelta(hours=24)
    again = compute_lmps(MARKET, {"start": START.isoformat(), "grid_price_per_mwh": 47.5,
                                  "price_shape": shape, "name": "flat-load"}, 24)
    assert again["stored"] == {"created": 0, "updated": 0, "unchanged": 179 * 24}


def test_binding_line_limit_separates_prices(oberrhein):
    twin = build_network(MARKET)
    index, downstream = bridge_with_downstream(twin)
    name = twin.net.line.at[index, "name"]
    codes = {twin.net.bus.at[b, "name"] for b in downstream}
    load_mw = 0.2 * len(downstream)  # the default uniform load at every 20 kV bus
    # Make the twin's line carry at most half the downstream load, and put a dearer generator
    # behind it: it must serve the rest, and set the price there.
    Line.objects.filter(source_id=name).update(max_i_ka=0.5 * load_mw / (math.sqrt(3) * 20.0))
    local = sorted(codes)[0]
    scenario = {"start": START.isoformat(), "grid_price_per_mwh": 60.0, "name": "congested",
                "generators": [{"node": local, "p_max_mw": load_mw, "cost_per_mwh": 150.0}]}
    summary = compute_lmps(MARKET, scenario, 2)
    assert summary["intervals"]["solved"] == 2 and summary["intervals"]["prices_separated"] == 2
    by_code = {}
    for code, lmp, energy, congestion in prices().values_list(
            "node__code", "lmp_per_mwh", "energy_per_mwh", "congestion_per_mwh"):
        by_code.setdefault(code, set()).add(round(lmp, 4))
        assert energy == pytest.approx(60.0, abs=1e-4)
        assert congestion == pytest.approx(lmp - 60.0, abs=1e-4)
    assert len(by_code) == 179
    for code, values in by_code.items():
        assert values == ({150.0} if code in codes else {60.0}), code
    # Without the generator the load behind the line cannot be served: reported, not stored.
    scenario["generators"], scenario["name"] = [], "infeasible"
    summary = compute_lmps(MARKET, {**scenario, "start": (START + timedelta(days=1)).isoformat()}, 1)
    assert summary["intervals"]["solved"] == 0 and summary["intervals"]["not_converged_count"] == 1
    assert summary["intervals"]["not_converged"] == [(START + timedelta(days=1)).isoformat()]
    assert not prices().filter(interval_start__gte=START + timedelta(days=1)).exists()


def test_ac_opf_prices_include_losses(oberrhein):
    summary = compute_lmps(MARKET, {"start": START.isoformat(), "grid_price_per_mwh": 50.0,
                                    "name": "ac"}, 2, ac=True)
    assert summary["intervals"]["solved"] == 2 and summary["intervals"]["ac_not_converged"] == []
    rows = list(prices().values_list("lmp_per_mwh", "energy_per_mwh", "loss_per_mwh", "source"))
    assert len(rows) == 2 * 179
    lmps = [r[0] for r in rows]
    assert all(math.isfinite(v) for v in lmps) and min(lmps) >= 50.0 - 1e-3
    assert max(lmps) > 50.5  # losses make far buses dearer than the supply point
    for lmp, energy, loss, source in rows:
        assert energy == pytest.approx(50.0, abs=1e-3) and loss == pytest.approx(lmp - energy, abs=1e-5)
        assert source == "pandapower:ac"


def test_loads_from_the_network_model(oberrhein):
    summary = compute_lmps(MARKET, {"start": START.isoformat(), "loads": "network",
                                    "network": MARKET}, 1)
    original = original_net()
    assert summary["network"]["load_peak_mw"] == pytest.approx(
        float((original.load.p_mw * original.load.scaling).sum()))
    assert summary["intervals"]["solved"] == 1


@pytest.mark.parametrize("args, message", [
    (("nowhere", {}, 4), "unknown market 'nowhere'"),
    ((MARKET, {}, 0), "intervals must be a whole number from 1"),
    ((MARKET, {"grid_price": 5}, 4), "unknown scenario key(s) grid_price"),
    ((MARKET, {"start": "2022-09-01T07:00"}, 4), "has no UTC offset"),
    ((MARKET, {"generators": [{"node": "bus/9999", "p_max_mw": 1, "cost_per_mwh": 1}]}, 1),
     "unknown node 'bus/9999'"),
    ((MARKET, {"load_shape": [1, 2]}, 1), "list of 24 hourly factors"),
])
def test_bad_input_is_refused_with_a_message(oberrhein, args, message):
    with pytest.raises(OpfError, match=None) as error:
        compute_lmps(*args)
    assert message in str(error.value)
    assert not prices().exists()


def test_command_prints_a_json_summary(oberrhein):
    out = StringIO()
    call_command("compute_lmps", "--market", MARKET, "--network", MARKET, "--intervals", "3",
                 "--start", "2022-09-02T00:00:00Z", "--scenario", '{"grid_price_per_mwh": 70}',
                 stdout=out, stderr=StringIO())
    summary = json.loads(out.getvalue())
    assert summary["stored"]["created"] == 3 * 179 and summary["lmp_per_mwh"]["max"] == pytest.approx(70)
    with pytest.raises(CommandError, match="unknown pandapower network 'mv_oberrhien': did you mean"):
        call_command("compute_lmps", "--market", "x", "--network", "mv_oberrhien",
                     stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="unknown market 'x'"):
        call_command("compute_lmps", "--market", "x", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="intervals must be a whole number"):
        call_command("compute_lmps", "--market", MARKET, "--intervals", "0", stdout=StringIO(),
                     stderr=StringIO())


def test_api_queues_a_job_for_operators_only(oberrhein, operator_client, crew_client):
    body = {"market": MARKET, "intervals": 4, "start": "2022-09-01T07:00:00Z",
            "scenario": {"grid_price_per_mwh": 55}}
    r = operator_client.post("/api/v1/computed-prices/", body, format="json")
    assert r.status_code == 202, r.content
    job = r.json()
    assert job["kind"] == "markets.compute_lmps" and job["status"] == "queued"
    assert job["parameters"]["market"] == MARKET and job["parameters"]["intervals"] == 4
    assert crew_client.post("/api/v1/computed-prices/", body, format="json").status_code == 403
    for bad, message in [
        ({"market": MARKET, "intervals": 0}, "intervals"),
        ({"market": "nowhere"}, "unknown market 'nowhere'"),
        ({"network": "not_a_network"}, "unknown pandapower network 'not_a_network'"),
        ({"network": "/etc/passwd.json"}, "path must be inside"),
        ({"market": MARKET, "scenario": {"loads": "all"}}, "scenario.loads must be"),
        ({}, "give a market, or a network"),
    ]:
        r = operator_client.post("/api/v1/computed-prices/", bad, format="json")
        assert r.status_code == 400, (bad, r.content)
        assert message in r.json()["message"], (bad, r.json())


@pytest.mark.worker
def test_job_imports_and_prices_on_a_real_worker(start_worker, operator_client):
    _clean_twin()  # the module's import is not visible to this transactional test's worker
    start_worker()
    r = operator_client.post("/api/v1/computed-prices/", {
        "network": MARKET, "intervals": 4, "start": "2022-09-01T07:00:00Z",
        "scenario": {"grid_price_per_mwh": 42}}, format="json")
    assert r.status_code == 202, r.content
    deadline, body = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        body = operator_client.get(f"/api/v1/jobs/{r.json()['id']}/").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert body["status"] == "succeeded", body
    result = body["result"]
    assert result["market"] == MARKET and result["stored"]["created"] == 4 * 179
    assert result["lmp_per_mwh"]["min"] == pytest.approx(42) and result["lmp_per_mwh"]["all_finite"]
    assert prices().count() == 4 * 179
