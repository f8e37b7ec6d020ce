"""Locational marginal prices computed from the twin's own network with a pandapower OPF.

No market publishes prices for distribution nodes, so the twin computes them: it turns a market's
pricing nodes (each linked to a substation = a bus) and the twin's lines between those substations
into a pandapower network, attaches loads and generators with costs from a *scenario*, runs an
optimal power flow per interval and stores each bus's marginal price (``net.res_bus.lam_p``) as
the market's ``computed`` run.

What comes from where (see the README section "Computed prices and forward curves"):

* **buses** — the substations of the market's pricing nodes, at their ``voltage_kv``;
* **lines** — the twin's :class:`~twin.models.Line` rows between two of those substations, with
  ``r/x/c_nf_per_km`` and ``max_i_ka`` as stored and the model length ``tags["pp:length_km"]``
  where an import kept it (else the geometry's ``length_m``). Missing parameters take the
  defaults of :data:`LINE_DEFAULTS` by voltage class (pandapower standard types), counted in the
  summary. The twin keeps no switch states: every line is taken as closed;
* **transformers** — the twin stores none, so they are *derived*: buses of different voltage whose
  substations stand within ``trafo_max_distance_m`` of each other (a pandapower import puts the HV
  and MV bus of a transformer at the same point) are joined level by level, with the parameters of
  :data:`TRAFO_DEFAULTS` (the substation's ``rating_mva`` as size when it has one) and
  ``shift_degree = 0`` (the AC OPF does not converge on ``mv_oberrhein`` with its 150° shift);
* **supply** — the upstream grid at the highest-voltage buses of every connected island, bought at
  the scenario's grid price; **loads** and extra **generators** with costs from the scenario.

Without congestion a DC OPF is lossless and every bus's price equals the marginal cost of the
cheapest unconstrained supply; when a line's limit binds, prices separate across it.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.db.models import Avg

from markets.models import Market, MarketRun, NodalPrice
from markets.services.errors import OpfError
from markets.services.networks import ensure_network, job_network
from twin.jobs import Progress, check_parameters
from twin.models import Line

ProgressFn = Callable[[float, str], None]

MAX_INTERVALS = 35_136  # a leap year of 15-minute intervals
RUN = MarketRun.COMPUTED

# Line parameters where the twin lacks them, by voltage class: pandapower standard types.
# (upper bound of the class in kV, std type, r Ω/km, x Ω/km, c nF/km, max_i kA)
LINE_DEFAULTS: tuple[tuple[float, str, float, float, float, float], ...] = (
    (1.0, "NAYY 4x150 SE", 0.208, 0.080, 261.0, 0.270),
    (36.0, "NA2XS2Y 1x185 RM/25 12/20 kV", 0.161, 0.117, 273.0, 0.362),
    (150.0, "243-AL1/39-ST1A 110.0", 0.1188, 0.390, 9.0, 0.645),
    (300.0, "490-AL1/64-ST1A 220.0", 0.059, 0.285, 10.0, 0.960),
    (math.inf, "490-AL1/64-ST1A 380.0", 0.059, 0.253, 11.0, 0.960),
)
# Derived transformers, by the voltage of their low side: pandapower standard types.
# (upper bound of the LV class in kV, std type, sn MVA, vk %, vkr %, pfe kW, i0 %)
TRAFO_DEFAULTS: tuple[tuple[float, str, float, float, float, float, float], ...] = (
    (1.0, "0.63 MVA 20/0.4 kV", 0.63, 6.0, 1.206, 1.65, 0.2619),
    (36.0, "25 MVA 110/20 kV", 25.0, 12.0, 0.41, 14.0, 0.07),
    (math.inf, "160 MVA 380/110 kV", 160.0, 12.2, 0.25, 60.0, 0.06),
)

DEFAULT_SCENARIO: dict = {
    "name": "default",
    "start": None,  # ISO 8601; default: the start of the current UTC day
    "grid_price_per_mwh": 60.0,  # mean price of the upstream supply
    "price_shape": "flat",  # "flat" | 24 hourly factors | {"market": NAME, "run": RUN}
    "loads": "uniform",  # "uniform" | "network" | {node code: MW}
    "load_mw_per_bus": 0.2,  # "uniform": MW at every bus of the lowest voltage level
    "load_shape": "flat",  # "flat" | 24 hourly factors (local time of the market)
    "power_factor": 0.95,  # for the reactive power of loads (AC only)
    "generators": [],  # [{"node": code, "p_max_mw": …, "cost_per_mwh": …, "p_min_mw": 0}]
    "supply_nodes": None,  # node codes of the upstream supply; default highest-voltage buses
    "trafo_max_distance_m": 100.0,
    "network": None,  # pandapower network name/JSON, read only for loads = "network"
}


@dataclass
class TwinNetwork:
    """A pandapower network built from the twin and how its buses map to pricing nodes."""

    net: object
    node_bus: dict[int, int]  # pricing node id → pandapower bus index
    bus_codes: dict[int, str]  # pandapower bus index → pricing node code (first node of the bus)
    reference_bus: dict[int, int]  # bus → the reference (ext_grid) bus of its island
    supply: list[tuple[str, int]]  # ("ext_grid" | "gen", element index) of the upstream supply
    counts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _pp():
    import pandapower as pp  # slow to import: only when a network is built

    return pp


def resolve_market(market: Market | str) -> Market:
    """The :class:`Market` itself or the one of that name (``OpfError`` when unknown)."""
    if isinstance(market, Market):
        return market
    found = Market.objects.filter(name=market).first()
    if found is None:
        known = ", ".join(Market.objects.order_by("name").values_list("name", flat=True)[:20])
        raise OpfError(f"unknown market {market!r}; known: {known or 'none'}")
    return found


def scenario_options(scenario: dict | None) -> dict:
    """The scenario with defaults filled in and every value checked (``OpfError`` if bad)."""
    scenario = dict(scenario or {})
    unknown = sorted(set(scenario) - set(DEFAULT_SCENARIO))
    if unknown:
        raise OpfError(f"unknown scenario key(s) {', '.join(unknown)}; "
                       f"allowed: {', '.join(sorted(DEFAULT_SCENARIO))}")
    options = {**DEFAULT_SCENARIO, **scenario}
    for key in ("grid_price_per_mwh", "load_mw_per_bus", "power_factor", "trafo_max_distance_m"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise OpfError(f"scenario.{key} must be a number, not {value!r}")
    if options["load_mw_per_bus"] < 0 or options["trafo_max_distance_m"] < 0:
        raise OpfError("scenario.load_mw_per_bus and trafo_max_distance_m must be ≥ 0")
    if not 0 < options["power_factor"] <= 1:
        raise OpfError("scenario.power_factor must be in (0, 1]")
    for key in ("price_shape", "load_shape"):
        shape = options[key]
        if shape == "flat" or (key == "price_shape" and isinstance(shape, dict)):
            continue
        if not (isinstance(shape, list) and len(shape) == 24
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in shape)):
            raise OpfError(f"scenario.{key} must be \"flat\" or a list of 24 hourly factors"
                           + (" or {\"market\": NAME, \"run\": RUN}" if key == "price_shape" else ""))
    if isinstance(options["price_shape"], dict):
        if set(options["price_shape"]) - {"market", "run"} or "market" not in options["price_shape"]:
            raise OpfError("scenario.price_shape as an object takes market (and optionally run)")
    loads = options["loads"]
    if not (loads in ("uniform", "network") or isinstance(loads, dict)):
        raise OpfError("scenario.loads must be \"uniform\", \"network\" or {node code: MW}")
    if isinstance(loads, dict) and not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in loads.values()):
        raise OpfError("scenario.loads values must be MW ≥ 0")
    if loads == "network" and not options["network"]:
        raise OpfError("scenario.loads = \"network\" needs scenario.network (a pandapower network)")
    generators = options["generators"]
    if not isinstance(generators, list):
        raise OpfError("scenario.generators must be a list")
    for i, gen in enumerate(generators):
        if not isinstance(gen, dict) or not {"node", "p_max_mw", "cost_per_mwh"} <= set(gen):
            raise OpfError(f"scenario.generators[{i}] needs node, p_max_mw and cost_per_mwh")
        for key in ("p_max_mw", "cost_per_mwh", "p_min_mw"):
            value = gen.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise OpfError(f"scenario.generators[{i}].{key} must be a number")
        if not 0 <= gen.get("p_min_mw", 0.0) <= gen["p_max_mw"]:
            raise OpfError(f"scenario.generators[{i}]: need 0 ≤ p_min_mw ≤ p_max_mw")
    if options["supply_nodes"] is not None and not (
            isinstance(options["supply_nodes"], list) and options["supply_nodes"]):
        raise OpfError("scenario.supply_nodes must be a non-empty list of node codes")
    if options["start"] is not None:
        options["start"] = parse_time(options["start"], "scenario.start")
    return options


def parse_time(value, label: str = "time") -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string with an offset."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise OpfError(f"{label}: {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise OpfError(f"{label}: {value!r} has no UTC offset (write e.g. 2022-09-01T07:00:00Z)")
    return parsed.astimezone(UTC)


def _class_of(table: tuple, voltage_kv: float) -> tuple:
    return next(row for row in table if voltage_kv <= row[0])


def _distance_m(a, b) -> float:
    """Great-circle distance between two lon/lat points (haversine; fine for short distances)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))


