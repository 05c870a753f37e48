/**
 * One range input per latent dimension, in the order given (most important first); the first
 * `top` are shown, the rest wait in a <details>. Every `input` event (each step of a drag with
 * the mouse held down, each arrow key) is handed to `onInput` at once; `onRelease` is called
 * when a drag ends or a key changed the value (the `change` event).
 *
 * The values themselves live here, not in the inputs: a start code need not lie on a slider's
 * step, and a slider that has not been moved keeps it exactly.
 */
export class SliderPanel {
  /**
   * @param {HTMLElement} container
   * @param {{dim: number, low: number, high: number, step: number, decimals: number, label: string}[]} rows
   * @param {{top: number, values: ArrayLike<number>, onInput: Function, onRelease: Function}} options
   */
  constructor(container, rows, { top, values, onInput, onRelease }) {
    this.values = Float64Array.from(values);
    this.rows = new Map();
    const element = (tag, className) => Object.assign(document.createElement(tag), { className });
    const shown = element("div", "sliders");
    container.append(shown);
    let target = shown;
    rows.forEach((row, k) => {
      if (k === top) {
        const more = element("details", "more");
        more.append(Object.assign(element("summary", ""), {
          textContent: `The other ${rows.length - top} dimensions, less important`,
        }));
        container.append(more);
        target = more;
      }
      const line = element("div", "slider");
      const label = Object.assign(element("label", "label"), { textContent: row.label });
      const input = Object.assign(element("input", "range"), {
        type: "range", min: String(row.low), max: String(row.high), step: String(row.step),
      });
      input.setAttribute("aria-label", row.label);
      input.dataset.dim = String(row.dim);
      const shownValue = element("output", "value");
      label.append(shownValue);
      line.append(label, input);
      target.append(line);
      input.addEventListener("input", (event) => {
        this.values[row.dim] = Number(input.value);
        this.show(row.dim);
        onInput(row.dim, event.timeStamp);
      });
      input.addEventListener("change", () => onRelease());
      this.rows.set(row.dim, { ...row, input, shownValue });
      this.show(row.dim);
    });
  }

  /** All values at once (a reset, a new start code from the server). */
  setValues(values) {
    this.values = Float64Array.from(values);
    for (const dim of this.rows.keys()) this.show(dim);
  }

  /** One value, as playback moves it. */
  setValue(dim, value) {
    this.values[dim] = value;
    this.show(dim);
  }

  row(dim) {
    return this.rows.get(dim);
  }

  show(dim) {
    const row = this.rows.get(dim);
    const value = this.values[dim];
    row.input.value = String(value);
    row.shownValue.textContent = value.toFixed(row.decimals);
  }
}
