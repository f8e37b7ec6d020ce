// The grid: lines coloured by voltage band, substations, towers and poles, EV chargers by status.
// Tiles from /tiles/{lines,substations,supports,chargers}/…; details from /api/v1/<kind>/<id>/.

import { api, config, rows } from "../config.js";
import { formatNumber, h } from "../dom.js";
import { assetDetails } from "../panel.js";
import { registerLayer, vectorTiles } from "../registry.js";

/** Voltage bands, highest first (after OpenInfraMap's colours). */
export const VOLTAGE_BANDS = [
  { min: 380, label: "≥ 380 kV", color: "#b54eb2" },
  { min: 220, label: "220–379 kV", color: "#c73030" },
  { min: 110, label: "110–219 kV", color: "#b55d00" },
  { min: 30, label: "30–109 kV", color: "#b59f10" },
  { min: 10, label: "10–29 kV", color: "#3f9e3f" },
  { min: 0, label: "< 10 kV", color: "#4f86b8" },
];
export const UNKNOWN_VOLTAGE = "#7a7a85";

/** A MapLibre expression: the colour of a feature's highest voltage (``voltage_kv``). */
export const voltageColor = [
  "case",
  ["!", ["has", "voltage_kv"]],
  UNKNOWN_VOLTAGE,
  [
    "step",
    ["to-number", ["get", "voltage_kv"]],
    ...[...VOLTAGE_BANDS].reverse().flatMap((band, i) => (i === 0 ? [band.color] : [band.min, band.color])),
  ],
];

/** Line width grows with zoom and voltage. */
function lineWidth(scale = 1, extra = 0) {
  const byVoltage = (base) => [
    "+",
    extra,
    ["*", scale, ["step", ["coalesce", ["get", "voltage_kv"], 0], base, 30, base * 1.5, 110, base * 2, 220, base * 2.6]],
  ];
  return ["interpolate", ["linear"], ["zoom"], 5, byVoltage(0.6), 10, byVoltage(1.2), 14, byVoltage(2), 18, byVoltage(3.2)];
}

export const CHARGER_STATUS = [
  { value: "available", label: "available", color: "#1f9d55" },
  { value: "charging", label: "charging", color: "#2b6cb0" },
  { value: "blocked", label: "blocked", color: "#dd8a00" },
  { value: "out_of_order", label: "out of order", color: "#d0312d" },
  { value: "planned", label: "planned", color: "#8e5cc2" },
  { value: "removed", label: "removed", color: "#555555" },
  { value: "unknown", label: "status unknown", color: "#9aa3ad" },
];

export const SUPPORT_KINDS = [
  { value: "tower", label: "tower", color: "#2f3b45" },
  { value: "pole", label: "pole", color: "#8c6d46" },
  { value: "portal", label: "portal", color: "#5a5a9a" },
];

const LINE_KINDS = { line: "overhead line", minor_line: "minor line", cable: "underground cable" };

const match = (property, items, fallback) => [
  "match",
  ["coalesce", ["get", property], ""],
  ...items.flatMap((item) => [item.value, item.color]),
  fallback,
];

/** All voltage levels of a feature in kV: from a tile ("110;16") or from the API ([110, 16]). */
export function voltagesOf(properties) {
  if (Array.isArray(properties.voltages_kv)) return properties.voltages_kv.map(Number);
  if (typeof properties.voltages === "string" && properties.voltages) {
    return properties.voltages.split(";").map(Number);
  }
  if (properties.voltage_kv !== undefined && properties.voltage_kv !== null) return [Number(properties.voltage_kv)];
  return [];
}

export function formatVoltages(properties) {
  const levels = voltagesOf(properties);
  return levels.length ? `${levels.map((v) => formatNumber(v)).join(" / ")} kV` : "unknown";
}

/** A search over one API resource, giving GeoJSON features tagged with the layer. */
function apiSearch(kind, describe) {
  return async (query, { signal }) => {
    const url = config.apiUrls[kind];
    if (!url) return [];
    const page = await api(`${url}?search=${encodeURIComponent(query)}&page_size=5`, { signal });
    return rows(page).map((feature) => ({
      label: feature.properties.name || feature.properties.ref || `#${feature.id}`,
      detail: describe(feature.properties),
      feature,
    }));
  };
}

const label = (properties, fallback) => properties.name || properties.ref || fallback;

