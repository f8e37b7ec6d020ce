// The offline basemap: the regions' own OSM roads from /tiles/roads/… (a public tile layer,
// attributes ``kind`` = OSM highway class and ``name``). Drawn only when no basemap style URL is
// configured (or it cannot be reached); optional, so a server without the roads layer still
// shows the grid.

import { registerLayer, vectorTiles } from "../registry.js";

export const BACKGROUND = "#f2efe9";

const MAJOR = ["motorway", "motorway_link", "trunk", "trunk_link"];
const MAIN = ["primary", "primary_link", "secondary", "secondary_link"];
const MINOR = ["tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road", "busway", "service"];
const PATHS = ["footway", "path", "cycleway", "bridleway", "steps", "pedestrian", "track"];

const kindIn = (kinds) => ["in", ["get", "kind"], ["literal", kinds]];
const width = (stops) => ["interpolate", ["exponential", 1.6], ["zoom"], ...stops];

registerLayer({
  id: "roads",
  title: "Roads (offline basemap)",
  group: "basemap",
  optional: true,
  source: vectorTiles("roads", { minzoom: 5, maxzoom: 14 }),
  layers: [
    {
      id: "paths",
      type: "line",
      minzoom: 13,
      filter: kindIn(PATHS),
      paint: { "line-color": "#b8a99a", "line-width": width([13, 0.5, 18, 2]), "line-dasharray": [2, 1.5] },
    },
    {
      id: "minor-casing",
      type: "line",
      minzoom: 11,
      filter: ["!", kindIn([...MAJOR, ...MAIN, ...PATHS])],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#cfc7bd", "line-width": width([11, 1, 14, 3.5, 18, 16]) },
    },
    {
      id: "minor",
      type: "line",
      minzoom: 11,
      filter: ["!", kindIn([...MAJOR, ...MAIN, ...PATHS])],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#ffffff", "line-width": width([11, 0.5, 14, 2.5, 18, 14]) },
    },
    {
      id: "main-casing",
      type: "line",
      minzoom: 11,
      filter: kindIn(MAIN),
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#d9a94f", "line-width": width([11, 2.5, 14, 5.5, 18, 20]) },
    },
    {
      id: "main",
      type: "line",
      filter: kindIn(MAIN),
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#f5c970", "line-width": width([8, 0.8, 11, 1.5, 14, 4, 18, 18]) },
    },
    {
      id: "major",
      type: "line",
      filter: kindIn(MAJOR),
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#e8914f", "line-width": width([5, 1, 10, 2.2, 14, 5, 18, 22]) },
    },
  ],
  legend: [
    { label: "motorway, trunk", color: "#e8914f", shape: "line" },
    { label: "primary, secondary", color: "#f5c970", shape: "line" },
    { label: "local road", color: "#cfc7bd", shape: "line" },
  ],
});
