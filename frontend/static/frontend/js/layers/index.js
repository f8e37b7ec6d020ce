// Every map layer of the front end, in drawing order. A new layer is one module in this folder
// (see registry.js for what it declares) and one import line here.

import "./basemap.js";
import "./regions.js";
import "./grid.js";
import "./routes.js";
import "./prices.js";
