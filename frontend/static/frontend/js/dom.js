// A tiny DOM builder: text goes in as text (never parsed as HTML).

/**
 * h("a", {href: "…", class: "x"}, "text", childNode, [more, children])
 * Attributes starting with "on" are event listeners; null/false attributes are left out.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "style" && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (key.startsWith("--")) element.style.setProperty(key, item);
        else element.style[key] = item;
      }
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** A number with at most ``digits`` decimals, in the user's locale. */
export function formatNumber(value, digits = 1) {
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}
