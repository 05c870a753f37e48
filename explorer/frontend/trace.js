/**
 * What the page did, as DOM events on `window` named "latent-explorer:<what>" (decoder ready,
 * picture drawn, playback stopped). Nothing listens in normal use; the browser tests and
 * benchmarks/bench_browser.py listen to time and check the page's own work.
 */
export function trace(what, detail) {
  window.dispatchEvent(new CustomEvent(`latent-explorer:${what}`, { detail }));
}
