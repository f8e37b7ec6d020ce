// Nodal prices and carbon on the map: pricing nodes coloured by price, the interpolated price
// surface (a PNG image overlay, EPSG:3857, transparent outside the nodes' coverage), service areas
// coloured by carbon intensity, a time slider across the market run's intervals, a legend with a
// data-driven or fixed colour scale, and a node's price and carbon over time as an SVG chart.
//
// Data: /api/v1/markets/, /api/v1/prices/intervals/ and /api/v1/prices/series/ (market data),
// /api/v1/overlays/ (points, voronoi, surface). Optional: with no market holding prices the
// layers are dropped and no control is shown. For tests: window.gridtwinPrices.

import { api, config, rows } from "../config.js";
import { formatNumber, h } from "../dom.js";
import { attributeList } from "../panel.js";
import { dropLayer, getLayer, isVisible, registerLayer, registeredLayers } from "../registry.js";

const API_ROOT = config.apiRoot || "/api/v1/";
const URLS = {
  markets: `${API_ROOT}markets/`,
  intervals: `${API_ROOT}prices/intervals/`,
  series: `${API_ROOT}prices/series/`,
  overlays: `${API_ROOT}overlays/`,
};
const RUNS = ["real-time", "day-ahead", "computed", "forward"];
const EMPTY = { type: "FeatureCollection", features: [] };
// Low prices blue, high prices red; the server renders the surface with the same ramp and sends
// it in every overlay's stats (``colors``), which wins over this default.
const PRICE_RAMP = ["#313695", "#4575b4", "#74add1", "#abd9e9", "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026"];
// Carbon intensity on a fixed scale (gCO2/kWh), low green to high brown-red.
const CARBON_STOPS = [
  [0, "#1a9850"],
  [150, "#91cf60"],
  [300, "#d9ef8b"],
  [450, "#fee08b"],
  [600, "#fc8d59"],
  [800, "#d73027"],
];
const NO_CARBON = "#b8bec4";
const SERIES_MAX_MS = 7 * 24 * 3600 * 1000;
const DEBOUNCE_MS = 150;

const state = {
  map: null,
  markets: [],
  market: null,
  run: null,
  intervals: [],
  index: -1,
  at: null,
  points: null,
  surface: null,
  fixedDomain: null,
  domain: null,
  colors: PRICE_RAMP,
  controller: null,
  timer: null,
  panel: null,
};

function ramp(property, domain, colors) {
  const [low, high] = domain || [0, 0];
  if (!(high > low)) return colors[Math.floor(colors.length / 2)];
  const stops = colors.flatMap((color, i) => [low + ((high - low) * i) / (colors.length - 1), color]);
  return ["interpolate", ["linear"], ["to-number", ["get", property]], ...stops];
}

const carbonColor = [
  "case",
  ["==", ["typeof", ["get", "carbon_g_per_kwh"]], "number"],
  ["interpolate", ["linear"], ["get", "carbon_g_per_kwh"], ...CARBON_STOPS.flat()],
  NO_CARBON,
];

// --- layers ----------------------------------------------------------------------------------
registerLayer({
  id: "carbon",
  title: "Carbon intensity (service areas)",
  source: { type: "geojson", data: EMPTY },
  layers: [
    { id: "fill", type: "fill", paint: { "fill-color": carbonColor, "fill-opacity": 0.45 } },
    {
      id: "outline",
      type: "line",
      paint: { "line-color": "#ffffff", "line-width": 0.6, "line-opacity": 0.8 },
      metadata: { "gridtwin:interactive": false },
    },
  ],
  legend: [
    ...CARBON_STOPS.map(([value, color]) => ({ label: `${value} g/kWh`, color, shape: "square" })),
    { label: "no carbon data", color: NO_CARBON, shape: "square" },
  ],
  popup: (feature, context) => nodePopup(feature, context),
  visible: false,
  optional: true,
  order: 40,
});

