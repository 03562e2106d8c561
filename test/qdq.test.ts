// QDQ interop, both ways, against onnxruntime-node.
//
// Export round trip: MNIST-8 and PP-OCR cls (mobile v2.0) / rec (PP-OCRv4) are calibrated and int8rt's int8 plan is
// exported. int8rt's engine built from the original model and the calibration, int8rt running the export (QDQ
// import) and onnxruntime-node running the export (uint8 activations, which its x86 kernels want) must agree within
// one quantization step on >= 99.9% of output elements, and give the same class / direction / decoded text. The
// step of an output is the scale of the quantized tensor it is computed from: the output's own DequantizeLinear, or
// the one feeding the float node (Softmax) that computes it; a one-step change of a softmax's input moves its outputs
// by less than that.
// Which export: the default layout is plain QDQ (what TensorRT fuses); where int8rt requantizes a Conv and its residual
// Add once, onnxruntime has no fused kernel and computes that Conv in float, which rounds one step apart from int8rt's
// integer sums on rare ties, and cls amplifies such a step through its later blocks (on 400 crops: 99.75% within a
// step, one direction flipped). onnxruntime therefore runs layout 'exact', which writes those groups as int8rt's
// own arithmetic in standard operators; its agreement on the default layout is logged. int8rt runs both layouts:
// the default one must reproduce the original engine bit for bit, the 'exact' one must agree with onnxruntime.
// The bit-for-bit check is the test of the exporter's own weight quantization (int8 weights, int32 biases, scales,
// derived in TypeScript from the same floats the engine quantizes natively). It is an end-to-end check, not a
// comparison of the numbers themselves: a weight one code off showed in 355 of cls's 400 outputs when it was in the
// first block's Conv, in none when it was in a squeeze-excitation Conv, whose effect the rounding absorbed.
//
// Import: a QDQ model int8rt did not write, laid out as onnxruntime's quantize_static lays it out (asymmetric int8
// activations as Q -> DQ pairs, int8 weights + DequantizeLinear, int32 biases + DequantizeLinear; uint8 on one branch),
// runs on int8 kernels (the report says so, the Q/DQ that remain are boundaries with their reasons) and agrees with
// onnxruntime within one step.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, test } from 'vitest';
import { calibrate, Engine, exportQDQ, Tensor, type ReportRow } from '../dist/cjs/index.js';
import { decodeModel } from '../lib/onnx/load';
import { DataType, type ModelDescription, type NodeDesc, type TensorDesc } from '../lib/onnx/types';
import { encodeModel, GraphBuilder } from '../lib/onnx/write';
import { argmax, rng, sameBits } from './helpers/data';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH, OCR_MODELS } from './helpers/shared';

const THREADS = 2;
const MIN_AGREEMENT = 0.999;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** The scale of the quantized tensor output `name` is computed from (see the header). */
function outputStep(desc: ModelDescription, name: string): number {
  const producer = new Map(desc.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const inits = new Map(desc.initializers.map((t) => [t.name, t]));
  let v = name;
  for (let hops = 0; hops < 8; hops++) {
    const n = producer.get(v);
    if (!n) break;
    if (n.opType === 'DequantizeLinear') {
      const s = inits.get(n.inputs[1]);
      if (!s || s.dtype !== DataType.FLOAT) break;
      return new Float32Array(s.data.buffer, s.data.byteOffset, 1)[0];
    }
    v = n.inputs[0];
  }
  throw new Error(`no DequantizeLinear upstream of output '${name}'`);
}

interface Agreement {
  elements: number;
  within: number;
  maxSteps: number;
}
function agreement(a: ArrayLike<number>, b: ArrayLike<number>, step: number, acc?: Agreement): Agreement {
  const r = acc ?? { elements: 0, within: 0, maxSteps: 0 };
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / step;
    r.elements++;
    if (d <= 1 + 1e-6) r.within++;
    if (d > r.maxSteps) r.maxSteps = d;
  }
  return r;
}
const pct = (x: number) => `${(100 * x).toFixed(3)}%`;
const fmt = (g: Agreement) => `${pct(g.within / g.elements)} of ${g.elements} within one step (max ${g.maxSteps.toFixed(2)})`;

