// engine.profile(): rows cover every ONNX node (run, fused or folded) of MNIST-8 and PP-OCRv4 det, the rows add up to
// the measured run time, int8 boundaries are rows of their own, comparisons match nodes across differently fused
// engines, and the Chrome trace has one complete event per node per timed run. Few iterations: this checks
// structure and bookkeeping, not speed.

import { describe, expect, test } from 'vitest';
import {
  calibrate,
  chromeTrace,
  compareProfiles,
  Engine,
  profileCompare,
  Tensor,
  type Profile,
  type ProfileComparison,
} from '../dist/cjs/index.js';
import { loadModel } from '../lib/onnx/load';
import { ocrPage, uniform } from './helpers/data';
import { describeShared, MNIST8_PATH, OCR_MODELS } from './helpers/shared';

/** Every ONNX node of the model is in exactly one row's `nodes` or in `folded`; boundary rows list none. */
async function expectCoverage(model: string, p: Profile): Promise<void> {
  const desc = await loadModel(model);
  const names = desc.nodes.map((n, i) => n.name || `${n.opType}_${i}`);
  const seen = new Map<string, number>();
  for (const r of p.rows) {
    if (r.boundary) {
      expect(r.nodes).toEqual([]);
      expect(['QuantizeLinear', 'DequantizeLinear']).toContain(r.op);
    } else {
      expect(r.nodes.length, `row ${r.node}`).toBeGreaterThan(0);
      expect(r.nodes[0]).toBe(r.node);
    }
    for (const n of r.nodes) seen.set(n, (seen.get(n) ?? 0) + 1);
  }
  for (const f of p.folded) seen.set(f.node, (seen.get(f.node) ?? 0) + 1);
  for (const n of names) expect(seen.get(n), `node ${n}`).toBe(1);
  expect(seen.size).toBe(names.length);
}

/** Rows are timed once per run, their statistics are ordered, and they add up to the measured runs within 10%. */
function expectConsistent(p: Profile, iterations: number): void {
  expect(p.meta.iterations).toBe(iterations);
  let shares = 0;
  for (const r of p.rows) {
    expect(r.calls).toBe(iterations);
    expect(r.minMs).toBeGreaterThanOrEqual(0);
    expect(r.minMs).toBeLessThanOrEqual(r.medianMs);
    expect(r.medianMs).toBeLessThanOrEqual(r.p90Ms);
    expect(r.p90Ms).toBeLessThanOrEqual(r.maxMs);
    expect(r.totalMs).toBeCloseTo(r.meanMs * iterations, 9);
    shares += r.share;
  }
  expect(shares).toBeCloseTo(1, 9);
  const sum = p.rows.reduce((s, r) => s + r.meanMs, 0);
  expect(p.totals.operatorsMs).toBeCloseTo(sum, 9);
  const ratio = sum / p.totals.run.meanMs;
  console.log(
    `${p.meta.precision} profile: ${p.rows.length} rows, operators ${sum.toFixed(3)} ms, ` +
      `engine.run ${p.totals.run.meanMs.toFixed(3)} ms (ratio ${ratio.toFixed(3)})`,
  );
  expect(ratio).toBeGreaterThan(0.9);
  expect(ratio).toBeLessThanOrEqual(1.0000001);
}

/** One 'X' event of category 'op' per row per run, each inside its run's event, in run order. */
function expectTrace(p: Profile | ProfileComparison, pid: number, profile: Profile): void {
  const trace = JSON.parse(JSON.stringify(chromeTrace(p))) as ReturnType<typeof chromeTrace>;
  const events = trace.traceEvents.filter((e) => e.pid === pid);
  const runs = events.filter((e) => e.ph === 'X' && e.cat === 'run');
  const ops = events.filter((e) => e.ph === 'X' && e.cat === 'op');
  const iterations = profile.meta.iterations;
  expect(runs.length).toBe(iterations);
  expect(ops.length).toBe(profile.rows.length * iterations);
  const count = new Map<string, number>();
  for (const e of ops) {
    const key = `${e.name}#${(e.args as { iteration: number }).iteration}`;
    count.set(key, (count.get(key) ?? 0) + 1);
    expect(e.dur!).toBeGreaterThanOrEqual(0);
    const run = runs[(e.args as { iteration: number }).iteration];
    expect(e.ts!).toBeGreaterThanOrEqual(run.ts!);
    expect(e.ts! + e.dur!).toBeLessThanOrEqual(run.ts! + run.dur! + 0.002);
  }
  for (const r of profile.rows)
    for (let i = 0; i < iterations; i++) expect(count.get(`${r.node}#${i}`), `${r.node} run ${i}`).toBe(1);
  for (let k = 1; k < ops.length; k++) expect(ops[k].ts!).toBeGreaterThanOrEqual(ops[k - 1].ts!);
}