registerLayer({
  id: "prices",
  title: "Nodal prices",
  source: { type: "geojson", data: EMPTY },
  layers: [
    {
      id: "nodes",
      type: "circle",
      paint: {
        "circle-color": PRICE_RAMP[4],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 6, 3, 10, 6, 14, 9],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1.2,
      },
    },
  ],
  legend: [
    { label: "low price", color: PRICE_RAMP[0], shape: "circle" },
    { label: "high price", color: PRICE_RAMP.at(-1), shape: "circle" },
  ],
  popup: (feature, context) => nodePopup(feature, context),
  optional: true,
  order: 300,
});

const SURFACE = {
  id: "price-surface",
  title: "Price surface (interpolated)",
  layers: [{ id: "image", type: "raster", paint: { "raster-opacity": 0.6, "raster-fade-duration": 0 } }],
  legend: [{ label: "inside the nodes' coverage only", color: PRICE_RAMP[2], shape: "square" }],
  interactive: false,
  optional: true,
  order: 45,
};

function layersChanged() {
  document.dispatchEvent(new Event("gridtwin:layers-changed"));
}

/** Put a layer added after the map's first style load where its ``order`` says. */
function placeByOrder(map, def) {
  const above = registeredLayers()
    .filter((other) => other.order > def.order && other.available)
    .flatMap((other) => other.styleLayers.map((spec) => spec.id))
    .find((id) => map.getLayer(id));
  if (!above) return;
  for (const spec of def.styleLayers) if (map.getLayer(spec.id)) map.moveLayer(spec.id, above);
}

function showSurface(url, coordinates) {
  const { map } = state;
  const absolute = new URL(url, location.href).href;
  const def = getLayer(SURFACE.id);
  if (def?.available) {
    def.source.url = absolute; // a style reload re-adds the source from here
    def.source.coordinates = coordinates;
    map.getSource(SURFACE.id)?.updateImage({ url: absolute, coordinates });
    return;
  }
  const added = registerLayer({ ...SURFACE, source: { type: "image", url: absolute, coordinates } });
  // Add this layer only (the map's next style load adds it with all the others).
  if (!map.getSource(added.id)) map.addSource(added.id, added.source);
  const visibility = isVisible(added.id) ? "visible" : "none";
  for (const spec of added.styleLayers) {
    if (!map.getLayer(spec.id)) map.addLayer({ ...spec, layout: { ...(spec.layout || {}), visibility } });
  }
  placeByOrder(map, added);
  layersChanged();
}

function hideSurface() {
  if (getLayer(SURFACE.id)?.available) {
    dropLayer(state.map, SURFACE.id);
    layersChanged();
  }
}

// --- formatting ------------------------------------------------------------------------------
function currencyUnit() {
  return `${state.market?.currency || ""}/MWh`.trim();
}

function formatPrice(value) {
  if (value === null || value === undefined || value === "") return null;
  return `${formatNumber(value, 2)} ${currencyUnit()}`;
}

function formatTime(iso, withZone = true) {
  const options = withZone
    ? { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (state.market?.time_zone) options.timeZone = state.market.time_zone;
  if (withZone) options.timeZoneName = "short";
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return iso;
  }
}

// --- the control: market, run, time slider, legend ---------------------------------------------
function injectStyle() {
  if (document.getElementById("prices-style")) return;
  const style = document.createElement("style");
  style.id = "prices-style";
  style.textContent = `
    .price-panel { position: absolute; z-index: 2; left: 8px; right: 8px; bottom: 30px; padding: 8px 12px;
      font-size: 0.85rem; }
    .price-panel .row { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; }
    .price-panel select { font: inherit; min-height: 36px; border: 1px solid var(--line); border-radius: 8px;
      background: var(--surface); color: var(--ink); }
    .price-panel input[type=range] { flex: 1 1 180px; min-height: 36px; accent-color: var(--accent); }
    .price-panel .when { font-weight: 600; min-width: 14ch; }
    .price-panel .button { min-height: 36px; min-width: 0; font-size: 0.85rem; }
    .price-scale { display: grid; grid-template-columns: auto 1fr auto; gap: 2px 8px; align-items: center;
      margin-top: 4px; }
    .price-scale .bar { height: 10px; border-radius: 5px; }
    .price-scale .unit { grid-column: 1 / -1; color: var(--muted); }
    .price-chart { width: 100%; height: auto; margin-top: 8px; font-size: 10px; }
    .price-chart text { fill: var(--muted); }
    @media (min-width: 641px) {
      .price-panel { left: 50%; right: auto; width: 440px; transform: translateX(-50%); bottom: 36px; }
    }`;
  document.head.append(style);
}