/**
 * Runs every input through: int8rt int8 (original + calibration); int8rt on the default export (QDQ import) and on
 * the same with uint8 activations; int8rt and onnxruntime on the 'exact' export (uint8 for onnxruntime); and
 * onnxruntime on the default export, whose agreement is only logged (see the header).
 */
async function roundTrip(
  model: string,
  calibration: Awaited<ReturnType<typeof calibrate>>,
  inputs: { name: string; data: Float32Array; dims: number[] }[][],
) {
  const int8 = await Engine.create(model, { precision: 'int8', calibration, intraOpThreads: THREADS });
  const qdq = await int8.exportQDQ();
  // The same plan with uint8 activations (zero point 128): what onnxruntime should get on x86, where it converts
  // int8 Q/DQ pairs to uint8 itself and, when only some pairs convert, runs those Convs in float.
  const qdqU8 = await int8.exportQDQ({ activationType: 'uint8' });
  const exact = await int8.exportQDQ({ layout: 'exact' });
  // Without Conv + residual Add groups the two layouts are the same model: run it once.
  const sameLayouts = sameBits(exact, qdq);
  const exactU8 = sameLayouts ? qdqU8 : await int8.exportQDQ({ activationType: 'uint8', layout: 'exact' });
  const fromExport = await Engine.create(qdq, { intraOpThreads: THREADS });
  const fromExportU8 = await Engine.create(qdqU8, { intraOpThreads: THREADS });
  const fromExact = sameLayouts ? fromExport : await Engine.create(exact, { intraOpThreads: THREADS });
  const ortOptions = { intraOpNumThreads: THREADS, interOpNumThreads: 1, logSeverityLevel: 3 } as const;
  const session = await ort.InferenceSession.create(exactU8, ortOptions);
  const sessionDefault = sameLayouts ? session : await ort.InferenceSession.create(qdqU8, ortOptions);
  const desc = decodeModel(qdq);
  const outName = int8.outputs[0].name;
  const step = outputStep(desc, outName);
  const outs: {
    original: Float32Array;
    exported: Float32Array;
    exact: Float32Array;
    ort: Float32Array;
    ortDefault: Float32Array;
    dims: readonly number[];
  }[] = [];
  try {
    for (const feed of inputs) {
      const mine = Object.fromEntries(feed.map((f) => [f.name, new Tensor('float32', f.data, f.dims)]));
      const theirs = Object.fromEntries(feed.map((f) => [f.name, new ort.Tensor('float32', f.data.slice(), f.dims)]));
      const a = (await int8.run(mine))[outName];
      const b = (await fromExport.run(mine))[outName];
      // The export holds the int8 weights, int32 biases and scales the exporter derived in TypeScript; the original
      // engine derives its own natively (see the header).
      expect(sameBits(a.data, b.data), 'int8rt from the export vs int8rt from the original').toBe(true);
      // int8 and uint8 activations are the same numbers: int8rt computes the two exports alike, bit for bit.
      if (outs.length < 2) expect(sameBits((await fromExportU8.run(mine))[outName].data, b.data)).toBe(true);
      const c = (await session.run(theirs))[outName].data as Float32Array;
      outs.push({
        original: a.data as Float32Array,
        exported: b.data as Float32Array,
        exact: sameLayouts ? (b.data as Float32Array) : ((await fromExact.run(mine))[outName].data as Float32Array),
        ort: c,
        ortDefault: sameLayouts ? c : ((await sessionDefault.run(theirs))[outName].data as Float32Array),
        dims: a.dims,
      });
    }
    // Every node int8rt runs in int8 from the original model runs in int8 from the export too (QDQ import).
    const exported = new Map(fromExport.report().map((r) => [r.node, r]));
    for (const r of int8.report())
      if (r.precision === 'int8' && exported.has(r.node))
        expect(exported.get(r.node)!.precision, `${r.op} '${r.node}' from the export`).toBe('int8');
    return { outs, step, qdq, report: fromExport.report(), macs: fromExport.macs() };
  } finally {
    int8.release();
    fromExport.release();
    fromExportU8.release();
    if (!sameLayouts) {
      fromExact.release();
      await sessionDefault.release();
    }
    await session.release();
  }
}