registerLayer({
  id: "lines",
  title: "Power lines",
  source: vectorTiles("lines", { minzoom: 0, maxzoom: 15 }),
  layers: [
    {
      id: "casing",
      type: "line",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#ffffff", "line-opacity": 0.85, "line-width": lineWidth(1, 2.5) },
    },
    {
      id: "overhead",
      type: "line",
      filter: ["!=", ["get", "kind"], "cable"],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": voltageColor, "line-width": lineWidth() },
    },
    {
      id: "cable",
      type: "line",
      filter: ["==", ["get", "kind"], "cable"],
      paint: { "line-color": voltageColor, "line-width": lineWidth(), "line-dasharray": [2, 1.5] },
    },
  ],
  legend: [
    ...VOLTAGE_BANDS.map((band) => ({ label: band.label, color: band.color, shape: "line" })),
    { label: "voltage unknown", color: UNKNOWN_VOLTAGE, shape: "line" },
    { label: "cable", color: "#444", shape: "line", dashed: true },
  ],
  popup: (feature, context) =>
    assetDetails(feature, context, {
      model: "line",
      kind: LINE_KINDS[feature.properties.kind] || "power line",
      title: label(feature.properties, "unnamed line"),
      rows: (p) => [
        ["Voltage", formatVoltages(p)],
        ["Type", LINE_KINDS[p.kind] || p.kind],
        ["Circuits", p.circuits],
        ["Length", p.length_m ? `${formatNumber(p.length_m / 1000, 2)} km` : null],
        ["Operator", p.operator],
        ["Ref", p.ref],
      ],
    }),
  search: apiSearch("line", (p) => `${LINE_KINDS[p.kind] || "line"} · ${formatVoltages(p)}`),
});

registerLayer({
  id: "substations",
  title: "Substations",
  source: vectorTiles("substations", { minzoom: 0, maxzoom: 15 }),
  layers: [
    {
      id: "area",
      type: "fill",
      filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": voltageColor, "fill-opacity": 0.35 },
    },
    {
      id: "outline",
      type: "line",
      filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "line-color": voltageColor, "line-width": 2 },
    },
    {
      id: "point",
      type: "circle",
      filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-color": voltageColor,
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 3, 10, 5, 14, 8],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1.5,
      },
    },
  ],
  legend: [{ label: "coloured by voltage", color: VOLTAGE_BANDS[2].color, shape: "square" }],
  popup: (feature, context) =>
    assetDetails(feature, context, {
      model: "substation",
      kind: "Substation",
      title: label(feature.properties, "unnamed substation"),
      rows: (p) => [
        ["Voltages", formatVoltages(p)],
        ["Rating", p.rating_mva ? `${formatNumber(p.rating_mva)} MVA` : null],
        ["Commissioned", p.commissioned],
        ["Operator", p.operator],
        ["Ref", p.ref],
      ],
    }),
  search: apiSearch("substation", (p) => `substation · ${formatVoltages(p)}`),
});

registerLayer({
  id: "supports",
  title: "Towers and poles",
  source: vectorTiles("supports", { minzoom: 13, maxzoom: 15 }),
  layers: [
    {
      id: "point",
      type: "circle",
      minzoom: 13,
      paint: {
        "circle-color": match("kind", SUPPORT_KINDS, "#2f3b45"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 2.5, 16, 4.5, 19, 7],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1,
      },
    },
  ],
  legend: [
    ...SUPPORT_KINDS.map((kind) => ({ label: kind.label, color: kind.color, shape: "circle" })),
  ],
  popup: (feature, context) =>
    assetDetails(feature, context, {
      model: "support",
      kind: feature.properties.kind ? `Support (${feature.properties.kind})` : "Support",
      title: label(feature.properties, `${feature.properties.kind || "support"} #${feature.id}`),
      rows: (p) => [
        ["Type", p.kind],
        ["Height", p.height_m ? `${formatNumber(p.height_m)} m` : null],
        ["Material", p.material],
        ["Operator", p.operator],
        ["Ref", p.ref],
      ],
    }),
  search: apiSearch("support", (p) => `${p.kind || "support"}${p.ref ? ` · ref ${p.ref}` : ""}`),
});

registerLayer({
  id: "chargers",
  title: "EV chargers",
  source: vectorTiles("chargers", { minzoom: 10, maxzoom: 15 }),
  layers: [
    {
      id: "point",
      type: "circle",
      minzoom: 10,
      paint: {
        "circle-color": match("status", CHARGER_STATUS, "#9aa3ad"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 4, 14, 7, 18, 10],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 2,
      },
    },
  ],
  legend: CHARGER_STATUS.map((s) => ({ label: s.label, color: s.color, shape: "circle" })),
  popup: (feature, context) =>
    assetDetails(feature, context, {
      model: "charger",
      kind: "EV charger",
      title: label(feature.properties, "charging station"),
      rows: (p) => [
        ["Status", statusBadge(p.status)],
        ["Network", p.network],
        ["Operator", p.operator],
        ["Access", p.access],
        ["Address", [p.address, p.city].filter(Boolean).join(", ")],
        ["Charging points", Array.isArray(p.evses) ? connectorsSummary(p.evses) : null],
        ["Ref", p.ref],
      ],
    }),
  search: apiSearch("charger", (p) => `charger · ${p.status || "status unknown"}`),
});

function statusBadge(status) {
  const item = CHARGER_STATUS.find((s) => s.value === status) || CHARGER_STATUS.at(-1);
  return h("span", { class: "badge", style: { background: item.color } }, item.label);
}

function connectorsSummary(evses) {
  const connectors = evses.flatMap((evse) => evse.connectors || []);
  const power = Math.max(0, ...connectors.map((c) => c.power_kw || 0));
  return `${evses.length} (${connectors.length} connectors${power ? `, up to ${formatNumber(power)} kW` : ""})`;
}
