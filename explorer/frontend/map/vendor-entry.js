// The one door to regl-scatterplot and regl: regl-scatterplot's ES build imports `regl` (a UMD
// file) and `pub-sub-es` by bare name, which a browser cannot resolve without a bundler;
// `npm run build` turns this file into vendor/regl-scatterplot.js (committed, so the app needs
// no Node.js to run).
export { default as createScatterplot } from "regl-scatterplot";
export { default as createREGL } from "regl";
