// Static int8 end to end: calibrate MNIST-8 on 200 digits, build an int8 engine, and check accuracy against float on the
// other 9,800 digits; the precision report and per-node overrides on a small model built with the ONNX writer.

import { beforeAll, describe, expect, test } from 'vitest';
import { calibrate, Engine, Tensor } from '../dist/cjs/index.js';
import { GraphBuilder } from '../lib/onnx/write';
import { argmax } from './helpers/data';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH } from './helpers/shared';

const CHUNK = 100;

async function classify(engine: Engine, images: Float32Array[]): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < images.length; start += CHUNK) {
    const chunk = images.slice(start, start + CHUNK);
    const results = await Promise.all(
      chunk.map((img) => engine.run({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) })),
    );
    for (const r of results) out.push(argmax(r.Plus214_Output_0.data as Float32Array));
  }
  return out;
}

describeShared('int8 MNIST-8', [MNIST8_PATH], () => {
  let calibImages: Float32Array[];
  let evalImages: Float32Array[];
  let evalLabels: number[];
  beforeAll(() => {
    // 20 digits of each class calibrate; the other 9,800 are counted.
    const { images, labels } = loadDigits();
    calibImages = [];
    evalImages = [];
    evalLabels = [];
    const seen = new Array(10).fill(0);
    images.forEach((img, i) => {
      if (seen[labels[i]]++ < 20) calibImages.push(img);
      else {
        evalImages.push(img);
        evalLabels.push(labels[i]);
      }
    });
  });

  test('calibrated int8 reaches >= 99.3% and agrees with float on >= 99.7% of digits', async () => {
    const calibration = await calibrate(
      MNIST8_PATH,
      calibImages.map((img) => ({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) })),
    );
    const fp32 = await Engine.create(MNIST8_PATH, { intraOpThreads: 2 });
    const int8 = await Engine.create(MNIST8_PATH, { intraOpThreads: 2, precision: 'int8', calibration });
    const report = int8.report();
    const byOp = (op: string) => report.filter((r) => r.op === op);
    for (const r of [...byOp('Conv'), ...byOp('MatMul')]) expect(r.precision, JSON.stringify(r)).toBe('int8');
    const macs = await (async () => {
      await int8.run({ Input3: new Tensor('float32', evalImages[0], [1, 1, 28, 28]) });
      return int8.macs();
    })();
    expect(macs.int8 / macs.total).toBeGreaterThan(0.99);

    const pf = await classify(fp32, evalImages);
    const pq = await classify(int8, evalImages);
    let correctF = 0;
    let correctQ = 0;
    let agree = 0;
    for (let i = 0; i < evalLabels.length; i++) {
      correctF += Number(pf[i] === evalLabels[i]);
      correctQ += Number(pq[i] === evalLabels[i]);
      agree += Number(pf[i] === pq[i]);
    }
    const n = evalLabels.length;
    console.log(
      `MNIST-8 on ${n} digits (200 more calibrated): fp32 ${((100 * correctF) / n).toFixed(2)}%, ` +
        `int8 ${((100 * correctQ) / n).toFixed(2)}%, same prediction ${((100 * agree) / n).toFixed(2)}%`,
    );
    expect(correctQ / n).toBeGreaterThanOrEqual(0.993);
    expect(agree / n).toBeGreaterThanOrEqual(0.997);
    fp32.release();
    int8.release();
  });

  test('dynamic int8 (no calibration) is within 0.1 points of float', async () => {
    const fp32 = await Engine.create(MNIST8_PATH, { intraOpThreads: 2 });
    const dyn = await Engine.create(MNIST8_PATH, { intraOpThreads: 2, precision: 'int8-dynamic' });
    const report = dyn.report();
    for (const r of report.filter((row) => row.op === 'Conv' || row.op === 'MatMul')) {
      expect(r.precision, JSON.stringify(r)).toBe('int8');
      expect(r.kernel, JSON.stringify(r)).toMatch(/dynamic/);
    }
    expect(report.filter((r) => r.boundary)).toEqual([]);
    for (const r of report.filter((row) => row.op === 'MaxPool'))
      expect(r.reason).toBe('int8-dynamic quantizes only Conv, Gemm and MatMul');

    const pf = await classify(fp32, evalImages);
    const pd = await classify(dyn, evalImages);
    let correctF = 0;
    let correctD = 0;
    for (let i = 0; i < evalLabels.length; i++) {
      correctF += Number(pf[i] === evalLabels[i]);
      correctD += Number(pd[i] === evalLabels[i]);
    }
    const n = evalLabels.length;
    console.log(
      `MNIST-8 on ${n} digits: fp32 ${((100 * correctF) / n).toFixed(2)}%, ` +
        `int8-dynamic ${((100 * correctD) / n).toFixed(2)}%`,
    );
    expect(Math.abs(correctD - correctF) / n).toBeLessThanOrEqual(0.001);
    fp32.release();
    dyn.release();
  });
});

