// Runs the browser app's photo preprocessing (webapp/static/app/ui/preprocess.js, photoInput) in node on the
// cases given as JSON on stdin: {cases: [{rgba: base64, width, height, prep}]} -> {outputs: [base64 float32]}.
// tests/test_image_preprocessing.py compares the outputs with exporter/image_preprocessing.py.
import { photoInput } from "../webapp/static/app/ui/preprocess.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { cases } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const outputs = cases.map(({ rgba, width, height, prep }) => {
  const data = new Uint8ClampedArray(Buffer.from(rgba, "base64"));
  const input = photoInput({ data, width, height }, prep);
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("base64");
});
process.stdout.write(JSON.stringify({ outputs }));
