// The feature panel: a side panel (left) on desktops, a bottom sheet on phones (CSS decides), with the
// clicked feature's attributes, condition and change-history link; the feature is highlighted
// and kept in the part of the map the panel leaves visible.

import { api, config } from "./config.js";
import { formatNumber, h } from "./dom.js";

const SELECTION = "selection";
const SELECTION_COLOR = "#00a6ff";
const PHONE = window.matchMedia("(max-width: 640px)");

/** Is the panel a bottom sheet (phone layout) rather than a side panel? */
export function isSheet() {
  return PHONE.matches;
}

/** The condition score (0 failed … 100 as new) as a meter, or "not assessed". */
export function conditionMeter(score) {
  if (score === null || score === undefined || score === "") {
    return h("p", { class: "condition muted" }, "Condition: not assessed");
  }
  const value = Number(score);
  const grade = value >= 70 ? "good" : value >= 40 ? "fair" : "poor";
  return h(
    "div",
    { class: `condition ${grade}` },
    h("span", {}, `Condition: ${formatNumber(value, 0)} / 100 (${grade})`),
    h("meter", { min: 0, max: 100, low: 40, high: 70, optimum: 100, value, "aria-label": "condition score" }),
  );
}

/** A definition list of [label, value] rows; empty values are left out. */
export function attributeList(rows) {
  const items = rows.filter(([, value]) => value !== null && value !== undefined && value !== "");
  return h("dl", { class: "attributes" }, items.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

/** The admin's change-history URL of an asset, for users who may open the console. */
export function historyUrl(model, id) {
  const template = config.historyUrls?.[model];
  return template && id !== undefined && id !== null ? template.replace("{id}", encodeURIComponent(id)) : null;
}

/**
 * The panel content of a twin asset: its tile attributes at once, then the API's full record
 * (condition, criticality, last change) as soon as it arrives.
 * @param {object} feature  a rendered (tile) feature or an API GeoJSON feature
 * @param {{model: string, kind: string, title: string, rows: function(object): Array}} spec
 */
export function assetDetails(feature, context, { model, kind, title, rows }) {
  const base = { ...feature.properties };
  const condition = h("div");
  const table = h("div");
  const status = h("p", { class: "muted loading" }, "Loading details…");
  const fill = (p) => {
    condition.replaceChildren(conditionMeter(p.condition_score));
    table.replaceChildren(
      attributeList([
        ...rows(p),
        ["Criticality", p.criticality ? `${p.criticality} of 5` : null],
        ["Last change", p.updated_at ? new Date(p.updated_at).toLocaleString() : null],
        ["Source", p.source_id],
      ]),
    );
  };
  fill(base);
  const history = historyUrl(model, feature.id);
  const links = h(
    "div",
    { class: "links" },
    history
      ? h("a", { class: "button", href: history, target: "_blank", rel: "noopener", "data-role": "history" }, "Change history")
      : h("p", { class: "muted", "data-role": "history" }, "Change history: kept in the operators' console."),
  );
  const url = config.apiUrls?.[model];
  if (url && feature.id !== undefined && feature.id !== null) {
    api(`${url}${encodeURIComponent(feature.id)}/`, { signal: context.signal })
      .then((full) => {
        fill({ ...base, ...full.properties });
        status.remove();
      })
      .catch((error) => {
        if (error.name === "AbortError") return;
        status.textContent = error.status === 404 ? "This asset no longer exists." : "Details unavailable.";
      });
  } else {
    status.remove();
  }
  return { kind, title, body: h("div", { class: "asset" }, condition, table, status, links) };
}

function bboxOf(geometry) {
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      box[0] = Math.min(box[0], c[0]);
      box[1] = Math.min(box[1], c[1]);
      box[2] = Math.max(box[2], c[0]);
      box[3] = Math.max(box[3], c[1]);
    } else c.forEach(walk);
  };
  if (geometry.type === "GeometryCollection") geometry.geometries.forEach((g) => walk(g.coordinates));
  else walk(geometry.coordinates);
  return box;
}

export { bboxOf };

