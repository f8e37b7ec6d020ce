// Drone routes: the flights of the newest flight plan (or of the plan given as ?plan=ID in the
// page's address), each in its own colour, with the plan's ports and targets, from
// GET /api/v1/flight-plans/{latest|ID}/map/ (one GeoJSON FeatureCollection; the features'
// "role" is flight, port or target). The no-fly zones come from /api/v1/no-fly-zones/.
// Both layers are optional: with no plan (404) or no routing API the map works without them.

import { config } from "../config.js";
import { formatNumber, h } from "../dom.js";
import { attributeList } from "../panel.js";
import { registerLayer } from "../registry.js";

/** One colour per flight (by its sequence number, repeating after eight). */
export const FLIGHT_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6a3d9a", "#8c564b"];
const PORT_COLOR = "#1d2733";
const SKIPPED_COLOR = "#d0312d";
const NO_FLY_COLOR = "#c0392b";

const apiRoot = config.apiRoot || "/api/v1/";
const selectedPlan = new URLSearchParams(location.search).get("plan");

/** The map feed of the plan this page shows. */
export function planMapUrl() {
  const path = selectedPlan && /^\d+$/.test(selectedPlan) ? `flight-plans/${selectedPlan}/map/` : "flight-plans/latest/map/";
  return `${location.origin}${apiRoot}${path}`;
}

/** A MapLibre expression: the colour of flight number ``property`` (1, 2, …). */
const flightColor = (property) => [
  "to-color",
  ["at", ["%", ["-", ["to-number", ["get", property], 1], 1], FLIGHT_COLORS.length], ["literal", FLIGHT_COLORS]],
];

const role = (value) => ["==", ["get", "role"], value];

/** Properties of rendered GeoJSON features hold nested values as JSON text: read them back. */
function parsed(value, fallback) {
  if (typeof value !== "string") return value ?? fallback;
  try {
    return JSON.parse(value);
  } catch {
    return fallback;
  }
}

/** ``1234.5`` s → ``20 min 35 s``. */
export function formatDuration(seconds) {
  const total = Math.round(Number(seconds) || 0);
  const minutes = Math.floor(total / 60);
  return minutes ? `${minutes} min ${total % 60} s` : `${total} s`;
}

const formatLength = (metres) => (Number(metres) >= 1000 ? `${formatNumber(metres / 1000, 2)} km` : `${formatNumber(metres, 0)} m`);

function downloadLink(href, label, roleName) {
  return href ? h("a", { class: "button", href, download: "", "data-role": roleName }, label) : null;
}

function flightPanel(feature) {
  const p = feature.properties;
  const targets = parsed(p.targets, []);
  const exports = parsed(p.exports, {});
  const planExports = parsed(p.plan_exports, {});
  const color = FLIGHT_COLORS[(Number(p.sequence) - 1) % FLIGHT_COLORS.length];
  return {
    kind: "Drone flight",
    title: `Flight ${p.sequence} from ${p.port_name || "its port"}`,
    body: h(
      "div",
      { class: "flight", "data-flight": p.sequence },
      h("p", {}, h("span", { class: "swatch line", style: { "--swatch": color }, "aria-hidden": "true" }), ` ${p.plan_name || "flight plan"}`),
      attributeList([
        ["Port", p.port_name],
        ["Drone", `drone ${p.drone_number}${Number(p.sortie) > 1 ? `, sortie ${p.sortie} (after recharging)` : ""}`],
        ["Length", formatLength(p.length_m)],
        ["Duration", formatDuration(p.duration_s)],
        ["Targets", String(targets.length)],
      ]),
      targets.length ? h("ol", { class: "targets", "data-role": "targets" }, targets.map((key) => h("li", {}, key))) : null,
      h(
        "div",
        { class: "links" },
        downloadLink(exports.plan, "Mission (.plan)", "export-plan"),
        downloadLink(exports.waypoints, "Waypoints (WPL)", "export-waypoints"),
        downloadLink(planExports.kml, "Plan KML", "export-kml"),
        downloadLink(planExports.geojson, "Plan GeoJSON", "export-geojson"),
      ),
    ),
  };
}

function targetPanel(feature) {
  const p = feature.properties;
  const visited = p.visited === true || p.visited === "true";
  return {
    kind: visited ? "Inspection target" : "Skipped target",
    title: p.name || p.target,
    body: attributeList([
      ["Target", p.target],
      ["Kind", p.kind],
      ["Flight", visited ? `flight ${p.flight}, stop ${p.stop}` : null],
      ["Skipped", visited ? null : p.reason || "not visited"],
    ]),
  };
}

function portPanel(feature) {
  const p = feature.properties;
  return { kind: "Drone port", title: p.name, body: attributeList([["Drones held", p.capacity]]) };
}

registerLayer({
  id: "no-fly",
  title: "No-fly zones",
  optional: true,
  source: { type: "geojson", data: `${location.origin}${apiRoot}no-fly-zones/?active=true&page_size=1000` },
  layers: [
    { id: "area", type: "fill", paint: { "fill-color": NO_FLY_COLOR, "fill-opacity": 0.12 } },
    {
      id: "outline",
      type: "line",
      metadata: { "gridtwin:interactive": false },
      paint: { "line-color": NO_FLY_COLOR, "line-width": 1.5, "line-dasharray": [3, 2] },
    },
  ],
  legend: [{ label: "no drones (airfield, heliport, military …)", color: NO_FLY_COLOR, shape: "fill" }],
  popup: (feature) => {
    const p = feature.properties;
    return {
      kind: "No-fly zone",
      title: p.name || p.kind,
      body: attributeList([
        ["Kind", p.kind],
        ["Altitudes", `${formatNumber(p.floor_m ?? 0, 0)} m – ${p.ceiling_m === null || p.ceiling_m === undefined ? "unlimited" : `${formatNumber(p.ceiling_m, 0)} m`}`],
        ["Buffer", p.buffer_m ? `${formatNumber(p.buffer_m, 0)} m` : null],
        ["Source", p.source_id || p.source],
      ]),
    };
  },
});

registerLayer({
  id: "routes",
  title: "Drone routes",
  optional: true,
  source: { type: "geojson", data: planMapUrl() },
  layers: [
    {
      id: "casing",
      type: "line",
      filter: role("flight"),
      metadata: { "gridtwin:interactive": false },
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 4, 16, 8] },
    },
    {
      id: "flights",
      type: "line",
      filter: role("flight"),
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": flightColor("sequence"), "line-width": ["interpolate", ["linear"], ["zoom"], 10, 2, 16, 4.5] },
    },
    {
      id: "targets",
      type: "circle",
      filter: role("target"),
      paint: {
        "circle-color": ["case", ["to-boolean", ["get", "visited"]], flightColor("flight"), SKIPPED_COLOR],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 3, 16, 6],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1.5,
      },
    },
    {
      id: "ports",
      type: "circle",
      filter: role("port"),
      paint: {
        "circle-color": PORT_COLOR,
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 5, 16, 9],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 3,
      },
    },
  ],
  legend: [
    ...FLIGHT_COLORS.slice(0, 3).map((color, i) => ({ label: `flight ${i + 1}`, color, shape: "line" })),
    { label: "drone port", color: PORT_COLOR, shape: "circle" },
    { label: "target (colour of its flight)", color: FLIGHT_COLORS[0], shape: "circle" },
    { label: "target skipped", color: SKIPPED_COLOR, shape: "circle" },
  ],
  popup: (feature) => {
    const kind = feature.properties.role;
    if (kind === "flight") return flightPanel(feature);
    if (kind === "target") return targetPanel(feature);
    return portPanel(feature);
  },
});