/** Every ONNX node is in exactly one comparison row; each side's times add up to its profile's rows. */
function expectComparison(c: ProfileComparison): void {
  const [a, b] = c.profiles;
  const seen = new Map<string, number>();
  for (const r of c.rows) for (const n of r.nodes) seen.set(n, (seen.get(n) ?? 0) + 1);
  for (const r of [...a.rows, ...b.rows]) for (const n of r.nodes) expect(seen.get(n), n).toBe(1);
  const sumA = c.rows.reduce((s, r) => s + r.a.meanMs, 0);
  const sumB = c.rows.reduce((s, r) => s + r.b.meanMs, 0);
  expect(sumA).toBeCloseTo(a.totals.operatorsMs, 9);
  expect(sumB).toBeCloseTo(b.totals.operatorsMs, 9);
  const medians = (p: Profile) => p.rows.reduce((s, r) => s + r.medianMs, 0);
  expect(c.rows.reduce((s, r) => s + r.a.ms, 0)).toBeCloseTo(medians(a), 9);
  expect(c.rows.reduce((s, r) => s + r.b.ms, 0)).toBeCloseTo(medians(b), 9);
  expect(c.totals.speedup).toBeCloseTo(medians(a) / medians(b), 9);
  expect(c.totals.runSpeedup).toBeCloseTo(a.totals.run.medianMs / b.totals.run.medianMs, 9);
  // Rows only one side runs (b's quantize/dequantize boundaries) have no speedup and count as slower.
  for (const r of c.rows) {
    if (r.boundary) {
      expect(r.a.rows).toEqual([]);
      expect(r.speedup).toBeUndefined();
      expect(r.slower).toBe(true);
    }
    if (r.a.rows.length && r.b.rows.length) {
      expect(r.speedup).toBeCloseTo(r.a.ms / r.b.ms, 9);
      expect(r.slower).toBe(r.b.ms > 1.05 * r.a.ms);
    }
    expect(r.deltaMs).toBeCloseTo(r.b.ms - r.a.ms, 12);
  }
  expect(c.slower().every((r) => r.slower)).toBe(true);
}