function checkAgreement(label: string, outs: Awaited<ReturnType<typeof roundTrip>>['outs'], step: number) {
  let orig: Agreement | undefined;
  let exp: Agreement | undefined;
  let dflt: Agreement | undefined;
  for (const o of outs) {
    orig = agreement(o.original, o.ort, step, orig);
    exp = agreement(o.exact, o.ort, step, exp);
    dflt = agreement(o.original, o.ortDefault, step, dflt);
  }
  console.log(`${label}: step ${step.toExponential(3)}; int8rt (original + calibration) vs onnxruntime (export): ` +
    `${fmt(orig!)}; int8rt (export) vs onnxruntime (export): ${fmt(exp!)}; ` +
    `int8rt vs onnxruntime on the default layout: ${fmt(dflt!)}`);
  expect(orig!.within / orig!.elements, `${label}: int8rt original vs onnxruntime`).toBeGreaterThanOrEqual(MIN_AGREEMENT);
  expect(exp!.within / exp!.elements, `${label}: int8rt export vs onnxruntime`).toBeGreaterThanOrEqual(MIN_AGREEMENT);
}

/**
 * Every lookup table int8rt builds for `model` (a chain of elementwise nodes run as one int8 table) against
 * onnxruntime computing the exported chain in float between its DequantizeLinear and QuantizeLinear, on all 256 input
 * codes. Each table is cut out behind a 1x1 Conv of weight 1 (an int8 producer at the table's input scale, which
 * passes every code through) and ahead of a Reshape (an int8 reader, so that the output is quantized as in the model).
 * Returns the number of tables and a line for each code where the two differ.
 */
