// The field map's entry point: builds the MapLibre map from the page's configuration, adds the
// registered layers (layers/index.js), and wires the panel, search, switcher and jobs panel.
// For tests and the console: window.gridtwinMap (the maplibregl.Map) and window.gridtwin.

import * as maplibregl from "maplibre-gl";

import { api, config, rows } from "./config.js";
import { createJobs } from "./jobs.js";
import { BACKGROUND } from "./layers/basemap.js";
import "./layers/index.js";
import { bboxOf, createPanel, isSheet } from "./panel.js";
import * as registry from "./registry.js";
import { createSearch } from "./search.js";
import { createSwitcher } from "./switcher.js";

const STYLE_TIMEOUT_MS = 8000;
const REGIONS_TIMEOUT_MS = 4000;
const LOCAL_STYLE = {
  version: 8,
  name: "GridTwin offline basemap",
  sources: {},
  layers: [{ id: "background", type: "background", paint: { "background-color": BACKGROUND } }],
};

function message(text) {
  const element = document.getElementById("map-message");
  element.textContent = text || "";
  element.hidden = !text;
}

function timeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

/** The union of the regions' boundaries from the API, or null (no regions API, no regions). */
async function regionBounds() {
  const url = config.apiUrls?.region;
  if (!url) return null;
  try {
    const features = rows(await timeout(api(`${url}?page_size=1000`), REGIONS_TIMEOUT_MS)).filter((f) => f.geometry);
    if (!features.length) return null;
    const boxes = features.map((f) => bboxOf(f.geometry));
    return [
      Math.min(...boxes.map((b) => b[0])),
      Math.min(...boxes.map((b) => b[1])),
      Math.max(...boxes.map((b) => b[2])),
      Math.max(...boxes.map((b) => b[3])),
    ];
  } catch (error) {
    console.warn("GridTwin: regions unavailable, opening on the default bounds", error.message);
    return null;
  }
}

async function boot() {
  const bounds = (await regionBounds()) || config.bounds;
  maplibregl.setWorkerUrl(config.workerUrl);
  let localBasemap = !config.basemapStyleUrl;
  let styleLoaded = false;

  const map = new maplibregl.Map({
    container: "map",
    style: localBasemap ? LOCAL_STYLE : config.basemapStyleUrl,
    bounds,
    fitBoundsOptions: { padding: 24 },
    maxZoom: 19,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    attributionControl: { customAttribution: config.attribution },
  });
  map.touchZoomRotate.disableRotation();
  map.keyboard.disableRotation();

  const panel = createPanel(map);
  const switcher = createSwitcher(map, { localBasemap: () => localBasemap });

  function useLocalBasemap(reason) {
    if (localBasemap) return;
    console.warn(`GridTwin: basemap style unavailable (${reason}); drawing the offline basemap`);
    localBasemap = true;
    map.setStyle(LOCAL_STYLE);
  }

  if (!localBasemap) {
    setTimeout(() => {
      if (!styleLoaded) useLocalBasemap("timeout");
    }, STYLE_TIMEOUT_MS);
  }

  // Every (re)loaded style gets the registered layers and the selection highlight.
  map.on("style.load", () => {
    styleLoaded = true;
    registry.addLayersTo(map, { localBasemap });
    panel.ensureSelectionLayers();
    switcher.render();
  });

  const warned = new Set();
  map.on("error", (event) => {
    if (!styleLoaded && !localBasemap && !event.sourceId) {
      useLocalBasemap(event.error?.message || "error");
      return;
    }
    if (event.error?.status === 401) {
      // The session ended (tiles need a signed-in user): sign in again, then come back here.
      location.assign(`${config.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    const def = event.sourceId ? registry.getLayer(event.sourceId) : undefined;
    if (def?.optional) {
      if (!warned.has(def.id)) console.warn(`GridTwin: layer ${def.id} unavailable`, event.error?.message);
      warned.add(def.id);
      registry.dropLayer(map, def.id);
      switcher.render();
      return;
    }
    console.error(event.error || event);
  });

  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(
    new maplibregl.GeolocateControl({
      positionOptions: { enableHighAccuracy: true, timeout: 15000 },
      trackUserLocation: true,
      fitBoundsOptions: { maxZoom: 16 },
    }),
    "top-right",
  );
  map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-left");

  // A click (or tap) opens the panel of the topmost feature near it: a finger is not a pixel.
  map.on("click", (event) => {
    const tolerance = matchMedia("(pointer: coarse)").matches ? 16 : 8;
    const { x, y } = event.point;
    const features = map.queryRenderedFeatures(
      [
        [x - tolerance, y - tolerance],
        [x + tolerance, y + tolerance],
      ],
      { layers: registry.interactiveStyleLayerIds(map) },
    );
    if (!features.length) {
      panel.close();
      return;
    }
    const feature = features[0];
    const def = registry.layerOf(feature.layer.id);
    const target = { id: feature.id, properties: feature.properties, geometry: feature.geometry, layer: feature.layer };
    panel.open(def, target, { lngLat: event.lngLat });
  });
  map.on("mousemove", (event) => {
    const hit = map.queryRenderedFeatures(event.point, { layers: registry.interactiveStyleLayerIds(map) });
    map.getCanvas().style.cursor = hit.length ? "pointer" : "";
  });

  const search = createSearch(map, panel);
  const jobs = createJobs(config.apiUrls?.job);
  jobs.start();
  switcher.setOpen(!isSheet());

  const loaded = new Promise((resolve) => map.once("load", resolve));
  window.gridtwinMap = map;
  window.gridtwin = {
    map,
    maplibregl,
    registry,
    panel,
    search,
    jobs,
    loaded,
    /** Resolves when the map has drawn everything it is loading. */
    idle: () => loaded.then(() => new Promise((resolve) => (map.loaded() && !map.isMoving() ? resolve() : map.once("idle", resolve)))),
  };
  await loaded;
  document.body.dataset.mapReady = "true";
}

boot().catch((error) => {
  console.error(error);
  message(`The map could not start: ${error.message}`);
});
