// A conversion the server is too busy for waits in the outbox and goes out again by itself (503 +
// Retry-After), and a converted export can be deleted from the server again, from the app. Real server, real
// conversions: the upload is the demo export's own tfjs-fp32 model (a valid fine-tune of itself).
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { appReady, expect, test } from "./fixtures.js";
import { serveCopy } from "./support/server.js";

/** In the page: the parts of a valid upload, the demo's tfjs-fp32 model and weights with 4 samples. */
async function validParts() {
  const manifest = await (await fetch("/models/demo/manifest.json")).json();
  const entry = `/models/demo/${manifest.variants["tfjs-fp32"].entry}`;
  const modelJson = await (await fetch(entry)).json();
  const [group] = modelJson.weightsManifest;
  const folder = entry.slice(0, entry.lastIndexOf("/") + 1);
  const weights = await (await fetch(folder + group.paths[0])).arrayBuffer();
  const model = {
    format: "layers-model",
    modelTopology: modelJson.modelTopology,
    weightSpecs: group.weights,
    samples: { shape: [4, 8, 8, 1] },
    name: "demo, converted again",
  };
  return { model: JSON.stringify(model), weights, samples: new Float32Array(4 * 64).fill(0.5).buffer };
}

test("a busy server's 503 is retried by the outbox, and a converted export can be deleted from the app", async ({
  page,
  exportsDir,
}) => {
  test.setTimeout(240_000);
  const server = await serveCopy(exportsDir, "delete-export");
  try {
    await page.goto(`${server.url}#finetune`);
    await appReady(page);
    await page.evaluate(`window.__validParts = ${validParts}`);

    // Four uploads at once: the server admits three (one converting, two waiting) and refuses the fourth
    // at once; while the three convert (the first loads TensorFlow), the app's own upload is refused too.
    const first = await page.evaluate(async () => {
      const send = async () => {
        const form = new FormData();
        for (const [name, value] of Object.entries(await window.__validParts()))
          form.append(name, new Blob([value]), name);
        const response = await fetch("/api/models/demo/finetuned", { method: "POST", body: form });
        return { status: response.status, retryAfter: response.headers.get("Retry-After") };
      };
      window.__uploads = [send(), send(), send(), send()];
      return Promise.race(window.__uploads);
    });
    expect(first).toEqual({ status: 503, retryAfter: "30" });
    await page.evaluate(async () => {
      const { enqueue, flush } = await import("/app/ui/outbox.js");
      const parts = await window.__validParts();
      await enqueue({ url: "/api/models/demo/finetuned", key: "e2e", name: "demo, converted again", parts });
      await flush();
    });
    const item = page.locator("#ft-outbox li").first();
    await expect(item).toHaveAttribute("data-state", "queued");
    await expect(item).toContainText("Waiting: the server is busy, sent again at");
    await expect(item).toContainText("503: the server is converting other uploads (1 converting, 2 waiting)");
    const others = await page.evaluate(() => Promise.all(window.__uploads));
    expect(others.map((answer) => answer.status).sort()).toEqual([201, 201, 201, 503]);

    // Retry-After (30 s) later the outbox sends it again by itself.
    await expect(item).toHaveAttribute("data-state", "done", { timeout: 120_000 });
    const exportId = await item.getAttribute("data-export-id");
    expect(exportId).toMatch(/^demo-ft-\d{14}-[0-9a-f]{6}$/);
    await expect(page.locator(`#model-select option[value="${exportId}"]`)).toHaveCount(1);
    expect(existsSync(path.join(server.served, exportId, "manifest.json"))).toBe(true);

    await item.locator("button.delete-export").click();
    await expect(page.locator(`#ft-outbox li[data-export-id="${exportId}"]`)).toHaveCount(0);
    await expect(page.locator(`#model-select option[value="${exportId}"]`)).toHaveCount(0);
    expect(readdirSync(server.served).filter((name) => name === exportId || name.startsWith("."))).toEqual(
      [],
    );
    const gone = await page.request.get(`${server.url}models/${exportId}/manifest.json`);
    expect(gone.status()).toBe(404);
    // The three uploaded beside it stay: only the one asked for is deleted.
    expect(readdirSync(server.served).filter((name) => name.startsWith("demo-ft-"))).toHaveLength(3);
  } finally {
    await server.stop();
  }
});
