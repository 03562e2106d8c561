// Calibration (lib/calibrate.ts over native/quant/calibrator): ranges for the tensors an int8 engine of MNIST-8 reads
// (and for every float tensor on request), the methods' ordering, progress, TensorRT cache and JSON round trips,
// refusal of another model's cache, bounded memory over 2,000 samples, and the same ranges from the same samples
// however the runs interleave.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, expect, test } from 'vitest';
import { calibrate, Calibration, Engine, Int8rtError, Tensor, type Feeds } from '../dist/cjs/index.js';
import { describeShared, MNIST8_PATH, OCR_MODELS } from './helpers/shared';
import { ocrPage } from './helpers/data';
import { loadModel } from '../dist/cjs/onnx/load.js';

interface MnistDigit {
  length: number;
  raw: number[];
}
const mnist = createRequire(import.meta.url)('mnist') as MnistDigit[];
const PIXELS = 28 * 28;

/** Digit k: classes in turn (0, 1, ..., 9, 0, ...), so any prefix covers every class. */
function digit(k: number): Float32Array {
  const d = mnist[k % 10];
  const i = Math.floor(k / 10) % d.length;
  return Float32Array.from(d.raw.slice(i * PIXELS, (i + 1) * PIXELS));
}

function* digits(n: number): Generator<Feeds> {
  for (let k = 0; k < n; k++) yield { Input3: new Tensor('float32', digit(k), [1, 1, 28, 28]) };
}

async function expectCode(p: Promise<unknown>, code: string, ...inMessage: string[]): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(Int8rtError);
  expect((e as Int8rtError).code).toBe(code);
  for (const s of inMessage) expect((e as Error).message).toContain(s);
}

/** float32 decoding of amax / 127 and back: within a couple of float32 ulps. */
function expectSameRanges(a: Map<string, number>, b: Map<string, number>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [name, amax] of a) {
    const got = b.get(name)!;
    expect(Math.abs(got - amax), name).toBeLessThanOrEqual(Math.max(amax * 2 ** -22, 1e-30));
  }
}

