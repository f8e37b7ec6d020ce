// The regions' extents, from the regions API (GET /api/v1/regions/: GeoJSON features whose
// geometry is the region's boundary, today the imported data's extent) when the server has it;
// without it this layer is not registered. Off until switched on.

import { config } from "../config.js";
import { registerLayer } from "../registry.js";

const COLOR = "#6b5b95";

if (config.apiUrls?.region) {
  registerLayer({
    id: "regions",
    title: "Region extents",
    optional: true,
    visible: false,
    source: { type: "geojson", data: `${location.origin}${config.apiUrls.region}?page_size=1000` },
    layers: [
      {
        id: "outline",
        type: "line",
        filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
        paint: { "line-color": COLOR, "line-width": 2, "line-opacity": 0.7, "line-dasharray": [4, 2] },
      },
    ],
    legend: [{ label: "imported area", color: COLOR, shape: "line", dashed: true }],
  });
}
