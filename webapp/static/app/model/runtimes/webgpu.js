// Whether this browser gives the engine worker a WebGPU adapter: asked once, shared by the runtimes that can
// use one (tfjs's webgpu backend, LiteRT.js's webgpu accelerator). `navigator.gpu` alone says only that the
// browser knows the API; a machine without a usable GPU (or a blocklisted driver) answers null.

let probe = null;
const ADAPTER_WAIT_MS = 3000;

/** The GPUAdapter, or null where there is none (no API, no GPU, or the request failed). */
export function webgpuAdapter() {
  if (!probe) {
    probe = (async () => {
      if (!self.navigator || !self.navigator.gpu) return null;
      // Bounded: a browser with the API but no usable GPU may take long to answer (seen under load in
      // headless Chromium), and every runtime's start waits for this answer.
      const late = new Promise((resolve) => setTimeout(() => resolve(null), ADAPTER_WAIT_MS));
      try {
        return await Promise.race([self.navigator.gpu.requestAdapter(), late]);
      } catch {
        return null;
      }
    })();
  }
  return probe;
}

/** {vendor, architecture, description} of the adapter (SwiftShader says "swiftshader"), or null. */
export async function webgpuInfo() {
  const adapter = await webgpuAdapter();
  if (!adapter) return null;
  const info = adapter.info || {};
  return {
    vendor: info.vendor || "",
    architecture: info.architecture || "",
    description: info.description || "",
    shaderF16: adapter.features.has("shader-f16"),
  };
}
