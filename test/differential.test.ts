// int8rt against onnxruntime-node on the same seeded inputs, every output of every model compared.
//
// Metric, per output: max|a - b| / max|b| <= 1e-4, where a is int8rt's result and b onnxruntime's (the error relative
// to the output's scale, so outputs with many near-zero elements are judged fairly). The largest elementwise relative
// difference is logged too, for information. Output names, dtypes and shapes must match exactly.

import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { Engine, Tensor } from '../dist/cjs/index.js';
import { diff, formatDiff, ocrPage, ocrPixels, uniform } from './helpers/data';
import { describeShared, MNIST8_PATH, OCR_MODELS } from './helpers/shared';

const MAX_REL = 1e-4;
const THREADS = 2;

interface Feed {
  dims: number[];
  data: Float32Array;
}

/** Runs `model` in int8rt and onnxruntime-node on the same feeds and checks every output. */
async function compareWithOnnxruntime(label: string, model: string | Uint8Array, feeds: Record<string, Feed>) {
  const engine = await Engine.create(model, { intraOpThreads: THREADS });
  // Two calls because InferenceSession.create's overloads take a path or bytes, not the union.
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, { intraOpNumThreads: THREADS, interOpNumThreads: 1 })
      : await ort.InferenceSession.create(model, { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
  try {
    const mineFeeds: Record<string, Tensor> = {};
    const refFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      mineFeeds[name] = new Tensor('float32', f.data, f.dims);
      // onnxruntime gets its own copy, so neither runtime can see what the other did to its input buffer.
      refFeeds[name] = new ort.Tensor('float32', f.data.slice(), f.dims);
    }
    const t0 = performance.now();
    const mine = await engine.run(mineFeeds);
    const t1 = performance.now();
    const ref = await session.run(refFeeds);
    const t2 = performance.now();
    console.log(`${label}: int8rt ${(t1 - t0).toFixed(0)} ms, onnxruntime ${(t2 - t1).toFixed(0)} ms`);

    expect(Object.keys(mine).sort(), `${label}: output names`).toEqual([...session.outputNames].sort());
    expect(engine.outputNames, `${label}: output order`).toEqual([...session.outputNames]);
    for (const name of session.outputNames) {
      const a = mine[name];
      const b = ref[name];
      expect(a.dtype, `${label}: dtype of '${name}'`).toBe(b.type);
      expect([...a.dims], `${label}: shape of '${name}'`).toEqual([...b.dims]);
      const d = diff(a.data as ArrayLike<number>, b.data as ArrayLike<number>);
      console.log(`${label}: '${name}' [${a.dims.join(',')}] ${formatDiff(d)}`);
      expect(d.rel, `${label}: '${name}' ${formatDiff(d)}`).toBeLessThanOrEqual(MAX_REL);
    }
  } finally {
    engine.release();
    await session.release();
  }
}

describeShared('differential: MNIST-8', [MNIST8_PATH], () => {
  for (const seed of [1, 2, 3]) {
    test(`random pixels in [0, 1), seed ${seed}`, async () => {
      const dims = [1, 1, 28, 28];
      await compareWithOnnxruntime(`MNIST-8 seed ${seed}`, MNIST8_PATH, { Input3: { dims, data: uniform(dims, seed) } });
    });
  }
  test('pixels in 0..255 (the model card allows that range too)', async () => {
    const dims = [1, 1, 28, 28];
    await compareWithOnnxruntime('MNIST-8 0..255', MNIST8_PATH, { Input3: { dims, data: uniform(dims, 4, 0, 255) } });
  });
});

describe('differential: PP-OCR (inputs as (x/255 - 0.5)/0.5)', () => {
  // Detection runs on synthetic document pages (helpers/data.ts ocrPage): on pure noise its probability map is all
  // near zero (max ~1e-4), where max|a-b|/max|b| measures float32 rounding of saturated sigmoids rather than the
  // network. Recognition and classification run on both a synthetic text line and random pixels.
  test('PP-OCRv4 det at [1,3,640,640]', { timeout: 300_000 }, async () => {
    const dims = [1, 3, 640, 640];
    await compareWithOnnxruntime('PP-OCRv4 det 640x640', OCR_MODELS.det, { x: { dims, data: ocrPage(640, 640, 11) } });
  });

  test('PP-OCRv4 det at a non-square size, [1,3,224,352] (symbolic H and W)', { timeout: 300_000 }, async () => {
    const dims = [1, 3, 224, 352];
    await compareWithOnnxruntime('PP-OCRv4 det 224x352', OCR_MODELS.det, { x: { dims, data: ocrPage(224, 352, 12) } });
  });

  test('PP-OCRv4 rec at [1,3,48,320]', async () => {
    const dims = [1, 3, 48, 320];
    await compareWithOnnxruntime('PP-OCRv4 rec 48x320 text line', OCR_MODELS.rec, { x: { dims, data: ocrPage(48, 320, 21) } });
    await compareWithOnnxruntime('PP-OCRv4 rec 48x320 noise', OCR_MODELS.rec, { x: { dims, data: ocrPixels(dims, 22) } });
  });

  test('PP-OCR mobile v2.0 cls at [1,3,48,192]', async () => {
    const dims = [1, 3, 48, 192];
    await compareWithOnnxruntime('PP-OCR cls 48x192 text line', OCR_MODELS.cls, { x: { dims, data: ocrPage(48, 192, 31) } });
    await compareWithOnnxruntime('PP-OCR cls 48x192 noise', OCR_MODELS.cls, { x: { dims, data: ocrPixels(dims, 32) } });
  });
});

describe('differential: ResNet-50 architecture (random weights)', () => {
  test('ResNet-50 at [1,3,224,224]', { timeout: 600_000 }, async () => {
    // Written by test/models/resnet50.ts; imported here so the other suites in this file run while it is absent.
    const { makeResNet50 } = await import('./models/resnet50');
    const bytes: Uint8Array = await makeResNet50({ seed: 50, batch: 1 });
    expect(bytes).toBeInstanceOf(Uint8Array);
    const probe = await ort.InferenceSession.create(bytes);
    const inputName = probe.inputNames[0];
    await probe.release();
    // ImageNet-style preprocessing of random 8-bit pixels: (x/255 - mean) / std per channel.
    const dims = [1, 3, 224, 224];
    const data = uniform(dims, 51, 0, 1);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const plane = 224 * 224;
    for (let i = 0; i < data.length; i++) {
      const c = Math.floor(i / plane) % 3;
      data[i] = (Math.floor(data[i] * 256) / 255 - mean[c]) / std[c];
    }
    await compareWithOnnxruntime('ResNet-50 224x224', bytes, { [inputName]: { dims, data } });
  });
});
