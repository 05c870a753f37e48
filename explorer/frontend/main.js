/**
 * The component explorer.live: the entry Streamlit imports (from this folder, served by the app)
 * and calls on every script run that mounts it. `data.view` names what to show; each mounted
 * instance (one per Streamlit element) keeps its view between runs and hands it the new data,
 * so a run that changes nothing visible redraws nothing.
 *
 * Views: "status" (the model card: the decoder loaded and its outcome reported), "sliders",
 * "path" (Interpolate's player). A view is a class with constructor(root, data, host),
 * update(data) and destroy(); host carries the component's setStateValue and setTriggerValue.
 */
import { PathView } from "./view-path.js";
import { SlidersView } from "./view-sliders.js";
import { StatusView } from "./view-status.js";
// The views' own imports, named here too: the browser then asks for the whole module graph at
// once, instead of one level of imports after another (each a round trip to the server).
import "./asset-cache.js";
import "./decoder.js";
import "./path.js";
import "./picture.js";
import "./playback.js";
import "./readiness.js";
import "./runtime.js";
import "./slider-panel.js";
import "./trace.js";
import "./node_modules/onnxruntime-web/dist/ort.wasm.bundle.min.mjs";

const VIEWS = { status: StatusView, sliders: SlidersView, path: PathView };
const mounted = new WeakMap(); // parentElement -> {view: name, instance, root}

export default function explorerLive(component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  const View = VIEWS[data && data.view];
  if (!View) throw new Error(`explorer.live: unknown view ${JSON.stringify(data && data.view)}`);
  let entry = mounted.get(parentElement);
  if (entry && entry.view !== data.view) {
    entry.instance.destroy();
    entry.root.remove();
    entry = undefined;
  }
  if (entry) {
    entry.instance.update(data);
  } else {
    const root = Object.assign(document.createElement("div"), { className: "explorer-live" });
    parentElement.append(root);
    const instance = new View(root, data, { setStateValue, setTriggerValue });
    entry = { view: data.view, instance, root };
    mounted.set(parentElement, entry);
  }
  const current = entry;
  return () => {
    current.instance.destroy();
    current.root.remove();
    mounted.delete(parentElement);
  };
}
