"""JavaScript run inside the app's pages: the slider-latency probe and the conditions the
sessions wait on (all on the page's own clock, so the browser's work is counted)."""

# In every page, before its own scripts: the keydown time of an arrow key and the time the
# decoded image's src next changes, both on the page's performance.now() clock.
LATENCY_PROBE = """
(() => {
  if (window.__le) return;
  const decodedSrc = () => {
    for (const caption of document.querySelectorAll('[data-testid="stImageCaption"]')) {
      if (caption.textContent.includes('Decoded from the sliders')) {
        const img = caption.closest('[data-testid="stImage"]').querySelector('img');
        return img ? img.getAttribute('src') : null;
      }
    }
    return null;
  };
  const le = window.__le = {t0: null, t1: null, src0: null};
  document.addEventListener('keydown', (e) => {
    if (e.key.startsWith('Arrow')) { le.t0 = performance.now(); le.t1 = null; le.src0 = decodedSrc(); }
  }, true);
  const watch = () => new MutationObserver(() => {
    if (le.t0 === null || le.t1 !== null) return;
    const src = decodedSrc();
    if (src && src !== le.src0) le.t1 = performance.now();
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();
"""
IDLE_JS = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'; }"""
TITLE_JS = """(t) => { const h = document.querySelector('[data-testid="stMain"] h1'); return !!h && h.textContent.includes(t); }"""
MAP_TITLE_JS = """(t) => [...document.querySelectorAll('[data-testid="stMain"] .gtitle')]
  .some((e) => e.textContent.startsWith(t + ' of'))"""
COLOURBAR_JS = """(want) => !!document.querySelector('[data-testid="stMain"] .js-plotly-plot .colorbar') === want"""
# What each page shows when it is done: its main widget, else an exception or a request for a model.
PAGE_READY = {"Sliders": '[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]',
              "Map": '[data-testid="stMain"] [data-testid="stForm"] [data-testid="stRadioOption"]',
              "Upload": '[data-testid="stMain"] [data-testid="stFileUploader"] input[type="file"]'}
READY_JS = """(selector) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  if (main.querySelector(selector)) return 'ready';
  if (main.querySelector('[data-testid="stException"]')) return 'an exception';
  if (main.textContent.includes('Pick a checkpoint in the sidebar')) return 'Pick a checkpoint in the sidebar';
  return false;
}"""
PLOT_TEXT_JS = """(n) => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
  .some((p) => p.textContent.includes(n))"""

