// Weights in memory, counted natively by engine.memory(): an fp32 engine holds its weights once (the float constants
// the kernels packed are freed after build), fp16 about half of that (<= 0.55x) and int8 about a quarter (<= 0.3x,
// on every int8 GEMM family: the AVX2 one too keeps its weights int8 at rest), on MNIST-8 and on the ResNet-50
// architecture.
// Freeing the constants must not change a single output bit: each precision is compared with an engine that keeps
// every constant (the addon's test-only releaseConstants: false).

import { describe, expect, test } from 'vitest';
import { calibrate, Engine, Tensor, type EngineMemory } from '../dist/cjs/index.js';
import { native, type NativeTensor } from '../dist/cjs/native.js';
import { loadModel } from '../dist/cjs/onnx/load.js';
import { sameBits, uniform } from './helpers/data';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH } from './helpers/shared';
import { makeResNet50 } from './models/resnet50';

type Precision = 'fp32' | 'fp16' | 'int8' | 'int8-dynamic';
const PRECISIONS: Precision[] = ['fp32', 'fp16', 'int8', 'int8-dynamic'];
const FLOAT32 = 1; // ONNX TensorProto.DataType

/** Bytes of the model's float32 initializers: what an fp32 engine's weights should come to (held once). */
async function floatInitializerBytes(model: string | Uint8Array): Promise<number> {
  const desc = await loadModel(model);
  return desc.initializers.filter((t) => t.dtype === FLOAT32).reduce((n, t) => n + t.data.byteLength, 0);
}

/**
 * Builds `precision` twice through the addon, freeing the unread constants (the default) and keeping them all, runs
 * both on each feed and expects the same bits in every output.
 */
async function expectSameOutputsWithoutRelease(
  model: string | Uint8Array,
  precision: Precision,
  ranges: Map<string, number> | undefined,
  feeds: Record<string, Tensor>[],
): Promise<void> {
  const desc = await loadModel(model);
  const options = { intraOpThreads: 2, precision, ranges: ranges ? Object.fromEntries(ranges) : undefined };
  const freed = await native().createEngine(desc, options);
  const kept = await native().createEngine(desc, { ...options, releaseConstants: false });
  try {
    expect(kept.memory().released).toBe(0);
    expect(freed.memory().released).toBeGreaterThan(0);
    expect(freed.memory().packed).toBe(kept.memory().packed);
    for (const feed of feeds) {
      const names = Object.keys(feed);
      const tensors = Object.values(feed) as unknown as NativeTensor[];
      const a = await freed.run(names, tensors);
      const b = await kept.run(names, tensors);
      expect(Object.keys(a)).toEqual(Object.keys(b));
      for (const name of Object.keys(a)) {
        expect(a[name].dims).toEqual(b[name].dims);
        expect(sameBits(a[name].data, b[name].data), `${precision} output '${name}'`).toBe(true);
      }
    }
  } finally {
    freed.release();
    kept.release();
  }
}

function describeMemory(label: string, m: Record<Precision, EngineMemory>): string {
  const mb = (x: number) => (x / 2 ** 20).toFixed(2);
  return (
    `${label} weights: ` +
    PRECISIONS.map(
      (p) =>
        `${p} ${mb(m[p].weights)} MiB (${(m[p].weights / m.fp32.weights).toFixed(3)}x; ` +
        `constants ${mb(m[p].constants)}, packed ${mb(m[p].packed)}, released ${mb(m[p].released)})`,
    ).join(', ')
  );
}

/** The most int8 weights may take next to fp32's: one byte a weight, plus panel padding and per-channel terms. */
const int8Limit = 0.3;

/** Engine.create at every precision; memory() of each, checked for consistency. */
async function memoryByPrecision(
  model: string | Uint8Array,
  calibration: Awaited<ReturnType<typeof calibrate>>,
): Promise<Record<Precision, EngineMemory>> {
  const out = {} as Record<Precision, EngineMemory>;
  for (const precision of PRECISIONS) {
    const engine = await Engine.create(model, {
      intraOpThreads: 2,
      precision,
      ...(precision === 'int8' ? { calibration } : {}),
    });
    const m = engine.memory();
    expect(m.weights).toBe(m.constants + m.packed);
    expect(m.packed).toBeGreaterThan(0);
    out[precision] = m;
    engine.release();
    expect(() => engine.memory()).toThrow(/released/);
  }
  return out;
}

describeShared('engine memory: MNIST-8', [MNIST8_PATH], () => {
  test('fp32 holds its weights once, fp16 <= 0.55x, int8 <= 0.3x; outputs unchanged by the release', async () => {
    const { images } = loadDigits();
    const feeds = images.slice(0, 20).map((img) => ({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) }));
    const calibration = await calibrate(MNIST8_PATH, feeds);
    const m = await memoryByPrecision(MNIST8_PATH, calibration);
    console.log(describeMemory('MNIST-8', m));

    const floats = await floatInitializerBytes(MNIST8_PATH);
    // Packing pads the panels (MNIST's layers have 8, 16 and 10 output channels), so a little over the file's floats.
    expect(m.fp32.weights).toBeLessThanOrEqual(1.5 * floats);
    expect(m.fp32.released).toBeGreaterThanOrEqual(0.9 * floats);
    expect(m.fp16.weights).toBeLessThanOrEqual(0.55 * m.fp32.weights);
    expect(m.int8.weights).toBeLessThanOrEqual(int8Limit * m.fp32.weights);
    expect(m['int8-dynamic'].weights).toBeLessThanOrEqual(int8Limit * m.fp32.weights);

    for (const precision of PRECISIONS)
      await expectSameOutputsWithoutRelease(MNIST8_PATH, precision, calibration.ranges, feeds.slice(0, 3));
  });
});

describe('engine memory: ResNet-50 architecture', () => {
  test(
    'fp32 holds its weights once, fp16 <= 0.55x, int8 <= 0.3x; outputs unchanged by the release',
    { timeout: 300_000 },
    async () => {
      const model = makeResNet50({ seed: 3 }); // batch 'N': no coverage run at build
      const x = new Tensor('float32', uniform([1, 3, 224, 224], 4, -2, 2), [1, 3, 224, 224]);
      // The weights' footprint does not depend on the ranges; one min-max sample keeps this cheap.
      const calibration = await calibrate(model, [{ input: x }], { method: 'minmax' });
      const m = await memoryByPrecision(model, calibration);
      console.log(describeMemory('ResNet-50', m));

      const floats = await floatInitializerBytes(model);
      // Held once: before constants were freed an fp32 engine held ~2x (the float constants beside their packing).
      // The BatchNorm parameters fold away; panel padding adds a little.
      expect(m.fp32.weights).toBeLessThanOrEqual(1.05 * floats);
      expect(m.fp32.weights).toBeGreaterThanOrEqual(0.95 * floats);
      expect(m.fp16.weights).toBeLessThanOrEqual(0.55 * m.fp32.weights);
      expect(m.int8.weights).toBeLessThanOrEqual(int8Limit * m.fp32.weights);
      expect(m['int8-dynamic'].weights).toBeLessThanOrEqual(int8Limit * m.fp32.weights);

      for (const precision of ['fp32', 'int8'] as Precision[])
        await expectSameOutputsWithoutRelease(model, precision, calibration.ranges, [{ input: x }]);
    },
  );
});
