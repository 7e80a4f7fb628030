// Flat config: @eslint/js recommended, and for each folder only the globals of the runtime its code runs in
// (webapp/static/app/: model/ the engine worker, ui/ the page, shared/ both), so that `document` in worker
// code or `importScripts` in page code is an error here, not in a user's browser.
import js from "@eslint/js";
import globals from "globals";

// What a window and a dedicated worker both have (self, postMessage, fetch, indexedDB, crypto, ...): the
// only globals code that runs on both may use.
const pageAndWorker = Object.fromEntries(
  Object.entries(globals.browser).filter(([name]) => name in globals.worker),
);

// tfjs is loaded by the engine worker only (importScripts in app/model/runtimes/tfjs-scripts.js), and so is
// LiteRT.js (app/model/runtimes/litert.js), which is imported there, never a global.
const noTfjsGlobals = [
  "error",
  {
    name: "tf",
    message: "tfjs runs in the engine worker only: call the engine through app/shared/bridge.js",
  },
];

/** no-restricted-imports and the same check on dynamic import(), for import paths matching `regex`. */
function forbidImports(regex, message) {
  return {
    "no-restricted-imports": ["error", { patterns: [{ regex, message }] }],
    "no-restricted-syntax": [
      "error",
      { selector: `ImportExpression > Literal[value=/${regex.replaceAll("/", "\\/")}/]`, message },
    ],
  };
}

const module = { ecmaVersion: 2023, sourceType: "module" };

export default [
  {
    ignores: [
      "webapp/static/vendor/**",
      "webapp/static/sw.js",
      "node_modules/**",
      "test-results/**",
      "playwright-report/**",
      ".venv/**",
    ],
  },
  js.configs.recommended,
  {
    // Worker only: the engine (tfjs, declared per file with /* global tf */, and LiteRT.js). No DOM.
    files: ["webapp/static/app/model/**/*.js"],
    languageOptions: { ...module, globals: { ...globals.worker } },
    rules: forbidImports("(^|/)ui/", "worker code cannot import page code (app/ui/)"),
  },
  {
    // The page and the worker: only what both have, and neither side's modules.
    files: ["webapp/static/app/shared/**/*.js"],
    languageOptions: { ...module, globals: pageAndWorker },
    rules: {
      ...forbidImports(
        "(^|/)(ui|model)/",
        "app/shared/ runs on the page and in the worker: it imports shared/ only",
      ),
      "no-restricted-globals": noTfjsGlobals,
    },
  },
  {
    // The page: DOM code without tfjs; it reaches the engine through the bridge (app/shared/bridge.js).
    files: ["webapp/static/app/ui/**/*.js"],
    languageOptions: { ...module, globals: { ...globals.browser } },
    rules: {
      ...forbidImports(
        "(^|/)(model|vendor)/|^@tensorflow/",
        "page code runs without tfjs: talk to the engine worker through app/shared/bridge.js",
      ),
      "no-restricted-globals": noTfjsGlobals,
    },
  },
  {
    // The engine worker's entry is a classic worker (importScripts of the UMD bundles).
    files: ["webapp/static/app/worker/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "script", globals: { ...globals.worker } },
  },
  {
    files: ["service_worker/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "script", globals: { ...globals.serviceworker } },
  },
  {
    // Node (Playwright); page.evaluate callbacks run in the browser.
    files: ["e2e/**/*.{js,mjs}", "tests/**/*.mjs", "bench/**/*.{js,mjs}", "*.config.js"],
    languageOptions: { ...module, globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ["*.config.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
