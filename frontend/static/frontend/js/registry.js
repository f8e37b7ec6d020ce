// The front end's layer registry: a map layer is one module that calls registerLayer().
//
// registerLayer({
//   id: "inspections",               // unique; also the source id and the MVT layer name
//   title: "Inspections",            // its label in the layer switcher
//   group: "overlay",                // "overlay" (default, above the basemap) or "basemap"
//                                    //   (drawn only when no basemap style URL is configured)
//   source: vectorTiles("inspections", { minzoom: 10 }),   // any MapLibre source spec
//   sourceLayer: "inspections",      // the MVT layer name (default: id)
//   layers: [{ id: "points", type: "circle", paint: {…} }], // MapLibre layer specs: ids are
//                                    //   prefixed with the layer's id, source and source-layer
//                                    //   filled in
//                                    //   (metadata {"gridtwin:interactive": false}: not clickable)
//   legend: [{ label: "due", color: "#c00", shape: "circle" }], // shape: line|circle|fill|square
//   popup: (feature, context) => Node | "<html>" | Promise of either,  // the panel on click
//   search: (query, context) => Promise<[{ label, detail, feature }]>, // optional, GeoJSON
//   visible: true,                   // initial visibility (the user's choice is remembered)
//   optional: false,                 // true: a source answering 404 is dropped quietly
//   order: 50,                       // drawing order, lower first (default: registration)
// });
//
// The map (map.js) adds every registered layer; the switcher lists them with their legends;
// a click on a feature of an interactive layer opens the panel with its popup.

import { config, tileUrl } from "./config.js";

const STORAGE_KEY = "gridtwin.layers.visible";
const definitions = new Map();
let registered = 0;

/** A vector-tile source of GridTwin's tile service (``/tiles/{layer}/{z}/{x}/{y}.mvt``). */
export function vectorTiles(layer, { minzoom = 0, maxzoom = 15, attribution } = {}) {
  return {
    type: "vector",
    tiles: [tileUrl(layer)],
    minzoom,
    maxzoom,
    ...(attribution ? { attribution } : {}),
  };
}

/** Add (or replace) a layer definition; returns the normalised definition. */
export function registerLayer(definition) {
  const { id } = definition;
  if (!id || !/^[a-z][a-z0-9_-]*$/.test(id)) throw new Error(`layer id ${id}: use [a-z0-9_-]`);
  if (!definition.source) throw new Error(`layer ${id}: no source`);
  if (!Array.isArray(definition.layers) || !definition.layers.length) {
    throw new Error(`layer ${id}: no MapLibre layers`);
  }
  const sourceLayer = definition.sourceLayer || id;
  const def = {
    title: id,
    group: "overlay",
    legend: [],
    visible: true,
    optional: false,
    order: 100 + registered++,
    ...definition,
    available: true,
  };
  def.styleLayers = definition.layers.map((spec) => {
    const layer = { ...spec, id: `${id}-${spec.id}`, source: id };
    if (def.source.type === "vector") layer["source-layer"] = spec["source-layer"] || sourceLayer;
    return layer;
  });
  def.interactive = definition.interactive ?? typeof definition.popup === "function";
  definitions.set(id, def);
  return def;
}

/** The registered layers in drawing order. */
export function registeredLayers() {
  return [...definitions.values()].sort((a, b) => a.order - b.order);
}

export function getLayer(id) {
  return definitions.get(id);
}

/** The definition owning a MapLibre style layer or source id. */
export function layerOf(styleLayerOrSourceId) {
  if (definitions.has(styleLayerOrSourceId)) return definitions.get(styleLayerOrSourceId);
  for (const def of definitions.values()) {
    if (def.styleLayers.some((l) => l.id === styleLayerOrSourceId)) return def;
  }
  return undefined;
}

function storedVisibility() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
  } catch {
    return {};
  }
}

/** Whether the user wants the layer shown (remembered choice, else the default). */
export function isVisible(id) {
  const stored = storedVisibility();
  return id in stored ? Boolean(stored[id]) : Boolean(definitions.get(id)?.visible);
}

/** The layers this map draws: basemap layers only on the offline (built-in) basemap. */
export function activeLayers({ localBasemap }) {
  return registeredLayers().filter((def) => def.available && (localBasemap || def.group !== "basemap"));
}

/**
 * Add every active layer's source and style layers to the map (again after a style change).
 * Basemap layers go first, overlays after, each group in its order.
 */
export function addLayersTo(map, { localBasemap }) {
  const layers = activeLayers({ localBasemap });
  const ordered = [...layers.filter((d) => d.group === "basemap"), ...layers.filter((d) => d.group !== "basemap")];
  for (const def of ordered) {
    if (!map.getSource(def.id)) map.addSource(def.id, def.source);
    const visibility = isVisible(def.id) ? "visible" : "none";
    for (const spec of def.styleLayers) {
      if (map.getLayer(spec.id)) continue;
      const layer = { ...spec, layout: { ...(spec.layout || {}), visibility } };
      // Basemap layers go below the first overlay already on the map.
      const before = def.group === "basemap" ? firstOverlayLayer(map) : undefined;
      map.addLayer(layer, before);
    }
  }
}

function firstOverlayLayer(map) {
  for (const layer of map.getStyle().layers) {
    const def = layerOf(layer.id);
    if (def && def.group !== "basemap") return layer.id;
  }
  return undefined;
}

/** Show or hide a layer (all its style layers) and remember the choice. */
export function setVisible(map, id, visible) {
  const def = definitions.get(id);
  if (!def) return;
  for (const spec of def.styleLayers) {
    if (map.getLayer(spec.id)) map.setLayoutProperty(spec.id, "visibility", visible ? "visible" : "none");
  }
  const stored = storedVisibility();
  stored[id] = Boolean(visible);
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
  } catch {
    /* private mode: not remembered */
  }
}

/** Drop a layer whose source is unavailable (e.g. a tile layer this server does not have). */
export function dropLayer(map, id) {
  const def = definitions.get(id);
  if (!def) return;
  def.available = false;
  for (const spec of def.styleLayers) if (map.getLayer(spec.id)) map.removeLayer(spec.id);
  if (map.getSource(id)) map.removeSource(id);
}

/** The style layer ids a click may hit, topmost first. */
export function interactiveStyleLayerIds(map) {
  return registeredLayers()
    .filter((def) => def.interactive && def.available)
    .flatMap((def) => def.styleLayers)
    .filter((spec) => spec.metadata?.["gridtwin:interactive"] !== false)
    .map((spec) => spec.id)
    .filter((id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none")
    .reverse();
}

/** What popups and searches get besides the feature. */
export function context(map) {
  return { map, config };
}