function createControl() {
  injectStyle();
  const marketSelect = h("select", { id: "price-market", "aria-label": "Market" });
  const runSelect = h("select", { id: "price-run", "aria-label": "Market run" });
  const slider = h("input", { type: "range", id: "price-time", min: 0, max: 0, step: 1, value: 0, "aria-label": "Price interval" });
  const when = h("span", { class: "when", id: "price-time-label" }, "");
  const fixed = h("input", { type: "checkbox", id: "price-fixed-scale" });
  const low = h("span", { "data-role": "min" });
  const high = h("span", { "data-role": "max" });
  const bar = h("div", { class: "bar" });
  const unit = h("span", { class: "unit" });
  const status = h("p", { class: "muted", "data-role": "status", hidden: true });
  const zoom = h("button", { type: "button", class: "button", id: "price-zoom", title: "Zoom to the pricing nodes" }, "Zoom to nodes");
  const panel = h(
    "section",
    { id: "price-panel", class: "card price-panel", "aria-label": "Prices over time" },
    h("div", { class: "row" }, marketSelect, runSelect, when),
    h("div", { class: "row" }, slider, zoom),
    h("div", { class: "price-scale" }, low, bar, high, unit),
    h("label", { class: "row" }, fixed, "Fixed colour scale (keep it while sliding)"),
    status,
  );
  document.body.append(panel);

  marketSelect.addEventListener("change", () => selectMarket(marketSelect.value));
  runSelect.addEventListener("change", () => selectRun(runSelect.value));
  slider.addEventListener("input", () => schedule(Number(slider.value)));
  zoom.addEventListener("click", zoomToNodes);
  fixed.addEventListener("change", () => {
    state.fixedDomain = fixed.checked ? state.domain : null;
    if (state.index >= 0) schedule(state.index, 0);
  });
  return { panel, marketSelect, runSelect, slider, when, low, high, bar, unit, status };
}

function zoomToNodes() {
  const features = state.points?.features || [];
  if (!features.length) return;
  const lons = features.map((f) => f.geometry.coordinates[0]);
  const lats = features.map((f) => f.geometry.coordinates[1]);
  state.map.fitBounds(
    [
      [Math.min(...lons), Math.min(...lats)],
      [Math.max(...lons), Math.max(...lats)],
    ],
    { padding: 40, maxZoom: 14, duration: 0 },
  );
}

function setStatus(text) {
  state.panel.status.textContent = text || "";
  state.panel.status.hidden = !text;
}

function renderLegend() {
  const { panel } = state;
  const [lowValue, highValue] = state.domain || [null, null];
  const stats = state.points?.stats || {};
  // Prices beyond the scale take its end colours: say so.
  const below = lowValue !== null && stats.min < lowValue ? "≤ " : "";
  const above = highValue !== null && stats.max > highValue ? "≥ " : "";
  panel.low.textContent = lowValue === null ? "–" : `${below}${formatNumber(lowValue, 2)}`;
  panel.high.textContent = highValue === null ? "–" : `${above}${formatNumber(highValue, 2)}`;
  panel.bar.style.background = `linear-gradient(to right, ${state.colors.join(", ")})`;
  panel.unit.textContent = `${currencyUnit()} · ${state.fixedDomain ? "fixed scale" : "scale of this interval"}`;
}