def build_network(market: Market | str, scenario: dict | None = None) -> TwinNetwork:
    """Build a pandapower network from the twin's buses and lines of ``market``.

    Parameters
    ----------
    market
        The market (or its name) whose pricing nodes are linked to substations (as
        :func:`twin.ingest.pandapower.import_pandapower` creates them).
    scenario
        Loads, generators and supply (see :data:`DEFAULT_SCENARIO`); loads and costs are set at
        their peak / mean here and varied per interval by :func:`compute_lmps`.

    Returns
    -------
    TwinNetwork
        The net (with ``poly_cost`` rows for every priced element), the node → bus map, the
        supply elements, counts of what was built and defaulted, and notes.

    Raises
    ------
    OpfError
        Unknown market, no linked nodes, unknown node codes in the scenario, no supply.
    """
    import networkx as nx

    options = scenario_options(scenario)
    market = resolve_market(market)
    pp = _pp()
    nodes = list(market.nodes.filter(substation__isnull=False).select_related("substation")
                 .order_by("code"))
    if not nodes:
        raise OpfError(f"market {market.name!r} has no pricing nodes linked to substations; "
                       "import a network first (import_pandapower NETWORK)")
    counts: dict = {"nodes": len(nodes), "nodes_unlinked": market.nodes.filter(
        substation__isnull=True).count(), "line_defaults": {}, "lines_skipped": {}}
    notes: list[str] = ["switch states are not in the twin: every line is taken as closed"]
    net = pp.create_empty_network(name=f"twin:{market.name}", f_hz=50.0)
    subs, first_code = {}, {}
    no_voltage = 0
    for node in nodes:
        sub = node.substation
        if sub.pk in subs:
            continue
        if not sub.voltage_kv:
            no_voltage += 1
            subs[sub.pk] = None
            continue
        subs[sub.pk], first_code[sub.pk] = sub, node.code
    located = [pk for pk in subs if subs[pk] is not None]
    created = pp.create_buses(  # one call: pandapower's create_* are slow per element
        net, len(located), vn_kv=[float(subs[pk].voltage_kv) for pk in located],
        name=[first_code[pk] for pk in located],
        geodata=[(subs[pk].location.x, subs[pk].location.y) for pk in located],
        min_vm_pu=0.9, max_vm_pu=1.1) if located else []
    sub_bus: dict[int, int] = {pk: int(b) for pk, b in zip(located, created, strict=True)}
    if no_voltage:
        notes.append(f"{no_voltage} substation(s) without a voltage: not priced")
    graph = nx.Graph()
    graph.add_nodes_from(sub_bus.values())
    skipped = counts["lines_skipped"]
    lines = (Line.objects.filter(from_substation_id__in=sub_bus, to_substation_id__in=sub_bus,
                                 missing_since__isnull=True).order_by("pk"))
    columns: dict[str, list] = {k: [] for k in (
        "from_buses", "to_buses", "length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km",
        "max_i_ka", "parallel", "name", "g_us_per_km")}
    for line in lines:
        a, b = sub_bus[line.from_substation_id], sub_bus[line.to_substation_id]
        tags = line.tags or {}
        if tags.get("pp:in_service") is False:
            skipped["out_of_service"] = skipped.get("out_of_service", 0) + 1
            continue
        if a == b:
            skipped["same_bus"] = skipped.get("same_bus", 0) + 1
            continue
        vn_a, vn_b = net.bus.at[a, "vn_kv"], net.bus.at[b, "vn_kv"]
        if vn_a != vn_b:
            skipped["joins_voltage_levels"] = skipped.get("joins_voltage_levels", 0) + 1
            continue
        _, std, r, x, c, max_i = _class_of(LINE_DEFAULTS, vn_a)
        values = {"r_ohm_per_km": line.r_ohm_per_km, "x_ohm_per_km": line.x_ohm_per_km,
                  "c_nf_per_km": line.c_nf_per_km, "max_i_ka": line.max_i_ka}
        for key, default in zip(values, (r, x, c, max_i), strict=True):
            if values[key] is None:
                values[key] = default
                counts["line_defaults"][key] = counts["line_defaults"].get(key, 0) + 1
        if values["x_ohm_per_km"] <= 0:  # a DC power flow needs a reactance
            values["x_ohm_per_km"] = x
            counts["line_defaults"]["x_ohm_per_km"] = counts["line_defaults"].get("x_ohm_per_km", 0) + 1
        length_km = tags.get("pp:length_km") or (line.length_m or 0) / 1000.0
        for key, value in {"from_buses": a, "to_buses": b, "length_km": max(float(length_km), 0.001),
                           "parallel": line.circuits, "name": line.source_id or f"line/{line.pk}",
                           "g_us_per_km": float(tags.get("pp:g_us_per_km") or 0.0), **values}.items():
            columns[key].append(value)
        graph.add_edge(a, b)
    if columns["name"]:
        pp.create_lines_from_parameters(net, max_loading_percent=100.0, **columns)
    counts["lines"] = len(net.line)
    # Transformers: co-located buses of different voltage, joined level by level.
    by_voltage: dict[float, list[int]] = {}
    for pk, bus in sub_bus.items():
        by_voltage.setdefault(net.bus.at[bus, "vn_kv"], []).append(pk)
    levels = sorted(by_voltage, reverse=True)
    for hv_level, lv_level in itertools.pairwise(levels):
        for hv_pk in by_voltage[hv_level]:
            hv_sub = subs[hv_pk]
            near = [(_distance_m(hv_sub.location, subs[lv_pk].location), lv_pk)
                    for lv_pk in by_voltage[lv_level]]
            near = [d for d in near if d[0] <= options["trafo_max_distance_m"]]
            if not near:
                continue
            lv_pk = min(near)[1]
            _, std, sn, vk, vkr, pfe, i0 = _class_of(TRAFO_DEFAULTS, lv_level)
            pp.create_transformer_from_parameters(
                net, sub_bus[hv_pk], sub_bus[lv_pk], sn_mva=hv_sub.rating_mva or sn,
                vn_hv_kv=hv_level, vn_lv_kv=lv_level, vk_percent=vk, vkr_percent=vkr,
                pfe_kw=pfe, i0_percent=i0, shift_degree=0.0, max_loading_percent=100.0,
                name=f"derived {std}")
            graph.add_edge(sub_bus[hv_pk], sub_bus[lv_pk])
    counts["trafos_derived"] = len(net.trafo)
    if len(net.trafo):
        notes.append(f"{len(net.trafo)} transformer(s) derived from co-located buses of different "
                     "voltage (pandapower standard-type parameters, shift 0°)")
    code_bus = {node.code: sub_bus[node.substation_id] for node in nodes
                if node.substation_id in sub_bus}
    # Upstream supply: the given nodes, else the highest-voltage buses of each island.
    islands = [sorted(c) for c in nx.connected_components(graph) if len(c) > 1]
    isolated = sum(1 for c in nx.connected_components(graph) if len(c) == 1)
    if isolated:
        notes.append(f"{isolated} bus(es) without any line or transformer: not priced")
    if options["supply_nodes"]:
        unknown = [c for c in options["supply_nodes"] if c not in code_bus]
        if unknown:
            raise OpfError(f"scenario.supply_nodes: unknown node(s) {', '.join(map(str, unknown[:5]))}")
        supply_buses = {code_bus[c] for c in options["supply_nodes"]}
    else:
        supply_buses = set()
        for island in islands:
            top = max(net.bus.at[b, "vn_kv"] for b in island)
            supply_buses |= {b for b in island if net.bus.at[b, "vn_kv"] == top}
    supply: list[tuple[str, int]] = []
    reference_bus: dict[int, int] = {}
    dropped = 0
    for island in islands:
        entries = [b for b in island if b in supply_buses]
        if not entries:
            dropped += len(island)
            continue
        for b in island:
            reference_bus[b] = entries[0]
        supply.append(("ext_grid", pp.create_ext_grid(net, entries[0], vm_pu=1.0,
                                                      name=f"supply {net.bus.at[entries[0], 'name']}")))
        for b in entries[1:]:
            supply.append(("gen", pp.create_gen(net, b, p_mw=0.0, vm_pu=1.0, controllable=True,
                                                name=f"supply {net.bus.at[b, 'name']}")))
    if dropped:
        notes.append(f"{dropped} bus(es) in islands without supply: not priced")
    if not supply:
        raise OpfError(f"market {market.name!r}: no bus can be supplied (no lines between the "
                       "nodes' substations, or scenario.supply_nodes outside them)")
    priced = set(reference_bus)
    # Loads at their peak (MW); the per-interval shape scales them.
    loads = options["loads"]
    if loads == "uniform":
        lowest = min(net.bus.at[b, "vn_kv"] for b in priced)
        wanted = {b: options["load_mw_per_bus"] for b in sorted(priced)
                  if net.bus.at[b, "vn_kv"] == lowest and b not in supply_buses}
    elif loads == "network":
        wanted = _network_loads(options["network"], code_bus)
    else:
        unknown = [c for c in loads if c not in code_bus]
        if unknown:
            raise OpfError(f"scenario.loads: unknown node(s) {', '.join(map(str, unknown[:5]))}")
        wanted = {}
        for code, mw in loads.items():
            wanted[code_bus[code]] = wanted.get(code_bus[code], 0.0) + float(mw)
    tan_phi = math.tan(math.acos(options["power_factor"]))
    wanted = {b: mw for b, mw in wanted.items() if b in priced and mw > 0}
    if wanted:
        pp.create_loads(net, list(wanted), p_mw=list(wanted.values()),
                        q_mvar=[mw * tan_phi for mw in wanted.values()], controllable=False)
    total_peak_mw = sum(wanted.values())
    counts["loads"] = len(net.load)
    counts["load_peak_mw"] = round(total_peak_mw, 6)
    bound = 2 * total_peak_mw + 10.0 + sum(g["p_max_mw"] for g in options["generators"])
    for kind, index in supply:
        if kind == "gen":
            net.gen.loc[index, ["min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"]] = (
                -bound, bound, -bound, bound)
    for kind, index in supply:
        if kind == "ext_grid":
            for col, value in (("min_p_mw", -bound), ("max_p_mw", bound),
                               ("min_q_mvar", -bound), ("max_q_mvar", bound)):
                net.ext_grid.loc[index, col] = value
    for i, gen in enumerate(options["generators"]):
        if gen["node"] not in code_bus:
            raise OpfError(f"scenario.generators[{i}]: unknown node {gen['node']!r}")
        bus = code_bus[gen["node"]]
        if bus not in priced:
            raise OpfError(f"scenario.generators[{i}]: node {gen['node']!r} is not connected")
        index = pp.create_gen(net, bus, p_mw=0.0, vm_pu=1.0, controllable=True,
                              min_p_mw=float(gen.get("p_min_mw", 0.0)),
                              max_p_mw=float(gen["p_max_mw"]), min_q_mvar=-float(gen["p_max_mw"]),
                              max_q_mvar=float(gen["p_max_mw"]), name=f"generator {gen['node']}")
        pp.create_poly_cost(net, index, "gen", cp1_eur_per_mw=float(gen["cost_per_mwh"]))
    for kind, index in supply:
        pp.create_poly_cost(net, index, kind, cp1_eur_per_mw=options["grid_price_per_mwh"])
    counts.update(buses=len(net.bus), islands=len(islands), supply_points=len(supply),
                  generators=len(options["generators"]), buses_priced=len(priced))
    node_bus = {node.pk: sub_bus[node.substation_id] for node in nodes
                if sub_bus.get(node.substation_id) in priced}
    bus_codes: dict[int, str] = {}
    for code, b in code_bus.items():
        bus_codes.setdefault(b, code)
    return TwinNetwork(net=net, node_bus=node_bus, bus_codes=bus_codes,
                       reference_bus=reference_bus, supply=supply, counts=counts, notes=notes)


