// Whether this browser gives the engine worker a WebGPU adapter: asked once, shared by the runtimes that can
// use one (tfjs's webgpu backend, LiteRT.js's webgpu accelerator). `navigator.gpu` alone says only that the
// browser knows the API; a machine without a usable GPU (or a blocklisted driver) answers null.

let probe = null;

/** The GPUAdapter, or null where there is none (no API, no GPU, or the request failed). */
export function webgpuAdapter() {
  if (!probe) {
    probe = (async () => {
      if (!self.navigator || !self.navigator.gpu) return null;
      try {
        return await self.navigator.gpu.requestAdapter();
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
