// Drawing on the app's digit pad the way a user does: shared by the e2e fixtures and tests/wheel_app.mjs.

/** Draws a "7" on the canvas with the mouse (deterministic strokes). */
export async function drawSeven(page) {
  const canvas = page.locator("#draw-canvas");
  const box = await canvas.boundingBox();
  const at = (x, y) => [box.x + x * box.width, box.y + y * box.height];
  await page.mouse.move(...at(0.25, 0.2));
  await page.mouse.down();
  for (const [x, y] of [
    [0.5, 0.2],
    [0.75, 0.2],
    [0.62, 0.5],
    [0.5, 0.8],
  ]) {
    await page.mouse.move(...at(x, y), { steps: 8 });
  }
  await page.mouse.up();
}
