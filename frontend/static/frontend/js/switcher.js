// The layer switcher with the legend: one large toggle per registered layer, its legend below.

import { h } from "./dom.js";
import { activeLayers, isVisible, setVisible } from "./registry.js";

function swatch(entry) {
  const shape = entry.shape || "square";
  return h("span", {
    class: `swatch ${shape}${entry.dashed ? " dashed" : ""}`,
    style: { "--swatch": entry.color },
    "aria-hidden": "true",
  });
}

export function createSwitcher(map, { localBasemap }) {
  const panel = document.getElementById("layers-panel");
  const list = document.getElementById("layer-list");
  const button = document.getElementById("layers-button");

  function render() {
    list.replaceChildren(
      ...activeLayers({ localBasemap: localBasemap() }).map((def) => {
        const checkbox = h("input", {
          type: "checkbox",
          id: `layer-toggle-${def.id}`,
          "data-layer": def.id,
          checked: isVisible(def.id),
          onchange: (event) => setVisible(map, def.id, event.target.checked),
        });
        return h(
          "div",
          { class: "layer", "data-layer": def.id },
          h("label", { class: "layer-toggle", for: `layer-toggle-${def.id}` }, checkbox, h("span", {}, def.title)),
          def.legend?.length
            ? h("ul", { class: "legend" }, def.legend.map((entry) => h("li", {}, swatch(entry), entry.label)))
            : null,
        );
      }),
    );
  }

  function setOpen(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  }

  button.addEventListener("click", () => setOpen(panel.hidden));
  panel.querySelector("[data-close]")?.addEventListener("click", () => setOpen(false));
  document.addEventListener("gridtwin:layers-changed", render);
  return { render, setOpen };
}