async function lookupTables(modelPath: string, calibration: { ranges: ReadonlyMap<string, number> }) {
  const desc = decodeModel(new Uint8Array(readFileSync(modelPath)));
  const full = await Engine.create(modelPath, { precision: 'int8', calibration, intraOpThreads: 1 });
  const report = full.report();
  full.release();
  const byName = new Map(desc.nodes.map((n) => [n.name, n]));
  const producer = new Map(desc.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const f32 = (name: string, dims: number[], v: number[]): TensorDesc => ({ name, dtype: DataType.FLOAT, dims, data: new Uint8Array(new Float32Array(v).buffer) });
  const node = (name: string, opType: string, inputs: string[], outputs: string[]): NodeDesc => ({ name, opType, domain: '', inputs, outputs, attributes: [] });
  let tables = 0;
  const differ: string[] = [];
  for (const row of report) {
    if (!/^table/.test(row.kernel) || row.fusedInto || !row.int8Scales) continue;
    const members = report.filter((r) => r.node === row.node || r.fusedInto === row.node).map((r) => byName.get(r.node)!);
    const written = new Set(members.flatMap((n) => n.outputs));
    const out = byName.get(row.node)!.outputs[0];
    const read = [...new Set(members.flatMap((n) => n.inputs))].filter((v) => v && !written.has(v));
    const inp = read.find((v) => row.int8Scales![v] !== undefined)!;
    const consts = read.filter((v) => v !== inp);
    const shape: TensorDesc = { name: 'check_shape', dtype: DataType.INT64, dims: [4], data: new Uint8Array(new BigInt64Array([1n, 1n, 1n, 256n]).buffer) };
    const cut = encodeModel({
      ...desc,
      inputs: [{ name: 'check_in', dtype: DataType.FLOAT, dims: [1, 1, 1, 256] }],
      outputs: [{ name: 'check_out', dtype: DataType.FLOAT, dims: null }],
      nodes: [
        node('check_conv', 'Conv', ['check_in', 'check_w'], [inp]),
        ...consts.flatMap((v) => (producer.has(v) ? [producer.get(v)!] : [])),
        ...members,
        node('check_reshape', 'Reshape', [out, 'check_shape'], ['check_out']),
      ],
      initializers: [...desc.initializers.filter((t) => consts.includes(t.name)), f32('check_w', [1, 1, 1, 1], [1]), shape],
    });
    const sIn = row.int8Scales[inp];
    const sOut = row.int8Scales[out];
    const ranges = new Map(calibration.ranges);
    ranges.set('check_in', 127 * sIn);
    const engine = await Engine.create(cut, { precision: 'int8', calibration: { ranges }, intraOpThreads: 1 });
    const session = await ort.InferenceSession.create(await engine.exportQDQ({ activationType: 'uint8' }), { intraOpNumThreads: 1, logSeverityLevel: 3 });
    try {
      // The cut runs the table as the model does: same kernel, same scales.
      const cutRow = engine.report().find((r) => r.node === row.node)!;
      expect(cutRow.kernel).toBe(row.kernel);
      expect(cutRow.int8Scales).toMatchObject({ [inp]: sIn, [out]: sOut });
      const x = Float32Array.from({ length: 256 }, (_, i) => (i - 128) * sIn);
      const a = (await engine.run({ check_in: new Tensor('float32', x, [1, 1, 1, 256]) })).check_out.data as Float32Array;
      const b = (await session.run({ check_in: new ort.Tensor('float32', x.slice(), [1, 1, 1, 256]) })).check_out.data as Float32Array;
      for (let i = 0; i < 256; i++)
        if (a[i] !== b[i]) differ.push(`${row.node}: code ${i - 128} -> ${a[i] / sOut} (int8rt) vs ${b[i] / sOut} (onnxruntime)`);
      tables++;
    } finally {
      engine.release();
      await session.release();
    }
  }
  return { tables, differ };
}

function int8Rows(report: ReportRow[], ops: string[]) {
  return report.filter((r) => ops.includes(r.op) && !r.boundary);
}

// ---------------------------------------------------------------------------------------------------------------
// Export round trips

describeShared('QDQ export round trip: MNIST-8', [MNIST8_PATH], () => {
  test('onnxruntime and int8rt agree on the export within one step, and classify alike', async () => {
    const { images } = loadDigits();
    const pick = (start: number, n: number, stride: number) =>
      Array.from({ length: n }, (_, i) => images[(start + i * stride) % images.length]);
    const calibration = await calibrate(
      MNIST8_PATH,
      pick(7, 100, 97).map((img) => ({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) })),
    );
    const evalImages = pick(3, 300, 31);
    const { outs, step, report, macs } = await roundTrip(
      MNIST8_PATH,
      calibration,
      evalImages.map((d) => [{ name: 'Input3', data: d, dims: [1, 1, 28, 28] }]),
    );
    checkAgreement('MNIST-8', outs, step);
    const same = outs.filter((o) => argmax(o.original) === argmax(o.ort) && argmax(o.exported) === argmax(o.ort));
    expect(same.length).toBe(outs.length);
    // The export runs on int8 kernels in int8rt: every Conv/MatMul, all of the MACs.
    for (const r of int8Rows(report, ['Conv', 'MatMul'])) expect(r.precision, JSON.stringify(r)).toBe('int8');
    expect(macs.int8).toBe(macs.total);
    expect(macs.total).toBeGreaterThan(0);
  });
});

// The PaddleOCR pre- and post-processing shared with the demo (CommonJS).
interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}
interface OcrInput {
  data: Float32Array;
  dims: number[];
}
interface OcrLib {
  checkFonts(): Promise<void>;
  loadKeys(): string[];
  textLines(count: number, seed: number): { text: string; size: number; weight: string; family: string }[];
  renderLine(text: string, options: object): Promise<Rgb>;
  rotate180(img: Rgb): Rgb;
  recInput(img: Rgb): Promise<OcrInput>;
  clsInput(img: Rgb): Promise<OcrInput>;
  ctcDecode(out: { data: Float32Array; dims: readonly number[] }, keys: string[]): { text: string };
  clsDecode(out: { data: Float32Array; dims: readonly number[] }): { label: string };
}
const ocr = createRequire(import.meta.url)('../examples/ocr-lib.js') as OcrLib;