def _network_loads(network: str, code_bus: dict[str, int]) -> dict[int, float]:
    """Peak MW per bus from a pandapower network's load table (``p_mw × scaling``), matched to
    pricing nodes by the ``bus/<index>`` codes :func:`import_pandapower` gives them."""
    from twin.ingest.pandapower import load_network

    net, _ = load_network(network)
    wanted: dict[int, float] = {}
    for _, load in net.load[net.load.in_service].iterrows():
        bus = code_bus.get(f"bus/{int(load['bus'])}")
        if bus is not None:
            wanted[bus] = wanted.get(bus, 0.0) + float(load["p_mw"]) * float(load["scaling"])
    if not wanted:
        raise OpfError(f"scenario.network {network!r}: none of its loads sits at a node of this market")
    return wanted


def _hourly(shape, hours: np.ndarray) -> np.ndarray:
    if shape == "flat":
        return np.ones(len(hours))
    return np.asarray(shape, dtype=float)[hours]


def price_shape_from_market(name: str, run: str | None = None) -> list[float]:
    """24 hourly factors (mean 1) from a stored market's mean nodal price by local hour of day.

    This is how a scenario's grid price follows a real series (e.g. CAISO's LMP shape): the
    average over the market's nodes of each interval's price, averaged by hour of day in the
    market's time zone, divided by its mean.
    """
    market = resolve_market(name)
    runs = [run] if run else [MarketRun.REAL_TIME, MarketRun.DAY_AHEAD]
    for candidate in runs:
        rows = list(NodalPrice.objects.filter(node__market=market, run=candidate, is_current=True)
                    .values("interval_start").annotate(lmp=Avg("lmp_per_mwh")))
        if rows:
            break
    else:
        raise OpfError(f"scenario.price_shape: market {market.name!r} has no "
                       f"{' or '.join(runs)} prices stored")
    zone = ZoneInfo(market.time_zone)
    sums, counts = np.zeros(24), np.zeros(24)
    for row in rows:
        hour = row["interval_start"].astimezone(zone).hour
        sums[hour] += row["lmp"]
        counts[hour] += 1
    if counts.min() == 0:
        raise OpfError(f"scenario.price_shape: market {market.name!r} lacks prices in some hours")
    means = sums / counts
    if means.mean() <= 0:
        raise OpfError(f"scenario.price_shape: market {market.name!r} has a mean price ≤ 0")
    return list(means / means.mean())


