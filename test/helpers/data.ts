// Seeded inputs and output comparison shared by the suites.

/** mulberry32: a small, fast, seeded PRNG; returns floats in [0, 1). Same seed, same sequence, on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/** Uniform floats in [lo, hi). */
export function uniform(dims: readonly number[], seed: number, lo = 0, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(numel(dims));
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/**
 * An image as PaddleOCR feeds it: random 8-bit pixels x, normalised as (x/255 - 0.5)/0.5, so values lie in [-1, 1]
 * on the 8-bit grid the real preprocessing produces.
 */
export function ocrPixels(dims: readonly number[], seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(numel(dims));
  for (let i = 0; i < out.length; i++) {
    const x = Math.floor(r() * 256);
    out[i] = (x / 255 - 0.5) / 0.5;
  }
  return out;
}

/**
 * A synthetic document image as PaddleOCR feeds it ([1, 3, H, W], (x/255 - 0.5)/0.5): a light, slightly noisy
 * background with lines of dark glyph-like strokes. Unlike pure noise, on which the detector's probability map is
 * all near zero (so a relative metric would be ill-conditioned), this gives PP-OCR det confident text regions
 * (probabilities up to 1) and gives rec and cls realistic text-line statistics. Channels differ slightly, as in a
 * colour scan.
 */
export function ocrPage(height: number, width: number, seed: number): Float32Array {
  const r = rng(seed);
  const gray = new Uint8Array(height * width);
  for (let i = 0; i < gray.length; i++) gray[i] = 225 + Math.floor(r() * 30);
  const lineH = Math.min(24, height - 8);
  for (let y0 = Math.min(20, Math.floor((height - lineH) / 2)); y0 + lineH <= height - 4; y0 += lineH + 14) {
    let x = 4 + Math.floor(r() * 40);
    const end = width - 4 - Math.floor(r() * width * 0.3);
    while (x + 14 < end) {
      const cw = 10 + Math.floor(r() * 6);
      const strokes = 2 + Math.floor(r() * 3);
      for (let s = 0; s < strokes; s++) {
        const vertical = r() < 0.5;
        const sx = x + Math.floor(r() * (cw - 3));
        const sy = y0 + 4 + Math.floor(r() * (lineH - 10));
        const len = 5 + Math.floor(r() * 12);
        for (let k = 0; k < len; k++)
          for (let t = 0; t < 2; t++) {
            const yy = vertical ? Math.min(y0 + lineH - 2, sy - 4 + k) : sy + t;
            const xx = vertical ? sx + t : Math.min(x + cw, sx - 3 + k);
            if (yy >= 0 && yy < height && xx >= 0 && xx < width) gray[yy * width + xx] = 20 + Math.floor(r() * 40);
          }
      }
      x += cw + 2 + (r() < 0.15 ? 10 : 0);
    }
  }
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < plane; i++) {
      const v = Math.min(255, Math.max(0, gray[i] + Math.floor(r() * 7) - 3));
      out[c * plane + i] = (v / 255 - 0.5) / 0.5;
    }
  return out;
}

export interface Diff {
  /** max |a - b| */
  maxAbs: number;
  /** max |b| */
  maxRef: number;
  /** The pass/fail metric: max|a - b| / max|b| (0 when both are all zeros). */
  rel: number;
  /** max over elements with b != 0 of |a - b| / |b|; logged, not asserted (tiny reference values inflate it). */
  maxElemRel: number;
  /** Elements where exactly one side is NaN, or both are infinite with different signs, or one side only is. */
  nonFiniteMismatches: number;
}

/** Compares a result with a reference of the same length (numbers or bigints, read as numbers). */
export function diff(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): Diff {
  if (a.length !== b.length) throw new Error(`length ${a.length} != reference length ${b.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  let maxElemRel = 0;
  let nonFiniteMismatches = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) nonFiniteMismatches++;
      continue;
    }
    const d = Math.abs(x - y);
    if (d > maxAbs) maxAbs = d;
    const m = Math.abs(y);
    if (m > maxRef) maxRef = m;
    if (m > 0 && d / m > maxElemRel) maxElemRel = d / m;
  }
  const rel = nonFiniteMismatches > 0 ? Infinity : maxRef === 0 ? (maxAbs === 0 ? 0 : Infinity) : maxAbs / maxRef;
  return { maxAbs, maxRef, rel, maxElemRel, nonFiniteMismatches };
}

export function formatDiff(d: Diff): string {
  return (
    `max|a-b|/max|b| = ${d.rel.toExponential(3)} (max|a-b| ${d.maxAbs.toExponential(3)}, max|b| ` +
    `${d.maxRef.toExponential(3)}), max elementwise rel ${d.maxElemRel.toExponential(3)}` +
    (d.nonFiniteMismatches ? `, ${d.nonFiniteMismatches} NaN/Inf mismatches` : '')
  );
}

/** True when two typed arrays hold the same bytes (bit-for-bit equal, NaN payloads included). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
}

export function argmax(a: ArrayLike<number>, start = 0, length = a.length - start): number {
  let best = start;
  for (let i = start + 1; i < start + length; i++) if (a[i] > a[best]) best = i;
  return best - start;
}