describe('QDQ export round trip: PP-OCR', () => {
  let calibImages: Rgb[];
  let evalImages: Rgb[];
  let clsImages: Rgb[];
  beforeAll(async () => {
    await ocr.checkFonts();
    calibImages = await Promise.all(ocr.textLines(12, 2).map((l) => ocr.renderLine(l.text, l)));
    clsImages = await Promise.all(ocr.textLines(200, 1).map((l) => ocr.renderLine(l.text, l)));
    evalImages = clsImages.slice(0, 16);
  });

  async function run(model: string, prep: (img: Rgb) => Promise<OcrInput>, evalSet: Rgb[]) {
    const calibIn = await Promise.all(calibImages.map((img) => prep(img)));
    const calibration = await calibrate(
      model,
      calibIn.map((x) => ({ x: new Tensor('float32', x.data, x.dims) })),
      { method: 'mse', intraOpThreads: THREADS },
    );
    const evalIn = await Promise.all(evalSet.map((img) => prep(img)));
    return roundTrip(model, calibration, evalIn.map((x) => [{ name: 'x', data: x.data, dims: x.dims }]));
  }

  // 200 text lines, each upright and rotated: 400 crops. The direction must be the same on every one of them.
  test('cls: agreement within one step and the same direction', async () => {
    const both = clsImages.flatMap((img) => [img, ocr.rotate180(img)]);
    const { outs, step, report } = await run(OCR_MODELS.cls, ocr.clsInput, both);
    expect(outs.length).toBe(400);
    checkAgreement('PP-OCR cls', outs, step);
    const dir = (d: Float32Array, dims: readonly number[]) => ocr.clsDecode({ data: d, dims }).label;
    for (const o of outs) {
      expect(dir(o.original, o.dims), `int8rt vs onnxruntime: ${Array.from(o.original)} vs ${Array.from(o.ort)}`).toBe(dir(o.ort, o.dims));
      expect(dir(o.exact, o.dims), `int8rt (export) vs onnxruntime: ${Array.from(o.exact)} vs ${Array.from(o.ort)}`).toBe(dir(o.ort, o.dims));
    }
    const dflt = outs.filter((o) => dir(o.original, o.dims) !== dir(o.ortDefault, o.dims)).length;
    console.log(`PP-OCR cls: ${outs.length} crops, the same direction on all; on the default layout onnxruntime's differs on ${dflt}`);
    for (const r of int8Rows(report, ['Conv'])) expect(r.precision, JSON.stringify(r)).toBe('int8');
  });

  // int8rt runs HardSigmoid and hard-swish chains (Add, Clip, Mul, Div) as int8 tables; onnxruntime computes the same
  // chains in float between DequantizeLinear and QuantizeLinear. The table holds those float values rounded once, so
  // the two must agree on every code.
  test('cls: every lookup table equals onnxruntime on all 256 codes', async () => {
    const calibIn = await Promise.all(calibImages.map((img) => ocr.clsInput(img)));
    const calibration = await calibrate(
      OCR_MODELS.cls,
      calibIn.map((x) => ({ x: new Tensor('float32', x.data, x.dims) })),
      { method: 'mse', intraOpThreads: THREADS },
    );
    const { tables, differ } = await lookupTables(OCR_MODELS.cls, calibration);
    console.log(`PP-OCR cls: ${tables} lookup tables, ${differ.length} codes differ from onnxruntime`);
    expect(tables).toBeGreaterThanOrEqual(27);
    expect(differ).toEqual([]);
  });

  test('rec: agreement within one step and the same text', async () => {
    const keys = ocr.loadKeys();
    const { outs, step, report } = await run(OCR_MODELS.rec, ocr.recInput, evalImages);
    checkAgreement('PP-OCRv4 rec', outs, step);
    for (const o of outs) {
      const text = (d: Float32Array) => ocr.ctcDecode({ data: d, dims: o.dims }, keys).text;
      expect(text(o.original)).toBe(text(o.ort));
      expect(text(o.exact)).toBe(text(o.ort));
    }
    for (const r of int8Rows(report, ['Conv'])) expect(r.precision, JSON.stringify(r)).toBe('int8');
  });
});