describeShared('calibrate: MNIST-8', [MNIST8_PATH], () => {
  let entropy: Calibration;
  const progress: [number, number | undefined][] = [];
  beforeAll(async () => {
    entropy = await calibrate(MNIST8_PATH, [...digits(200)], { onProgress: (d, t) => progress.push([d, t]) });
  });

  test("tensors 'all': every float tensor the engine computes gets a range", async () => {
    const all = await calibrate(MNIST8_PATH, digits(200), { tensors: 'all' });
    const desc = await loadModel(MNIST8_PATH);
    const constant = new Set(desc.initializers.map((t) => t.name));
    const expected = new Set(desc.inputs.map((i) => i.name));
    const foldable = new Set<string>();
    for (const n of desc.nodes) {
      // Constant subgraphs are folded at build (Parameter193 -> Reshape), never computed per sample.
      if (n.inputs.every((i) => !i || constant.has(i))) {
        n.outputs.forEach((o) => constant.add(o));
        continue;
      }
      // A Conv followed by a per-channel bias Add may run as one Conv (the engine folds the bias in); then only the
      // Add's output exists.
      const consumers = desc.nodes.filter((m) => m.inputs.includes(n.outputs[0]));
      if (n.opType === 'Conv' && consumers.length === 1 && consumers[0].opType === 'Add') {
        foldable.add(n.outputs[0]);
        continue;
      }
      n.outputs.forEach((o) => expected.add(o));
    }
    expect(expected.size).toBe(10);
    for (const name of expected) expect(all.ranges.has(name), name).toBe(true);
    for (const name of all.ranges.keys()) expect(expected.has(name) || foldable.has(name), name).toBe(true);

    // The default ('int8') leaves out what an int8 engine never materialises: the outputs of the bias Adds that the
    // Relus after them are fused with. The ranges it keeps are the same numbers, and an int8 engine made from either
    // calibration is the same engine.
    expect([...entropy.ranges.keys()].sort()).toEqual(
      [...all.ranges.keys()].filter((n) => n !== 'Plus30_Output_0' && n !== 'Plus112_Output_0').sort(),
    );
    for (const [name, amax] of entropy.ranges) expect(all.ranges.get(name), name).toBe(amax);
    const a = await Engine.create(MNIST8_PATH, { precision: 'int8', calibration: entropy, intraOpThreads: 1 });
    const b = await Engine.create(MNIST8_PATH, { precision: 'int8', calibration: all, intraOpThreads: 1 });
    try {
      expect(a.report()).toEqual(b.report());
      const feeds = { Input3: new Tensor('float32', digit(7), [1, 1, 28, 28]) };
      const ya = (await a.run(feeds)).Plus214_Output_0.data as Float32Array;
      const yb = (await b.run(feeds)).Plus214_Output_0.data as Float32Array;
      expect(Array.from(ya)).toEqual(Array.from(yb));
    } finally {
      a.release();
      b.release();
    }
  });

  test('entropy ranges (default): the tensors an int8 engine reads', async () => {
    const desc = await loadModel(MNIST8_PATH);
    expect(entropy.ranges.size).toBe(8);
    expect(entropy.method).toBe('entropy');
    expect(entropy.modelSha256).toBe(desc.sha256);
    for (const [name, amax] of entropy.ranges) {
      const o = entropy.observed!.get(name)!;
      expect(amax, name).toBeGreaterThan(0);
      expect(amax, name).toBeLessThanOrEqual(Math.max(-o.min, o.max));
    }
    // Pixels are in [0, 1] and some are 1.
    expect(entropy.observed!.get('Input3')).toEqual({ min: 0, max: 1 });
  });

  test('the same samples in the same order give the same ranges, bit for bit', async () => {
    // Two runs are in flight at a time; the first batch of a tensor fixes its histogram's bins, so this holds only
    // because samples fold in sample order whatever the runs' timing (native/quant/calibrator.h, Determinism).
    const again = await calibrate(MNIST8_PATH, [...digits(200)]);
    expect(again.toTensorRTCache()).toBe(entropy.toTensorRTCache());
    expect(JSON.stringify(again)).toBe(JSON.stringify(entropy));
  });

  test('onProgress counts every sample, with the total for arrays', () => {
    expect(progress.length).toBe(200);
    progress.forEach(([d, t], i) => {
      expect(d).toBe(i + 1);
      expect(t).toBe(200);
    });
  });

  test('methods: minmax is max|x|; the others clip within it; async iterables and no total', async () => {
    async function* asyncDigits(): AsyncGenerator<Feeds> {
      yield* digits(200);
    }
    const seen: (number | undefined)[] = [];
    const minmax = await calibrate(MNIST8_PATH, asyncDigits(), {
      method: 'minmax',
      onProgress: (_d, t) => seen.push(t),
    });
    expect(seen.length).toBe(200);
    expect(seen.every((t) => t === undefined)).toBe(true);
    const percentile = await calibrate(MNIST8_PATH, digits(200), { method: 'percentile', percentile: 99.9 });
    const mse = await calibrate(MNIST8_PATH, digits(200), { method: 'mse' });
    expect(percentile.percentile).toBe(99.9);
    for (const [name, amax] of minmax.ranges) {
      const o = minmax.observed!.get(name)!;
      expect(amax, name).toBe(Math.max(-o.min, o.max));
      for (const c of [entropy, percentile, mse]) {
        expect(c.ranges.get(name)!, `${c.method} ${name}`).toBeLessThanOrEqual(amax);
        expect(c.ranges.get(name)!, `${c.method} ${name}`).toBeGreaterThan(0);
      }
    }
  });

  test('TensorRT cache: write, read back, same ranges; header per method and version', async () => {
    const text = entropy.toTensorRTCache();
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('TRT-8601-EntropyCalibration2');
    expect(lines.length).toBe(entropy.ranges.size + 1);
    for (const l of lines.slice(1)) expect(l).toMatch(/^[^:]+: [0-9a-f]{8}$/);
    const back = await Calibration.fromTensorRTCache(text, MNIST8_PATH);
    expect(back.method).toBe('entropy');
    expect(back.modelSha256).toBe(entropy.modelSha256);
    expectSameRanges(entropy.ranges, back.ranges);
    // Read back from the model's bytes too, and a cache read keeps its algorithm when written again.
    const fromBytes = await Calibration.fromTensorRTCache(text, fs.readFileSync(MNIST8_PATH));
    expect(fromBytes.toTensorRTCache(100300).split('\n')[0]).toBe('TRT-100300-EntropyCalibration2');

    const ranges = new Map([['Input3', 1]]);
    expect(new Calibration('minmax', ranges, entropy.modelSha256).toTensorRTCache().split('\n')[0]).toBe(
      'TRT-8601-MinMaxCalibration',
    );
    expect(new Calibration('percentile', ranges, entropy.modelSha256).toTensorRTCache(7000).split('\n')[0]).toBe(
      'TRT-7000-LegacyCalibration',
    );
    expect(new Calibration('mse', ranges, entropy.modelSha256).toTensorRTCache().split('\n')[0]).toBe(
      'TRT-8601-LegacyCalibration',
    );
    // scale = 1 / 127 = 0x3c010204
    expect(new Calibration('minmax', ranges, entropy.modelSha256).toTensorRTCache()).toBe(
      'TRT-8601-MinMaxCalibration\nInput3: 3c010204\n',
    );
  });

  test('a TensorRT-written cache decodes to scale * 127', async () => {
    const text =
      'TRT-8601-EntropyCalibration2\r\n' +
      'Input3: 3c010a14\r\n' +
      'Plus214_Output_0: 3c008912\r\n' +
      '(Unnamed Layer* 3) [Shuffle]_output: 3c8954e8\r\n' +
      'ReLU32_Output_0: 3d5a740e\r\n';
    const cal = await Calibration.fromTensorRTCache(text, MNIST8_PATH);
    expect(cal.method).toBe('entropy');
    expect([...cal.ranges.keys()]).toEqual(['Input3', 'Plus214_Output_0', 'ReLU32_Output_0']);
    expect(cal.ranges.get('Input3')).toBeCloseTo(1.0002, 4); // scale 0.0078759
    expect(cal.ranges.get('Plus214_Output_0')).toBeCloseTo(0.99634, 5);
    expect(cal.ranges.get('ReLU32_Output_0')).toBeCloseTo(6.77333, 4); // scale 0.0533333
    const mm = await Calibration.fromTensorRTCache('TRT-100300-MinMaxCalibration\nInput3: 3c010a14\n', MNIST8_PATH);
    expect(mm.method).toBe('minmax');
  });

  test("another model's cache, and malformed caches, are refused", async () => {
    const other = 'TRT-7000-EntropyCalibration2\ndata: 3c008912\nconv1: 3c88edfc\nInput3: 3c010a14\nprob: 3c010a14\n';
    await expectCode(
      Calibration.fromTensorRTCache(other, MNIST8_PATH),
      'ERR_INT8RT_CALIBRATION',
      "'data'",
      "'conv1'",
      "'prob'",
      'another model',
    );
    const noHeader = Calibration.fromTensorRTCache('Input3: 3c010a14\n', MNIST8_PATH);
    await expectCode(noHeader, 'ERR_INT8RT_CALIBRATION', 'TRT-');
    await expectCode(
      Calibration.fromTensorRTCache('TRT-8601-EntropyCalibration2\nInput3 3c010a14\n', MNIST8_PATH),
      'ERR_INT8RT_CALIBRATION',
      'line 2',
    );
    await expectCode(
      Calibration.fromTensorRTCache('TRT-8601-EntropyCalibration2\nInput3: 7fc00000\n', MNIST8_PATH),
      'ERR_INT8RT_CALIBRATION',
      'Input3',
    );
  });

  test('JSON round trip, and refusal for a model with other bytes', async () => {
    const text = JSON.stringify(entropy);
    const back = await Calibration.fromJSON(text, MNIST8_PATH);
    expect(back.method).toBe('entropy');
    expect(back.ranges).toEqual(entropy.ranges);
    const obj = await Calibration.fromJSON(entropy.toJSON(), fs.readFileSync(MNIST8_PATH));
    expect(obj.ranges).toEqual(entropy.ranges);
    const otherSha = (await loadModel(OCR_MODELS.cls)).sha256;
    await expectCode(
      Calibration.fromJSON(text, OCR_MODELS.cls),
      'ERR_INT8RT_CALIBRATION',
      entropy.modelSha256,
      otherSha,
    );
    await expectCode(Calibration.fromJSON('{"format":"x"}', MNIST8_PATH), 'ERR_INT8RT_CALIBRATION');
    await expectCode(Calibration.fromJSON('not json', MNIST8_PATH), 'ERR_INT8RT_CALIBRATION');
  });

  test('bad arguments and bad samples', async () => {
    const bad = 'ERR_INT8RT_INVALID_ARGUMENT';
    await expectCode(calibrate(MNIST8_PATH, digits(1), { method: 'kl' as never }), bad, 'method');
    await expectCode(calibrate(MNIST8_PATH, digits(1), { method: 'percentile', percentile: 0 }), bad, 'percentile');
    await expectCode(calibrate(MNIST8_PATH, 42 as never), 'ERR_INT8RT_INVALID_ARGUMENT', 'iterable');
    await expectCode(calibrate(MNIST8_PATH, []), 'ERR_INT8RT_CALIBRATION', 'at least one sample');
    const wrongName = [...digits(3), { image: new Tensor('float32', digit(0), [1, 1, 28, 28]) }];
    await expectCode(calibrate(MNIST8_PATH, wrongName), 'ERR_INT8RT_INPUT_NAME', 'calibration sample 3', 'image');
    const wrongShape = [{ Input3: new Tensor('float32', new Float32Array(10), [1, 10]) }];
    await expectCode(calibrate(MNIST8_PATH, wrongShape), 'ERR_INT8RT_SHAPE', 'calibration sample 0');
    await expectCode(calibrate(MNIST8_PATH, [{ Input3: digit(0) as never }]), 'ERR_INT8RT_INVALID_ARGUMENT', 'Tensor');
  });

  test('calibrate options: tensors and nodePrecision are checked; nodePrecision shapes the tensors kept', async () => {
    const feeds = [...digits(4)];
    const bad = 'ERR_INT8RT_INVALID_ARGUMENT';
    await expectCode(calibrate(MNIST8_PATH, feeds, { tensors: 'some' as never }), bad, 'tensors');
    await expectCode(
      calibrate(MNIST8_PATH, feeds, { nodePrecision: { Times212: 'int4' as never } }),
      'ERR_INT8RT_INVALID_ARGUMENT',
      'Times212',
    );
    await expectCode(
      calibrate(MNIST8_PATH, feeds, { nodePrecision: { NoSuchNode: 'fp32' } }),
      'ERR_INT8RT_INVALID_ARGUMENT',
      'NoSuchNode',
    );
    // With the first Relu in fp32, so is the Conv it is fused with: nothing quantizes the input any more, and the
    // MaxPool after the Relu stays float too (it starts no int8 region); the next Conv quantizes the MaxPool's output.
    const plain = await calibrate(MNIST8_PATH, feeds);
    const pinned = await calibrate(MNIST8_PATH, feeds, { nodePrecision: { ReLU32: 'fp32' } });
    expect(plain.ranges.has('Input3')).toBe(true);
    expect(plain.ranges.has('ReLU32_Output_0')).toBe(true);
    expect(pinned.ranges.has('Input3')).toBe(false);
    expect(pinned.ranges.has('ReLU32_Output_0')).toBe(false);
    expect(pinned.ranges.has('Pooling66_Output_0')).toBe(true);
    expect(pinned.ranges.size).toBe(plain.ranges.size - 2);
  });

  test('memory stays bounded over 2,000 samples', async () => {
    const rss: number[] = [];
    await calibrate(MNIST8_PATH, digits(2000), {
      onProgress: (done) => {
        if (done === 200 || done === 2000) rss.push(process.memoryUsage().rss);
      },
    });
    expect(rss.length).toBe(2);
    // One MNIST run moves ~100 KB of activations; if samples or per-run buffers were kept, 1,800 more samples would
    // add well over 100 MB.
    expect(rss[1] - rss[0]).toBeLessThan(32 * 2 ** 20);
  }, 60_000);
});