// --- data ------------------------------------------------------------------------------------
async function intervalsOf(market, run) {
  const query = new URLSearchParams({ market: market.name, run });
  const answer = await api(`${URLS.intervals}?${query}`);
  return answer?.intervals || [];
}

async function selectMarket(name) {
  state.market = state.markets.find((m) => m.name === name) || null;
  const { runSelect } = state.panel;
  runSelect.replaceChildren(...RUNS.map((run) => h("option", { value: run }, run)));
  for (const run of RUNS) {
    const intervals = await intervalsOf(state.market, run);
    if (intervals.length) {
      runSelect.value = run;
      return selectRun(run, intervals);
    }
  }
  return selectRun(RUNS[0], []);
}

async function selectRun(run, known) {
  state.run = run;
  state.intervals = known || (await intervalsOf(state.market, run));
  const { slider } = state.panel;
  slider.max = Math.max(0, state.intervals.length - 1);
  slider.disabled = !state.intervals.length;
  if (!state.intervals.length) {
    state.panel.when.textContent = "";
    setStatus(`No ${run} prices for ${state.market.name}.`);
    state.map.getSource("prices")?.setData(EMPTY);
    state.map.getSource("carbon")?.setData(EMPTY);
    hideSurface();
    return;
  }
  // The latest interval that has started, else the first.
  const now = Date.now();
  let index = 0;
  state.intervals.forEach((iso, i) => {
    if (Date.parse(iso) <= now) index = i;
  });
  slider.value = index;
  await show(index);
}

function schedule(index, delay = DEBOUNCE_MS) {
  clearTimeout(state.timer);
  state.panel.panel.dataset.loading = "true";
  state.panel.when.textContent = formatTime(state.intervals[index]);
  state.timer = setTimeout(() => show(index), delay);
}

async function show(index) {
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  const { signal } = controller;
  const at = state.intervals[index];
  const { panel } = state.panel;
  panel.dataset.loading = "true";
  state.panel.when.textContent = formatTime(at);
  const query = new URLSearchParams({ market: state.market.name, run: state.run, at });
  const overlay = (params) => api(`${URLS.overlays}?${query}&${new URLSearchParams(params)}`, { signal });
  try {
    const [points, surface, cells] = await Promise.all([
      overlay({ kind: "points" }),
      overlay({ kind: "surface", format: "json" }).catch((error) => {
        if (error.name === "AbortError") throw error;
        return null; // e.g. fewer than three located nodes: no surface, the points still show
      }),
      overlay({ kind: "voronoi" }).catch((error) => {
        if (error.name === "AbortError") throw error;
        return null;
      }),
    ]);
    if (signal.aborted) return;
    state.index = index;
    state.at = at;
    state.points = points;
    state.colors = points.stats?.colors || PRICE_RAMP;
    state.domain = state.fixedDomain || points.stats?.domain || null;
    const { map } = state;
    map.getSource("prices")?.setData(points);
    if (map.getLayer("prices-nodes")) map.setPaintProperty("prices-nodes", "circle-color", ramp("lmp_per_mwh", state.domain, state.colors));
    map.getSource("carbon")?.setData(cells || EMPTY);
    if (surface?.png_url) {
      const url = new URL(surface.png_url, location.href);
      if (state.domain) {
        url.searchParams.set("vmin", state.domain[0]);
        url.searchParams.set("vmax", state.domain[1]);
      }
      state.surface = { ...surface, png_url: url.href };
      showSurface(url.href, surface.coordinates);
    } else {
      state.surface = null;
      hideSurface();
    }
    renderLegend();
    setStatus(surface ? "" : "No price surface for this interval (too few located nodes).");
    panel.dataset.interval = at;
    panel.dataset.loading = "false";
    panel.dataset.ready = "true";
  } catch (error) {
    if (error.name === "AbortError") return;
    panel.dataset.loading = "false";
    setStatus(`Prices unavailable: ${error.message}`);
    console.warn("GridTwin: price overlays unavailable", error);
  }
}