def interval_starts(market: Market, start: datetime | None, intervals) -> list[datetime]:
    """The interval starts: ``intervals`` datetimes as given, or that many from ``start`` at the
    market's interval length (``start`` default: the start of the current UTC day)."""
    if isinstance(intervals, bool):
        raise OpfError("intervals must be a positive whole number")
    if isinstance(intervals, (list, tuple)):
        starts = sorted({parse_time(t, "intervals") for t in intervals})
        if not starts:
            raise OpfError("intervals: give at least one")
        return starts
    if not isinstance(intervals, int) or not 1 <= intervals <= MAX_INTERVALS:
        raise OpfError(f"intervals must be a whole number from 1 to {MAX_INTERVALS}, not {intervals!r}")
    if start is None:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(minutes=market.interval_min)
    return [start + i * step for i in range(intervals)]


def compute_lmps(
    market: Market | str,
    scenario: dict | None,
    intervals: int | Sequence[datetime | str],
    *,
    ac: bool = False,
    progress: ProgressFn | None = None,
) -> dict:
    """Run an OPF per interval on the twin's network and store the bus LMPs as run ``computed``.

    Parameters
    ----------
    market
        The market (or name) whose pricing nodes sit at the twin's buses.
    scenario
        Loads, generators, prices and the start time (see :data:`DEFAULT_SCENARIO`).
    intervals
        How many intervals of the market's length from ``scenario["start"]``, or the interval
        starts themselves.
    ac
        Run an AC OPF (``pp.runopp``); intervals where it does not converge fall back to the DC
        OPF and are listed under ``ac_not_converged``.
    progress
        ``progress(fraction, message)`` callback.

    Returns
    -------
    dict
        A JSON-able summary: network counts, intervals solved and not converged, LMP statistics,
        congested intervals, storage counts, seconds spent solving and storing.

    Raises
    ------
    OpfError
        Bad scenario/intervals, unknown market, a network that cannot be built. Nothing is stored
        then; intervals where the OPF fails are reported, not raised.
    """
    progress = progress or (lambda fraction, message="": None)
    t0 = time.perf_counter()
    options = scenario_options(scenario)
    market = resolve_market(market)
    starts = interval_starts(market, options["start"], intervals)
    price_shape = options["price_shape"]
    if isinstance(price_shape, dict):
        price_shape = price_shape_from_market(price_shape["market"], price_shape.get("run"))
    progress(0.02, f"building the network of {market.name}")
    twin = build_network(market, options)
    pp = _pp()
    net = twin.net
    zone = ZoneInfo(market.time_zone)
    hours = np.array([t.astimezone(zone).hour for t in starts])
    load_factor = _hourly(options["load_shape"], hours)
    price = options["grid_price_per_mwh"] * _hourly(price_shape, hours)
    peak_p = net.load["p_mw"].to_numpy().copy()
    peak_q = net.load["q_mvar"].to_numpy().copy()
    supply = set(twin.supply)
    supply_cost = net.poly_cost.index[[(et, el) in supply for et, el in zip(
        net.poly_cost.et, net.poly_cost.element, strict=True)]]
    buses = np.array(sorted(set(twin.node_bus.values())))
    refs = np.array([twin.reference_bus[b] for b in buses])
    position = {b: i for i, b in enumerate(buses)}
    step = timedelta(minutes=market.interval_min)
    results: list[tuple[datetime, np.ndarray, np.ndarray, str]] = []
    not_converged: list[str] = []
    ac_failed: list[str] = []
    separated = 0
    t_solve = time.perf_counter()
    for i, start in enumerate(starts):
        net.load["p_mw"] = peak_p * load_factor[i]
        if ac:  # a DC OPF ignores reactive power
            net.load["q_mvar"] = peak_q * load_factor[i]
        net.poly_cost.loc[supply_cost, "cp1_eur_per_mw"] = price[i]
        method = "dcopp"
        solved = False
        if ac:
            solved = _run(pp.runopp, net)
            method = "acopp" if solved else "dcopp"
            if not solved:
                ac_failed.append(start.isoformat())
        if not solved:
            solved = _run(pp.rundcopp, net)
        if not solved:
            not_converged.append(start.isoformat())
            continue
        lam = net.res_bus.loc[buses, "lam_p"].to_numpy()
        energy = net.res_bus.loc[refs, "lam_p"].to_numpy()
        if np.ptp(lam) > 1e-6:
            separated += 1
        results.append((start, lam, energy, method))
        progress(0.05 + 0.8 * (i + 1) / len(starts), f"interval {i + 1}/{len(starts)}")
    solve_s = time.perf_counter() - t_solve
    progress(0.87, f"storing {len(results) * len(twin.node_bus)} prices")
    source = f"pandapower:{options['name']}"[:100]
    rows = []
    for start, lam, energy, method in results:
        end = start + step
        binding = method == "acopp" and _binding(net)
        for node_id, bus in twin.node_bus.items():
            k = position[bus]
            lmp, base = round(float(lam[k]), 6), round(float(energy[k]), 6)
            if method == "dcopp":  # lossless: the difference to the reference is congestion
                congestion, loss = round(lmp - base, 6), 0.0
            elif not binding:  # AC without a binding limit: the difference is losses
                congestion, loss = 0.0, round(lmp - base, 6)
            else:  # AC with a binding limit: not separable here
                congestion, loss = None, None
            rows.append({"node_id": node_id, "run": RUN, "interval_start": start,
                         "interval_end": end, "lmp_per_mwh": lmp, "energy_per_mwh": base,
                         "congestion_per_mwh": congestion, "loss_per_mwh": loss})
    t_store = time.perf_counter()
    stored = store_computed(rows, source=source)
    store_s = time.perf_counter() - t_store
    lmps = np.concatenate([r[1] for r in results]) if results else np.array([])
    progress(1.0, "done")
    return {
        "market": market.name, "run": RUN, "scenario": options["name"], "source": source,
        "method": "AC OPF (pandapower runopp), DC where it fails" if ac else "DC OPF (pandapower rundcopp)",
        "network": twin.counts, "notes": twin.notes,
        "intervals": {"requested": len(starts), "solved": len(results),
                      "not_converged": not_converged[:200], "not_converged_count": len(not_converged),
                      "ac_not_converged": ac_failed[:200] if ac else None,
                      "prices_separated": separated, "first": starts[0].isoformat(),
                      "interval_min": market.interval_min},
        "nodes_priced": len(twin.node_bus),
        "lmp_per_mwh": ({"min": float(lmps.min()), "max": float(lmps.max()),
                         "mean": float(lmps.mean()), "all_finite": bool(np.isfinite(lmps).all())}
                        if len(lmps) else None),
        "stored": stored,
        "seconds": {"solve": round(solve_s, 3), "store": round(store_s, 3),
                    "total": round(time.perf_counter() - t0, 3)},
    }


