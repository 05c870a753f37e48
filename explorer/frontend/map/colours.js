/**
 * Colourings and their keys. The server sends, per colouring, a category per point (uint8 or
 * uint16) and the colours of those categories: the classes or a factor's values with their names
 * (a legend), or a continuous value binned into the steps of a colour scale (a colour bar with its
 * range; a first grey step for points where the value is not measured).
 */

/**
 * @param {HTMLElement} into emptied and filled
 * @param {{title: string, kind: "category"|"scale", names?: string[], palette: string[],
 *          range?: number[], missing?: string|null, format?: number}} colouring the meta of one
 * @param {Uint32Array|null} counts points per category (legend only)
 */
export function drawKey(into, colouring, counts = null) {
  into.replaceChildren();
  const title = document.createElement("div");
  title.className = "lx-key-title";
  title.textContent = colouring.title;
  into.appendChild(title);
  if (colouring.kind === "category") {
    const list = document.createElement("div");
    list.className = "lx-legend";
    colouring.names.forEach((name, k) => {
      const item = document.createElement("span");
      item.className = "lx-legend-item";
      const swatch = document.createElement("i");
      swatch.style.background = colouring.palette[k % colouring.palette.length];
      item.append(swatch, `${name}${counts ? ` (${counts[k].toLocaleString()})` : ""}`);
      list.appendChild(item);
    });
    into.appendChild(list);
    return;
  }
  const steps = colouring.missing ? colouring.palette.slice(1) : colouring.palette;
  const bar = document.createElement("div");
  bar.className = "lx-colourbar";
  bar.style.background = `linear-gradient(to right, ${steps.join(", ")})`;
  const ticks = document.createElement("div");
  ticks.className = "lx-ticks";
  const [low, high] = colouring.range;
  const digits = colouring.format ?? 3;
  for (const value of [low, (low + high) / 2, high]) {
    const tick = document.createElement("span");
    tick.textContent = value.toFixed(digits);
    ticks.appendChild(tick);
  }
  into.append(bar, ticks);
  if (colouring.missing) {
    const note = document.createElement("span");
    note.className = "lx-legend-item";
    const swatch = document.createElement("i");
    swatch.style.background = colouring.missing;
    note.append(swatch, "not measured");
    into.appendChild(note);
  }
}

/** Points per category. */
export function countCategories(values, categories) {
  const counts = new Uint32Array(categories);
  for (let i = 0; i < values.length; i++) counts[values[i]]++;
  return counts;
}