/** x[1,3,8,8] -> Conv(4 out, 3x3, pad 1) -> Relu -> Conv(4 out, 1x1) -> Softmax(axis 1) -> y */
function smallModel(): Uint8Array {
  const g = new GraphBuilder();
  let s = 7;
  const rand = (n: number) =>
    Float32Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648 - 0.5;
    });
  g.addInput('x', 'float32', [1, 3, 8, 8]);
  g.addInitializer('w1', rand(4 * 3 * 9), [4, 3, 3, 3]);
  g.addInitializer('b1', rand(4), [4]);
  g.addInitializer('w2', rand(4 * 4), [4, 4, 1, 1]);
  g.addNode('Conv', ['x', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv1');
  g.addNode('Relu', ['c1'], ['r1'], {}, 'relu1');
  g.addNode('Conv', ['r1', 'w2'], ['c2'], {}, 'conv2');
  g.addNode('Softmax', ['c2'], ['y'], { axis: 1 }, 'softmax');
  g.addOutput('y', 'float32', [1, 4, 8, 8]);
  return g.toBytes({ opset: 13 });
}

describe('int8 precision report', () => {
  const model = smallModel();
  const samples = () =>
    Array.from({ length: 8 }, (_, k) => ({
      x: new Tensor('float32', Float32Array.from({ length: 192 }, (_, i) => Math.sin(i * 0.37 + k)), [1, 3, 8, 8]),
    }));

  test('a node without an int8 kernel stays fp32 with the reason; boundaries are rows of their own', async () => {
    const calibration = await calibrate(model, samples());
    const e = await Engine.create(model, { precision: 'int8', calibration });
    const rows = e.report();
    const row = (n: string) => rows.find((r) => r.node === n)!;
    expect(row('conv1').precision).toBe('int8');
    expect(row('relu1').fusedInto).toBe('conv1');
    expect(row('conv2').precision).toBe('int8');
    expect(row('softmax').precision).toBe('fp32');
    expect(row('softmax').reason).toBe('no int8 kernel for Softmax');
    const boundaries = rows.filter((r) => r.boundary);
    expect(boundaries.map((r) => r.op).sort()).toEqual(['DequantizeLinear', 'QuantizeLinear']);
    // The int8 result stays close to float.
    const f = await Engine.create(model);
    const feeds = samples()[3];
    const a = (await e.run(feeds)).y.data as Float32Array;
    const b = (await f.run(feeds)).y.data as Float32Array;
    let md = 0;
    for (let i = 0; i < a.length; i++) md = Math.max(md, Math.abs(a[i] - b[i]));
    expect(md).toBeLessThan(0.05);
  });

  test('nodePrecision is obeyed, or refused with a reason', async () => {
    const calibration = await calibrate(model, samples());
    const e = await Engine.create(model, { precision: 'int8', calibration, nodePrecision: { conv2: 'fp32' } });
    const conv2 = e.report().find((r) => r.node === 'conv2')!;
    expect(conv2.precision).toBe('fp32');
    expect(conv2.reason).toBe('pinned to fp32 by nodePrecision');
    await expect(
      Engine.create(model, { precision: 'int8', calibration, nodePrecision: { softmax: 'int8' } }),
    ).rejects.toMatchObject({ code: 'ERR_INT8RT_UNSUPPORTED', message: expect.stringMatching(/softmax.*no int8 kernel/) });
    await expect(
      Engine.create(model, { precision: 'int8', calibration, nodePrecision: { nosuchnode: 'fp32' } }),
    ).rejects.toMatchObject({ code: 'ERR_INT8RT_INVALID_ARGUMENT', message: expect.stringMatching(/nosuchnode/) });
    await expect(Engine.create(model, { precision: 'int8' })).rejects.toMatchObject({ code: 'ERR_INT8RT_CALIBRATION' });
  });
});

describe('int8 elementwise chains', () => {
  // x[1,3,8,8] -> Conv 3x3 -> Mul(1.5) -> Add(0.25) -> hard-swish as PaddleOCR writes it (x * Clip(x + 3, 0, 6) / 6)
  // -> Mul(0.8) -> Add(-0.1) -> Conv 1x1 -> y
  function chainModel(): Uint8Array {
    const g = new GraphBuilder();
    let s = 11;
    const rand = (n: number) =>
      Float32Array.from({ length: n }, () => {
        s = (s * 1103515245 + 12345) % 2147483648;
        return s / 2147483648 - 0.5;
      });
    const scalar = (name: string, v: number) => g.addInitializer(name, Float32Array.of(v), [1]);
    g.addInput('x', 'float32', [1, 3, 8, 8]);
    g.addInitializer('w1', rand(4 * 3 * 9), [4, 3, 3, 3]);
    g.addInitializer('w2', rand(4 * 4), [4, 4, 1, 1]);
    scalar('k_scale', 1.5);
    scalar('k_shift', 0.25);
    scalar('three', 3);
    g.addInitializer('zero', Float32Array.of(0), []);
    g.addInitializer('six', Float32Array.of(6), []);
    scalar('k_w0', 0.8);
    scalar('k_w1', -0.1);
    g.addNode('Conv', ['x', 'w1'], ['c'], { pads: [1, 1, 1, 1] }, 'conv1');
    g.addNode('Mul', ['c', 'k_scale'], ['c1'], {}, 'lab_mul');
    g.addNode('Add', ['c1', 'k_shift'], ['c2'], {}, 'lab_add');
    g.addNode('Add', ['c2', 'three'], ['h1'], {}, 'hs_add');
    g.addNode('Clip', ['h1', 'zero', 'six'], ['h2'], {}, 'hs_clip');
    g.addNode('Mul', ['c2', 'h2'], ['h3'], {}, 'hs_mul');
    g.addNode('Div', ['h3', 'six'], ['h4'], {}, 'hs_div');
    g.addNode('Mul', ['h4', 'k_w0'], ['h5'], {}, 'aff_mul');
    g.addNode('Add', ['h5', 'k_w1'], ['h6'], {}, 'aff_add');
    g.addNode('Conv', ['h6', 'w2'], ['y'], {}, 'conv2');
    g.addOutput('y', 'float32', [1, 4, 8, 8]);
    return g.toBytes({ opset: 13 });
  }

  test('Conv -> constant Mul/Add folds into the Conv; the hard-swish chain runs as one int8 table', async () => {
    const model = chainModel();
    const samples = Array.from({ length: 8 }, (_, k) => ({
      x: new Tensor('float32', Float32Array.from({ length: 192 }, (_, i) => 3 * Math.sin(i * 0.41 + k)), [1, 3, 8, 8]),
    }));
    const calibration = await calibrate(model, samples);
    // The default calibration observes only what such an engine reads: not the steps inside the chain.
    expect([...calibration.ranges.keys()].sort()).toEqual(['c2', 'h6', 'x', 'y']);
    const e = await Engine.create(model, { precision: 'int8', calibration });
    const f = await Engine.create(model);
    try {
      const rows = e.report();
      const row = (n: string) => rows.find((r) => r.node === n)!;
      for (const n of ['lab_mul', 'lab_add']) {
        expect(row(n).fusedInto).toBe('conv1');
        expect(row(n).note).toMatch(/folded into the Conv/);
      }
      expect(row('aff_add')).toMatchObject({ precision: 'int8', kernel: 'table_s8' });
      for (const n of ['hs_add', 'hs_clip', 'hs_mul', 'hs_div', 'aff_mul']) {
        expect(row(n)).toMatchObject({ precision: 'int8', kernel: 'table_s8', fusedInto: 'aff_add' });
        expect(row(n).note).toMatch(/lookup table: 'h6' = f\('c2'\) by 6 elementwise nodes/);
      }
      // Close to float on average (entropy clips the largest outputs a little: no bound on the maximum).
      let err = 0;
      let ref = 0;
      for (const feeds of samples) {
        const a = (await e.run(feeds)).y.data as Float32Array;
        const b = (await f.run(feeds)).y.data as Float32Array;
        for (let i = 0; i < a.length; i++) {
          err += Math.abs(a[i] - b[i]);
          ref += Math.abs(b[i]);
        }
      }
      expect(err / ref).toBeLessThan(0.03);
    } finally {
      e.release();
      f.release();
    }
  });
});