def _run(solver, net) -> bool:
    """Run one OPF; False when pandapower reports it did not converge."""
    pp = _pp()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solver(net, numba=False, verbose=False)
    except (pp.optimal_powerflow.OPFNotConverged, np.linalg.LinAlgError):
        return False
    return bool(getattr(net, "OPF_converged", True))


def _binding(net, tolerance_percent: float = 99.5) -> bool:
    loading = list(net.res_line.get("loading_percent", [])) + list(net.res_trafo.get("loading_percent", []))
    return any(v >= tolerance_percent for v in loading if v == v)


def store_computed(rows: Iterable[dict], *, source: str) -> dict:
    """Store price rows with P1's bulk upsert (:func:`markets.services.prices.store_prices`)."""
    from markets.services.storage import store_prices

    return store_prices(rows, source=source)


def compute_lmps_job(parameters: dict, progress: Progress) -> dict:
    """Job: ``{"market", "network"?, "scenario"?, "intervals", "start"?, "ac"?}`` →
    :func:`compute_lmps` (``network``: a :mod:`pandapower.networks` name or a JSON file inside
    the import folders, imported first when the market is not in the twin yet)."""
    check_parameters(parameters, allowed={"market", "network", "scenario", "intervals", "start",
                                          "ac"}, error=OpfError)
    network = job_network(parameters["network"]) if parameters.get("network") else None
    scenario = parameters.get("scenario") or {}
    if not isinstance(scenario, dict):
        raise OpfError("scenario must be a JSON object")
    if parameters.get("start"):
        scenario = {**scenario, "start": parameters["start"]}
    market = ensure_network(network, parameters.get("market") or None)
    return compute_lmps(market, scenario, parameters.get("intervals", 96),
                        ac=bool(parameters.get("ac", False)), progress=progress)