export function createPanel(map) {
  const element = document.getElementById("feature-panel");
  const kindElement = document.getElementById("feature-kind");
  const titleElement = document.getElementById("feature-title");
  const body = document.getElementById("feature-body");
  let controller = null;
  let current = null;

  function ensureSelectionLayers() {
    if (map.getSource(SELECTION)) return;
    map.addSource(SELECTION, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({
      id: "selection-fill",
      type: "fill",
      source: SELECTION,
      filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": SELECTION_COLOR, "fill-opacity": 0.25 },
    });
    map.addLayer({
      id: "selection-line",
      type: "line",
      source: SELECTION,
      filter: ["!=", ["geometry-type"], "Point"],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": SELECTION_COLOR, "line-width": 9, "line-opacity": 0.45 },
    });
    map.addLayer({
      id: "selection-point",
      type: "circle",
      source: SELECTION,
      filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-radius": 14,
        "circle-color": "rgba(0,0,0,0)",
        "circle-stroke-color": SELECTION_COLOR,
        "circle-stroke-width": 4,
      },
    });
  }

  function highlight(feature) {
    ensureSelectionLayers();
    const data = feature?.geometry
      ? { type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: feature.geometry }] }
      : { type: "FeatureCollection", features: [] };
    map.getSource(SELECTION).setData(data);
  }

  /** The part of the map the panel leaves visible, in map-container pixels. */
  function visibleArea() {
    const container = map.getContainer().getBoundingClientRect();
    const area = { left: 0, top: 0, right: container.width, bottom: container.height };
    const top = document.querySelector(".topbar")?.getBoundingClientRect();
    if (top) area.top = Math.max(0, top.bottom - container.top);
    if (!element.hidden) {
      const panel = element.getBoundingClientRect();
      if (isSheet()) area.bottom = Math.min(area.bottom, panel.top - container.top);
      else area.left = Math.max(area.left, panel.right - container.left);
    }
    return area;
  }

  /** Move the map so that a point (lng/lat) is inside the visible area, if it is not. */
  function keepVisible(lngLat) {
    const area = visibleArea();
    const point = map.project(lngLat);
    const margin = 40;
    const inside =
      point.x > area.left + margin && point.x < area.right - margin && point.y > area.top + margin && point.y < area.bottom - margin;
    if (inside) return;
    const target = [(area.left + area.right) / 2, (area.top + area.bottom) / 2];
    map.panBy([point.x - target[0], point.y - target[1]], { duration: 300 });
  }

  /** Fly so that the feature fills the visible area (a search hit). */
  function flyTo(feature) {
    const area = visibleArea();
    const size = map.getContainer().getBoundingClientRect();
    const padding = {
      top: area.top + 40,
      left: area.left + 40,
      right: size.width - area.right + 40,
      bottom: size.height - area.bottom + 40,
    };
    const [minX, minY, maxX, maxY] = bboxOf(feature.geometry);
    const point = minX === maxX && minY === maxY;
    const bounds = point
      ? [
          [minX - 0.002, minY - 0.0014],
          [maxX + 0.002, maxY + 0.0014],
        ]
      : [
          [minX, minY],
          [maxX, maxY],
        ];
    const camera = map.cameraForBounds(bounds, { padding, maxZoom: point ? 16.5 : 16 });
    if (camera) map.flyTo({ ...camera, bearing: map.getBearing() });
  }

  /**
   * Open the panel for a feature of a registered layer.
   * @param {object} def  the layer's registry definition
   * @param {object} feature  GeoJSON-like: id, properties, geometry
   * @param {{lngLat?: object, fly?: boolean}} [options]
   */
  async function open(def, feature, { lngLat, fly = false } = {}) {
    controller?.abort();
    controller = new AbortController();
    current = { def, feature };
    element.hidden = false;
    element.dataset.layer = def.id;
    element.dataset.featureId = feature.id ?? "";
    kindElement.textContent = def.title;
    titleElement.textContent = feature.properties?.name || feature.properties?.ref || "";
    body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    highlight(feature);
    if (fly) flyTo(feature);
    else if (lngLat) keepVisible(lngLat);
    const context = { map, config, signal: controller.signal };
    let content;
    try {
      content = await def.popup(feature, context);
    } catch (error) {
      content = h("p", { class: "error" }, `Could not show this feature: ${error.message}`);
    }
    if (current?.feature !== feature) return; // another feature was opened meanwhile
    if (content && typeof content === "object" && !(content instanceof Node) && "body" in content) {
      if (content.kind) kindElement.textContent = content.kind;
      if (content.title) titleElement.textContent = content.title;
      content = content.body;
    }
    if (typeof content === "string") {
      const wrapper = document.createElement("div");
      wrapper.innerHTML = content; // popups returning HTML are trusted code of a layer module
      content = wrapper;
    }
    body.replaceChildren(content || "");
    element.scrollTop = 0;
  }

  function close() {
    controller?.abort();
    current = null;
    element.hidden = true;
    delete element.dataset.layer;
    delete element.dataset.featureId;
    if (map.getSource(SELECTION)) highlight(null);
  }

  element.querySelector("[data-close]")?.addEventListener("click", close);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !element.hidden) close();
  });

  return { open, close, element, ensureSelectionLayers, get current() { return current; } };
}
