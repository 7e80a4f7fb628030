// Flat config: @eslint/js recommended, with the globals of the runtime each folder runs in.
import js from "@eslint/js";
import globals from "globals";

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
    // Page code and the engine's modules (imported by the page and by the worker).
    files: ["webapp/static/app/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.worker },
    },
  },
  {
    // The engine worker is a classic worker (importScripts of the UMD bundles).
    files: ["webapp/static/app/worker/**/*.js"],
    languageOptions: { sourceType: "script", globals: { ...globals.worker } },
  },
  {
    files: ["service_worker/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "script", globals: { ...globals.serviceworker } },
  },
  {
    // Node (Playwright); page.evaluate callbacks run in the browser.
    files: ["e2e/**/*.{js,mjs}", "tests/**/*.mjs", "bench/**/*.{js,mjs}", "*.config.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.node, ...globals.browser },
    },
  },
  {
    files: ["*.config.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
