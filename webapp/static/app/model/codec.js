// Arrays in the export's JSON files: {"shape": [...], "dtype": "float32", "data": "<base64 little-endian>"},
// and raw bytes joined from parts. No DOM and no tfjs: used by the worker and by the page.

const TYPED = {
  float32: Float32Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int64: BigInt64Array,
};

/** One Uint8Array holding the parts (ArrayBuffers or byte arrays: download chunks, weight shards) in order. */
export function concatBytes(parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part instanceof Uint8Array ? part : new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return out;
}

/** Decodes base64 text into bytes. */
export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * @typedef {{shape: number[], dtype: string, data: Int8Array|Uint8Array|Int32Array|Float32Array}} NdArray
 */

/** Decodes one stored array (copying, so the result is aligned and owned). */
export function decodeArray(stored) {
  const Typed = TYPED[stored.dtype];
  if (!Typed) throw new Error(`unsupported dtype ${stored.dtype}`);
  const bytes = base64ToBytes(stored.data);
  const count = stored.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * Typed.BYTES_PER_ELEMENT) {
    throw new Error(`array of shape [${stored.shape}] ${stored.dtype} has ${bytes.length} bytes`);
  }
  const data = new Typed(bytes.buffer, 0, count);
  return { shape: stored.shape, dtype: stored.dtype, data };
}

/** Rows [start, end) of an array whose first axis is the batch. */
export function sliceRows(array, start, end) {
  const per = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    shape: [end - start, ...array.shape.slice(1)],
    dtype: array.dtype,
    data: array.data.subarray(start * per, end * per),
  };
}