// --- the node panel and its chart ------------------------------------------------------------
function seriesRange() {
  const first = Date.parse(state.intervals[0]);
  const interval = (state.market?.interval_min || 60) * 60000;
  const last = Date.parse(state.intervals.at(-1)) + interval;
  const current = Date.parse(state.at);
  let start = Math.max(first, current - SERIES_MAX_MS / 2);
  const end = Math.min(last, start + SERIES_MAX_MS);
  start = Math.max(first, Math.min(start, end - SERIES_MAX_MS));
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

function nodePopup(feature, context) {
  const p = feature.properties || {};
  const chart = h("div", { class: "price-history" }, h("p", { class: "muted loading" }, "Loading price history…"));
  const body = h(
    "div",
    { class: "price-node" },
    h("p", { class: "muted" }, `${state.market?.name || ""} ${state.run || ""} · ${formatTime(state.at)}`),
    attributeList([
      ["LMP", formatPrice(p.lmp_per_mwh)],
      ["Energy", formatPrice(p.energy_per_mwh)],
      ["Congestion", formatPrice(p.congestion_per_mwh)],
      ["Losses", formatPrice(p.loss_per_mwh)],
      ["GHG", formatPrice(p.ghg_per_mwh)],
      ["Carbon", typeof p.carbon_g_per_kwh === "number" ? `${formatNumber(p.carbon_g_per_kwh, 0)} g/kWh` : "no data"],
      ["Node", [p.code, p.kind, p.area].filter(Boolean).join(" · ")],
    ]),
    chart,
  );
  const [start, end] = seriesRange();
  const query = new URLSearchParams({ node: p.id ?? feature.id, run: state.run, start, end });
  api(`${URLS.series}?${query}`, { signal: context.signal })
    .then((series) => chart.replaceChildren(priceChart(series)))
    .catch((error) => {
      if (error.name === "AbortError") return;
      chart.replaceChildren(h("p", { class: "muted" }, `Price history unavailable (${error.message}).`));
    });
  return { kind: "Pricing node", title: p.name || p.code || `node ${feature.id}`, body };
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

/** A step line of ``points`` ([time ms, value]) scaled into the plot box. */
function stepPath(points, x, y) {
  let d = "";
  points.forEach(([t0, t1, value], i) => {
    d += `${i === 0 || points[i - 1][1] !== t0 ? "M" : "L"}${x(t0).toFixed(1)},${y(value).toFixed(1)}L${x(t1).toFixed(1)},${y(value).toFixed(1)}`;
  });
  return d;
}

/** The node's price (left axis) and carbon intensity (right axis) over time, hand-drawn SVG. */
export function priceChart(series) {
  const prices = (series.prices || [])
    .filter((r) => typeof r.lmp_per_mwh === "number")
    .map((r) => [Date.parse(r.interval_start), Date.parse(r.interval_end), r.lmp_per_mwh]);
  const carbon = (series.carbon || [])
    .filter((r) => typeof r.average_g_per_kwh === "number")
    .map((r) => [Date.parse(r.interval_start), Date.parse(r.interval_end), r.average_g_per_kwh]);
  if (!prices.length) return h("p", { class: "muted" }, "No prices in this period.");
  const width = 320;
  const height = 170;
  const box = { left: 44, right: carbon.length ? 40 : 10, top: 14, bottom: 24 };
  const t0 = Math.min(...prices.map((p) => p[0]), ...carbon.map((c) => c[0]));
  const t1 = Math.max(...prices.map((p) => p[1]), ...carbon.map((c) => c[1]));
  const scale = (values) => {
    let low = Math.min(...values);
    let high = Math.max(...values);
    if (!(high > low)) [low, high] = [low - 1, high + 1];
    return [low, high];
  };
  const [pLow, pHigh] = scale(prices.map((p) => p[2]));
  const x = (t) => box.left + ((t - t0) / (t1 - t0 || 1)) * (width - box.left - box.right);
  const yOf = (low, high) => (v) => box.top + (1 - (v - low) / (high - low)) * (height - box.top - box.bottom);
  const yPrice = yOf(pLow, pHigh);
  const currency = series.currency || state.market?.currency || "";
  const chart = svg(
    "svg",
    { class: "price-chart", viewBox: `0 0 ${width} ${height}`, role: "img", "data-role": "price-chart" },
    svg("title", {}, `Price${carbon.length ? " and carbon intensity" : ""} over time`),
    svg("rect", { x: box.left, y: box.top, width: width - box.left - box.right, height: height - box.top - box.bottom, fill: "#f6f8fa" }),
    svg("path", { d: stepPath(prices, x, yPrice), fill: "none", stroke: "#c0392b", "stroke-width": 1.4, "data-series": "price" }),
    svg("text", { x: 2, y: yPrice(pHigh) + 4 }, formatNumber(pHigh, 0)),
    svg("text", { x: 2, y: yPrice(pLow) + 4 }, formatNumber(pLow, 0)),
    svg("text", { x: box.left, y: 10, fill: "#c0392b" }, `LMP ${currency}/MWh`),
    svg("text", { x: box.left, y: height - 6 }, formatTime(new Date(t0).toISOString(), false)),
    svg("text", { x: width - box.right, y: height - 6, "text-anchor": "end" }, formatTime(new Date(t1).toISOString(), false)),
  );
  if (carbon.length) {
    const [cLow, cHigh] = scale(carbon.map((c) => c[2]));
    const yCarbon = yOf(cLow, cHigh);
    chart.append(
      svg("path", { d: stepPath(carbon, x, yCarbon), fill: "none", stroke: "#2e7d32", "stroke-width": 1.4, "stroke-dasharray": "4 2", "data-series": "carbon" }),
      svg("text", { x: width - 2, y: yCarbon(cHigh) + 4, "text-anchor": "end" }, formatNumber(cHigh, 0)),
      svg("text", { x: width - 2, y: yCarbon(cLow) + 4, "text-anchor": "end" }, formatNumber(cLow, 0)),
      svg("text", { x: width - box.right, y: 10, "text-anchor": "end", fill: "#2e7d32" }, "carbon g/kWh"),
    );
  }
  if (state.at) {
    const now = x(Date.parse(state.at));
    chart.append(svg("line", { x1: now, x2: now, y1: box.top, y2: height - box.bottom, stroke: "#12344d", "stroke-width": 1, "data-role": "now" }));
  }
  return chart;
}

// --- start -----------------------------------------------------------------------------------
function whenMapReady() {
  return new Promise((resolve) => {
    const tick = () => (window.gridtwin?.loaded ? window.gridtwin.loaded.then(() => resolve(window.gridtwin.map)) : setTimeout(tick, 50));
    tick();
  });
}

function dropAll(map) {
  for (const id of ["prices", "carbon", SURFACE.id]) if (getLayer(id)) dropLayer(map, id);
  layersChanged();
}

async function start() {
  const map = await whenMapReady();
  state.map = map;
  let markets = [];
  try {
    markets = rows(await api(`${URLS.markets}?page_size=100`));
  } catch (error) {
    console.warn("GridTwin: markets unavailable", error.message);
  }
  state.markets = markets;
  if (!markets.length) {
    dropAll(map);
    return;
  }
  state.panel = createControl();
  state.panel.marketSelect.replaceChildren(...markets.map((m) => h("option", { value: m.name }, m.name)));
  // The first market that has prices in any run.
  for (const market of markets) {
    state.panel.marketSelect.value = market.name;
    await selectMarket(market.name);
    if (state.intervals.length) return;
  }
  dropAll(map);
  state.panel.panel.hidden = true;
}

const ready = start().catch((error) => {
  console.warn("GridTwin: prices layer unavailable", error);
});

window.gridtwinPrices = { state, ready, show: (index) => show(index), priceChart };
