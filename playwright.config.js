// Browser tests: Debian's Chromium (Playwright cannot download its own browser here), a real
// `edgeship serve` over a real `edgeship demo` export built once per run (e2e/global-setup.js).
import { defineConfig } from "@playwright/test";

export const CHROMIUM_ARGS = [
  "--no-sandbox", // the tests run as root
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// WebGPU without a GPU: SwiftShader's software Vulkan behind Chromium's WebGPU. Slow (~1 s per MobileNetV2
// inference) but it runs the real WebGPU paths (tfjs-backend-webgpu, LiteRT.js's webgpu accelerator).
export const WEBGPU_ARGS = [
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--use-webgpu-adapter=swiftshader",
];

export default defineConfig({
  testDir: "e2e",
  globalSetup: "./e2e/global-setup.js",
  outputDir: "test-results",
  // CI has 2 cores and no GPU: two workers, every test well under a minute.
  workers: 2,
  fullyParallel: false,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  projects: [
    { name: "flask", testIgnore: /webgpu\.spec\.js$/ },
    // The same offline and parity checks against the static site (`edgeship build-site` + nginx).
    {
      name: "static-site",
      use: { hosting: "static" },
      testMatch: /(parity|offline)\.spec\.js$/,
      testIgnore: /webgpu\.spec\.js$/,
    },
    // The WebGPU paths, with a WebGPU adapter (SwiftShader); the other projects' browsers have none.
    {
      name: "webgpu",
      testMatch: /webgpu\.spec\.js$/,
      use: {
        launchOptions: { executablePath: "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...WEBGPU_ARGS] },
      },
    },
  ],
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS },
    viewport: { width: 1100, height: 900 },
    screenshot: "only-on-failure",
    trace: "off",
  },
});