test('calibrate PP-OCR cls: Conv epilogues unfused; the same ranges however runs interleave', async () => {
  const samples = [0, 1, 2, 3, 4, 5].map((s) => ({ x: new Tensor('float32', ocrPage(48, 192, s), [1, 3, 48, 192]) }));
  const all = await calibrate(OCR_MODELS.cls, samples, { tensors: 'all', intraOpThreads: 1 });
  const desc = await loadModel(OCR_MODELS.cls);
  // Every Relu/Clip output is a tensor of its own when epilogues are not fused.
  const activations = desc.nodes.filter((n) => n.opType === 'Relu' || n.opType === 'Clip');
  expect(activations.length).toBeGreaterThan(5);
  for (const n of activations) expect(all.ranges.has(n.outputs[0]), n.outputs[0]).toBe(true);
  expect(all.ranges.has('x')).toBe(true);
  for (const o of desc.outputs) expect(all.ranges.has(o.name), o.name).toBe(true);

  // The default keeps what an int8 engine reads (fewer tensors), with the same numbers, whatever the thread count
  // and however the two runs in flight interleave.
  const int8 = await calibrate(OCR_MODELS.cls, samples, { intraOpThreads: 1 });
  expect(int8.ranges.size).toBeLessThan(all.ranges.size);
  expect(int8.ranges.has('x')).toBe(true);
  for (const [name, amax] of int8.ranges) expect(all.ranges.get(name), name).toBe(amax);
  for (let k = 0; k < 2; k++) {
    const again = await calibrate(OCR_MODELS.cls, samples, { intraOpThreads: 2 });
    expect(again.toTensorRTCache()).toBe(int8.toTensorRTCache());
  }
});
