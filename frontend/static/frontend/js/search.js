// Search by name or ref over every registered layer that can search (the API's ?search=),
// then fly to the chosen feature and open its panel.

import { h } from "./dom.js";
import { context, isVisible, registeredLayers, setVisible } from "./registry.js";

const DEBOUNCE_MS = 250;
const MIN_LENGTH = 2;

export function createSearch(map, panel) {
  const form = document.getElementById("search");
  const input = document.getElementById("search-input");
  const list = document.getElementById("search-results");
  let timer = null;
  let controller = null;
  let results = [];

  function hide() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function show(items, message) {
    list.replaceChildren(
      ...(message ? [h("li", { class: "muted" }, message)] : []),
      ...items.map((item, index) =>
        h(
          "li",
          { role: "option", id: `search-result-${index}` },
          h(
            "button",
            { type: "button", class: "search-result", onclick: () => choose(item) },
            h("strong", {}, item.label),
            h("span", { class: "muted" }, item.detail || item.def.title),
          ),
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  async function run(query) {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    const searchable = registeredLayers().filter((def) => typeof def.search === "function" && def.available);
    list.dataset.state = "searching";
    const answers = await Promise.allSettled(
      searchable.map(async (def) => (await def.search(query, { ...context(map), signal })).map((r) => ({ ...r, def }))),
    );
    if (signal.aborted) return;
    results = answers.flatMap((answer) => (answer.status === "fulfilled" ? answer.value : []));
    const failed = answers.some((answer) => answer.status === "rejected" && answer.reason?.name !== "AbortError");
    list.dataset.state = "done";
    if (!results.length) show([], failed ? "Search failed; try again." : `Nothing found for “${query}”.`);
    else show(results, failed ? "Some results are missing (a search failed)." : null);
  }

  function choose(item) {
    hide();
    input.value = item.label;
    input.blur();
    if (!isVisible(item.def.id)) {
      setVisible(map, item.def.id, true);
      document.dispatchEvent(new CustomEvent("gridtwin:layers-changed"));
    }
    panel.open(item.def, item.feature, { fly: true });
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const query = input.value.trim();
    if (query.length < MIN_LENGTH) {
      controller?.abort();
      hide();
      return;
    }
    timer = setTimeout(() => run(query), DEBOUNCE_MS);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    const query = input.value.trim();
    if (query.length < MIN_LENGTH) return;
    await run(query);
    if (results.length === 1) choose(results[0]);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hide();
    if (event.key === "ArrowDown" && !list.hidden) list.querySelector("button")?.focus();
  });
  document.addEventListener("click", (event) => {
    if (!form.contains(event.target)) hide();
  });

  return { run, choose, get results() { return results; } };
}