describeShared('engine.profile on MNIST-8', [MNIST8_PATH], () => {
  const feeds = () => ({ Input3: new Tensor('float32', uniform([1, 1, 28, 28], 7), [1, 1, 28, 28]) });

  test('fp32: rows cover every node, add up to the run, and carry MACs and shapes', async () => {
    const engine = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    const p = await engine.profile(feeds(), { iterations: 20, warmup: 2 });
    await expectCoverage(MNIST8_PATH, p);
    expectConsistent(p, 20);
    // Conv28 with its constant Add (folded into the bias) and Relu (fused) is one row, named after the Conv.
    const conv = p.rowOf('ReLU32')!;
    expect(conv.node).toBe('Convolution28');
    expect(conv.nodes).toEqual(['Convolution28', 'Plus30', 'ReLU32']);
    expect(conv.ops).toEqual(['Conv', 'Add', 'Relu']);
    expect(conv.outputShapes).toEqual([[1, 8, 28, 28]]);
    expect(conv.inputShapes[0]).toEqual([1, 1, 28, 28]);
    expect(conv.macs).toBe(8 * 25 * 28 * 28); // 8 output channels, 5x5 kernel over 1 channel, 28x28 outputs
    expect(conv.gmacPerS).toBeGreaterThan(0);
    const matmul = p.rowOf('Times212')!;
    expect(matmul.macs).toBe(256 * 10);
    expect(p.rowOf('Pooling66')!.macs).toBe(0);
    expect(p.rowOf('Pooling66')!.gmacPerS).toBeUndefined();
    // The profile's MACs are the engine's own count of a run.
    expect(p.totals.macs).toBe(engine.macs().total);
    expect(p.folded.map((f) => f.node)).toEqual(['Times212_reshape1']);
    expectTrace(p, 1, p);
    // JSON leaves the raw timeline out but keeps every row.
    const json = JSON.parse(JSON.stringify(p));
    expect(json.rows.length).toBe(p.rows.length);
    expect(json.timeline).toBeUndefined();
    expect(p.format()).toMatch(/^mnist-8\.onnx: fp32/);
    engine.release();
  });

  test('int8: boundaries are rows of their own; the comparison with fp32 matches every node', async () => {
    const calibration = await calibrate(MNIST8_PATH, [feeds(), { Input3: new Tensor('float32', uniform([1, 1, 28, 28], 8), [1, 1, 28, 28]) }]);
    const fp32 = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    const int8 = await Engine.create(MNIST8_PATH, { intraOpThreads: 1, precision: 'int8', calibration });
    const a = await fp32.profile(feeds(), { iterations: 10, warmup: 1 });
    const b = await int8.profile(feeds(), { iterations: 10, warmup: 1 });
    await expectCoverage(MNIST8_PATH, b);
    expectConsistent(b, 10);
    const boundaries = b.rows.filter((r) => r.boundary);
    expect(boundaries.map((r) => r.op).sort()).toEqual(['DequantizeLinear', 'QuantizeLinear']);
    expect(b.rowOf('Convolution110')!.precision).toBe('int8');
    expect(b.totals.int8Macs).toBe(b.totals.macs);
    const c = compareProfiles(a, b);
    expect(c.labels).toEqual(['fp32', 'int8']);
    expectComparison(c);
    expect(c.rows.filter((r) => r.boundary).length).toBe(2);
    expect(c.totals.boundaryMs).toBeCloseTo(boundaries.reduce((s, r) => s + r.medianMs, 0), 9);
    expectTrace(c, 1, a);
    expectTrace(c, 2, b);
    fp32.release();
    int8.release();
  });

  test('profileCompare builds, profiles and compares both precisions', async () => {
    const c = await profileCompare(MNIST8_PATH, feeds(), {
      precisions: ['fp32', 'int8-dynamic'],
      iterations: 3,
      warmup: 0,
      intraOpThreads: 1,
    });
    expect(c.labels).toEqual(['fp32', 'int8-dynamic']);
    expect(c.profiles[1].rowOf('Convolution28')!.precision).toBe('int8');
    expectComparison(c);
    await expect(profileCompare(MNIST8_PATH, feeds(), { precisions: ['fp32'] as never })).rejects.toMatchObject({
      code: 'ERR_INT8RT_INVALID_ARGUMENT',
    });
  });

  test('bad options, bad feeds and released engines fail with their codes', async () => {
    const engine = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    await expect(engine.profile(feeds(), { iterations: 0 })).rejects.toMatchObject({ code: 'ERR_INT8RT_INVALID_ARGUMENT' });
    await expect(engine.profile(feeds(), { warmup: -1 })).rejects.toMatchObject({ code: 'ERR_INT8RT_INVALID_ARGUMENT' });
    await expect(engine.profile({ nope: feeds().Input3 }, { iterations: 1 })).rejects.toMatchObject({
      code: 'ERR_INT8RT_INPUT_NAME',
    });
    await expect(
      engine.profile({ Input3: new Tensor('float32', new Float32Array(4), [1, 1, 2, 2]) }, { iterations: 1 }),
    ).rejects.toMatchObject({ code: 'ERR_INT8RT_SHAPE' });
    engine.release();
    await expect(engine.profile(feeds())).rejects.toMatchObject({ code: 'ERR_INT8RT_RELEASED' });
  });
});

describe('engine.profile on PP-OCRv4 det', () => {
  const H = 160;
  const W = 160;
  const feeds = () => ({ x: new Tensor('float32', ocrPage(H, W, 3), [1, 3, H, W]) });

  test('fp32 and int8 rows cover every node and add up to the run; the event loop stays free', async () => {
    const fp32 = await Engine.create(OCR_MODELS.det, { intraOpThreads: 2 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const a = await fp32.profile(feeds(), { iterations: 4, warmup: 1 });
    clearInterval(timer);
    // The timed runs happen on a worker thread: timers fire meanwhile.
    expect(ticks).toBeGreaterThan(0);
    await expectCoverage(OCR_MODELS.det, a);
    expectConsistent(a, 4);
    expect(a.rows.length).toBeGreaterThan(100);
    expect(a.rows.some((r) => r.nodes.length > 1)).toBe(true); // Conv+BatchNormalization(+Relu) groups

    const calibration = await calibrate(OCR_MODELS.det, [feeds()], { method: 'minmax' });
    const int8 = await Engine.create(OCR_MODELS.det, { intraOpThreads: 2, precision: 'int8', calibration });
    const b = await int8.profile(feeds(), { iterations: 3, warmup: 1 });
    await expectCoverage(OCR_MODELS.det, b);
    expectConsistent(b, 3);
    expect(b.rows.some((r) => r.boundary)).toBe(true);
    const c = compareProfiles(a, b);
    expectComparison(c);
    expectTrace(b, 1, b);
    fp32.release();
    int8.release();
  });
});