/** x -> Conv 3x3 + Relu -> r1; Conv 1x1 (r1) + r1 (residual Add, int8rt fuses it into the Conv) [-> Relu] -> y. */
function residualModel(relu: boolean): Uint8Array {
  const r = rng(3);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (r() - 0.5) * 2 * s);
  const C = 64;
  const g = new GraphBuilder();
  g.addInput('x', 'float32', [1, 8, 10, 10]);
  g.addInitializer('w1', rand(C * 8 * 9, 0.3), [C, 8, 3, 3]);
  g.addInitializer('b1', rand(C, 0.2), [C]);
  g.addNode('Conv', ['x', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1] });
  g.addNode('Relu', ['c1'], ['r1']);
  g.addInitializer('w2', rand(C * C, 0.2), [C, C, 1, 1]);
  g.addInitializer('b2', rand(C, 0.2), [C]);
  g.addNode('Conv', ['r1', 'w2', 'b2'], ['c2']);
  g.addNode('Add', ['c2', 'r1'], [relu ? 'a2' : 'y']);
  if (relu) g.addNode('Relu', ['a2'], ['y']);
  g.addOutput('y', 'float32', [1, C, 10, 10]);
  return g.toBytes({ opset: 13 });
}

describe("QDQ export layout 'exact'", () => {
  // The residual Add's output is the graph output, or a fused Relu follows it: both forms of the group.
  test.each([false, true])('Conv + residual Add (Relu after: %s) in onnxruntime equals int8rt to the bit', async (relu) => {
    const bytes = residualModel(relu);
    const r = rng(9);
    const sample = () => Float32Array.from({ length: 800 }, () => (r() - 0.5) * 4);
    const calibration = await calibrate(bytes, Array.from({ length: 8 }, () => ({ x: new Tensor('float32', sample(), [1, 8, 10, 10]) })));
    const engine = await Engine.create(bytes, { precision: 'int8', calibration, intraOpThreads: THREADS });
    const exact = await engine.exportQDQ({ activationType: 'uint8', layout: 'exact' });
    const session = await ort.InferenceSession.create(exact, { intraOpNumThreads: THREADS, logSeverityLevel: 3 });
    try {
      const fused = engine.report().find((row) => row.op === 'Add')!;
      expect(fused.note).toMatch(/residual Add fused/);
      // The group is written as integer arithmetic: a Conv on the integers and a float64 epilogue.
      const ops = decodeModel(exact).nodes.map((n) => n.opType);
      expect(ops.filter((op) => op === 'Cast').length).toBeGreaterThanOrEqual(4);
      // The first Conv's Relu, and the one after the Add.
      expect(ops.filter((op) => op === 'Relu').length).toBe(relu ? 2 : 1);
      for (let k = 0; k < 20; k++) {
        const x = sample();
        const a = (await engine.run({ x: new Tensor('float32', x, [1, 8, 10, 10]) })).y.data;
        const b = (await session.run({ x: new ort.Tensor('float32', x.slice(), [1, 8, 10, 10]) })).y.data;
        expect(sameBits(a, b as Float32Array)).toBe(true);
      }
    } finally {
      engine.release();
      await session.release();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Import of a model quantized the way onnxruntime's quantize_static does it

/** Asymmetric activation quantization: range forced to include 0, scale = (max - min) / 255, rne zero point. */
function asymmetric(lo: number, hi: number, type: 'int8' | 'uint8') {
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  const qmin = type === 'int8' ? -128 : 0;
  const scale = Math.fround((hi - lo) / 255);
  const zp = Math.round(qmin - lo / scale);
  return { scale, zp };
}

interface OrtStyle {
  bytes: Uint8Array;
  step: number;
}

/**
 * x[1,3,12,12] -> Conv(8, 3x3, pad 1, per-tensor int8 weights, int32 bias) -> Relu (removed: the Q's zero point is
 * the lowest value) -> MaxPool 2x2 -> Conv(8, 1x1, per-channel weights) + the pool (residual Add) -> Sigmoid ->
 * Reshape [1, 288] -> Gemm(10, transB) -> y; activations int8 asymmetric, the Sigmoid's output uint8.
 */
function ortStyleModel(): OrtStyle {
  const r = rng(11);
  const g = new GraphBuilder();
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (r() - 0.5) * 2 * s);
  let n = 0;
  const name = (base: string) => `${base}_${n++}`;
  const act = (x: string, lo: number, hi: number, type: 'int8' | 'uint8' = 'int8') => {
    const { scale, zp } = asymmetric(lo, hi, type);
    const s = name('scale');
    const z = name('zp');
    g.addInitializer(s, new Float32Array([scale]), []);
    g.addInitializer(z, type === 'int8' ? new Int8Array([zp]) : new Uint8Array([zp]), []);
    const q = name(`${x}_q`);
    const dq = name(`${x}_dq`);
    g.addNode('QuantizeLinear', [x, s, z], [q]);
    g.addNode('DequantizeLinear', [q, s, z], [dq]);
    return { dq, scale };
  };
  // Symmetric int8 weights, per tensor (axis undefined) or per channel (axis given); int32 bias at s_x * s_w.
  const weights = (w: Float32Array, dims: number[], axis?: number) => {
    const C = axis === undefined ? 1 : dims[axis];
    const scales = new Float32Array(C);
    const q = new Int8Array(w.length);
    const inner = axis === undefined ? w.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let c = 0; c < C; c++) {
      let amax = 0;
      for (let i = 0; i < w.length; i++) if (axis === undefined || Math.floor(i / inner) % dims[axis] === c) amax = Math.max(amax, Math.abs(w[i]));
      scales[c] = Math.fround(amax / 127);
    }
    for (let i = 0; i < w.length; i++) {
      const c = axis === undefined ? 0 : Math.floor(i / inner) % dims[axis];
      q[i] = Math.max(-127, Math.min(127, Math.round(w[i] / scales[c])));
    }
    const qn = name('w_q');
    const sn = name('w_scale');
    const zn = name('w_zp');
    const out = name('w_dq');
    g.addInitializer(qn, q, dims);
    g.addInitializer(sn, scales, axis === undefined ? [] : [C]);
    g.addInitializer(zn, new Int8Array(C), axis === undefined ? [] : [C]);
    g.addNode('DequantizeLinear', [qn, sn, zn], [out], axis === undefined ? {} : { axis });
    return { dq: out, scales };
  };
  const bias = (b: Float32Array, sx: number, sw: Float32Array) => {
    const q = Int32Array.from(b, (v, i) => Math.round(v / Math.fround(sx * sw[sw.length === 1 ? 0 : i])));
    const s = Float32Array.from(b, (_, i) => Math.fround(sx * sw[sw.length === 1 ? 0 : i]));
    const qn = name('b_q');
    const sn = name('b_scale');
    const zn = name('b_zp');
    const out = name('b_dq');
    g.addInitializer(qn, q, [b.length]);
    g.addInitializer(sn, s, [b.length]);
    g.addInitializer(zn, new Int32Array(b.length), [b.length]);
    g.addNode('DequantizeLinear', [qn, sn, zn], [out], { axis: 0 });
    return out;
  };
  g.addInput('x', 'float32', [1, 3, 12, 12]);
  const x = act('x', -1, 1);
  const w1 = weights(rand(8 * 3 * 9, 0.4), [8, 3, 3, 3]);
  g.addNode('Conv', [x.dq, w1.dq, bias(rand(8, 0.2), x.scale, w1.scales)], ['c1'], { pads: [1, 1, 1, 1] });
  const c1 = act('c1', 0, 2.5); // Relu folded into the zero point (range [0, 2.5])
  g.addNode('MaxPool', [c1.dq], ['p1'], { kernel_shape: [2, 2], strides: [2, 2] });
  const p1 = act('p1', 0, 2.5); // same parameters: the pool runs on the quantized tensor
  const w2 = weights(rand(8 * 8, 0.5), [8, 8, 1, 1], 0);
  g.addNode('Conv', [p1.dq, w2.dq, bias(rand(8, 0.1), p1.scale, w2.scales)], ['c2']);
  const c2 = act('c2', -2, 2);
  g.addNode('Add', [c2.dq, p1.dq], ['a1']);
  const a1 = act('a1', -2, 4);
  g.addNode('Sigmoid', [a1.dq], ['s1']);
  const s1 = act('s1', 0, 1, 'uint8');
  g.addInitializer('shape', new BigInt64Array([1n, 288n]), [2]);
  g.addNode('Reshape', [s1.dq, 'shape'], ['f1']);
  const f1 = act('f1', 0, 1, 'uint8');
  const w3 = weights(rand(10 * 288, 0.1), [10, 288], 0);
  g.addNode('Gemm', [f1.dq, w3.dq, bias(rand(10, 0.3), f1.scale, w3.scales)], ['g1'], { transB: 1 });
  const y = act('g1', -3, 3);
  g.addNode('Identity', [y.dq], ['y']);
  g.addOutput('y', 'float32', [1, 10]);
  return { bytes: g.toBytes({ opset: 13 }), step: y.scale };
}

describe('QDQ import of an onnxruntime-style quantized model', () => {
  test('runs on int8 kernels and agrees with onnxruntime within one step', async () => {
    const { bytes, step } = ortStyleModel();
    const engine = await Engine.create(bytes, { intraOpThreads: THREADS });
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: THREADS, logSeverityLevel: 3 });
    try {
      const report = engine.report();
      const byOp = (op: string) => report.filter((row) => row.op === op && !row.boundary);
      for (const op of ['Conv', 'MaxPool', 'Add', 'Sigmoid', 'Reshape', 'Gemm'])
        for (const row of byOp(op)) expect(row.precision, JSON.stringify(row)).toBe('int8');
      // What is left of the Q/DQ nodes: the input's Q and the output's DQ, each a boundary with its reason.
      const boundaries = report.filter((row) => row.boundary);
      expect(boundaries.map((row) => row.op).sort()).toEqual(['DequantizeLinear', 'QuantizeLinear']);
      for (const row of boundaries) expect(row.reason).toMatch(/graph input 'x'|Identity/);
      const kernels = report.map((row) => row.kernel).join(' ');
      expect(kernels).toMatch(/qlinearconv/);
      expect(kernels).toMatch(/qgemm/);
      expect(kernels).toMatch(/qlookup/);

      let acc: Agreement | undefined;
      const r = rng(5);
      for (let k = 0; k < 20; k++) {
        const data = Float32Array.from({ length: 3 * 144 }, () => (r() - 0.5) * 2.2);
        const a = (await engine.run({ x: new Tensor('float32', data, [1, 3, 12, 12]) })).y.data as Float32Array;
        const b = (await session.run({ x: new ort.Tensor('float32', data.slice(), [1, 3, 12, 12]) })).y.data as Float32Array;
        acc = agreement(a, b, step, acc);
      }
      console.log(`onnxruntime-style QDQ model: int8rt vs onnxruntime ${fmt(acc!)}`);
      expect(acc!.within / acc!.elements).toBeGreaterThanOrEqual(MIN_AGREEMENT);
    } finally {
      engine.release();
      await session.release();
    }
  });

  test('exportQDQ refuses an engine that is not int8, and a model that is already quantized', async () => {
    const { bytes } = ortStyleModel();
    const fp32 = await Engine.create(bytes);
    await expect(fp32.exportQDQ()).rejects.toMatchObject({ code: 'ERR_INT8RT_INVALID_ARGUMENT' });
    fp32.release();
    await expect(exportQDQ(bytes, { ranges: new Map() })).rejects.toMatchObject({ code: 'ERR_INT8RT_UNSUPPORTED' });
  });
});
