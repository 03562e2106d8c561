// Many runs in flight, several engines, worker threads, and release() under load. run() executes off the main thread:
// results must not depend on how many runs share the engine (bit-for-bit), and the event loop must keep turning.

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { Engine, Tensor } from '../dist/cjs/index.js';
import { numel, ocrPixels, sameBits, uniform } from './helpers/data';
import { describeShared, MNIST8_PATH, OCR_MODELS, REPO_ROOT } from './helpers/shared';

const CJS_INDEX = path.join(REPO_ROOT, 'dist', 'cjs', 'index.js');
const CLS_DIMS = [1, 3, 48, 192];

function mnistInput(i: number): Tensor {
  return new Tensor('float32', uniform([1, 1, 28, 28], 1000 + i), [1, 1, 28, 28]);
}

function clsInput(i: number): Tensor {
  return new Tensor('float32', ocrPixels(CLS_DIMS, 2000 + i), CLS_DIMS);
}

async function sequential(engine: Engine, feeds: Record<string, Tensor>[]): Promise<Record<string, Tensor>[]> {
  const out: Record<string, Tensor>[] = [];
  for (const f of feeds) out.push(await engine.run(f));
  return out;
}

function expectSameResults(label: string, got: Record<string, Tensor>[], want: Record<string, Tensor>[]): void {
  expect(got.length).toBe(want.length);
  let mismatches = 0;
  for (let i = 0; i < got.length; i++) {
    for (const name of Object.keys(want[i])) {
      const a = got[i][name];
      const b = want[i][name];
      if (!a || a.dtype !== b.dtype || a.dims.join() !== b.dims.join() || !sameBits(a.data, b.data)) mismatches++;
    }
  }
  expect(mismatches, `${label}: results that differ from the sequential run`).toBe(0);
}

describeShared('concurrency: MNIST-8', [MNIST8_PATH], () => {
  test('1,000 runs in flight on one engine equal the sequential results bit for bit', { timeout: 300_000 }, async () => {
    const engine = await Engine.create(MNIST8_PATH, { intraOpThreads: 2 });
    try {
      const feeds = Array.from({ length: 1000 }, (_, i) => ({ Input3: mnistInput(i) }));
      const want = await sequential(engine, feeds);
      const got = await Promise.all(feeds.map((f) => engine.run(f)));
      expectSameResults('1,000 concurrent runs', got, want);
      // Different inputs gave different outputs (the comparison above is not vacuous).
      expect(sameBits(want[0].Plus214_Output_0.data, want[1].Plus214_Output_0.data)).toBe(false);
    } finally {
      engine.release();
    }
  });

  test('two engines (MNIST-8 and PP-OCR cls) running concurrently each equal their sequential results', { timeout: 300_000 }, async () => {
    const a = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    const b = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 1 });
    try {
      const feedsA = Array.from({ length: 200 }, (_, i) => ({ Input3: mnistInput(i) }));
      const feedsB = Array.from({ length: 20 }, (_, i) => ({ x: clsInput(i) }));
      const wantA = await sequential(a, feedsA);
      const wantB = await sequential(b, feedsB);
      const [gotA, gotB] = await Promise.all([
        Promise.all(feedsA.map((f) => a.run(f))),
        Promise.all(feedsB.map((f) => b.run(f))),
      ]);
      expectSameResults('MNIST-8 beside cls', gotA, wantA);
      expectSameResults('cls beside MNIST-8', gotB, wantB);
    } finally {
      a.release();
      b.release();
    }
  });
});

describe('concurrency', () => {
  test('two engines of the same model do not share state', { timeout: 300_000 }, async () => {
    const a = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 1 });
    const b = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 1 });
    try {
      const feeds = Array.from({ length: 16 }, (_, i) => ({ x: clsInput(i) }));
      const want = await sequential(a, feeds);
      const [gotA, gotB] = await Promise.all([
        Promise.all(feeds.map((f) => a.run(f))),
        Promise.all(feeds.map((f) => b.run(f))),
      ]);
      expectSameResults('engine a', gotA, want);
      expectSameResults('engine b', gotB, want);
    } finally {
      a.release();
      b.release();
    }
  });

  test('the event loop keeps ticking during a long run (PP-OCRv4 det at 640x640)', { timeout: 300_000 }, async () => {
    const engine = await Engine.create(OCR_MODELS.det, { intraOpThreads: 2 });
    try {
      const x = new Tensor('float32', ocrPixels([1, 3, 640, 640], 7), [1, 3, 640, 640]);
      let last = performance.now();
      let maxGap = 0;
      let ticks = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 5);
      const t0 = performance.now();
      let elapsed: number;
      try {
        const out = await engine.run({ x });
        elapsed = performance.now() - t0;
        expect([...out['sigmoid_0.tmp_0'].dims]).toEqual([1, 1, 640, 640]);
      } finally {
        clearInterval(timer);
      }
      maxGap = Math.max(maxGap, performance.now() - last);
      console.log(`det 640x640: run ${elapsed.toFixed(0)} ms, ${ticks} ticks of 5 ms, largest gap ${maxGap.toFixed(1)} ms`);
      expect(maxGap, 'largest gap between 5 ms ticks while run() was pending').toBeLessThan(100);
      // The run was long enough for the check to mean something, and the timer really ran throughout.
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 5 / 4));
    } finally {
      engine.release();
    }
  });

  test('release() while runs are in flight lets them finish with correct results', { timeout: 300_000 }, async () => {
    const engine = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 2 });
    const feeds = Array.from({ length: 40 }, (_, i) => ({ x: clsInput(i) }));
    const want = await sequential(engine, feeds);
    const pending = feeds.map((f) => engine.run(f));
    engine.release();
    const got = await Promise.all(pending);
    expectSameResults('runs in flight at release()', got, want);
    await expect(engine.run(feeds[0])).rejects.toMatchObject({ code: 'ERR_INT8RT_RELEASED' });
  });
});

/** Runs the PP-OCR cls model in a worker thread and sends back its output (or the error). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Engine, Tensor } = require(workerData.index);
(async () => {
  const engine = await Engine.create(workerData.model, { intraOpThreads: 1 });
  const out = await engine.run({ x: new Tensor('float32', workerData.input, workerData.dims) });
  const y = out[engine.outputNames[0]];
  if (!workerData.keepEngine) engine.release();
  parentPort.postMessage({ dtype: y.dtype, dims: [...y.dims], data: y.data });
  if (workerData.hang) {
    // Keep runs in flight until the main thread terminates this worker.
    for (;;) await Promise.all(Array.from({ length: 4 }, () => engine.run({ x: new Tensor('float32', workerData.input, workerData.dims) })));
  }
})().catch((e) => parentPort.postMessage({ error: { code: e.code, message: e.message } }));
`;

interface WorkerReply {
  dtype?: string;
  dims?: number[];
  data?: Float32Array;
  error?: { code: string; message: string };
}

function startWorker(input: Float32Array, extra: Record<string, unknown> = {}): { worker: Worker; reply: Promise<WorkerReply> } {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { index: CJS_INDEX, model: OCR_MODELS.cls, input, dims: CLS_DIMS, ...extra },
  });
  const reply = new Promise<WorkerReply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before replying`)));
  });
  return { worker, reply };
}

describe('worker_threads', () => {
  test('the addon loads and runs in worker threads (two at once, beside the main thread)', { timeout: 300_000 }, async () => {
    const input = ocrPixels(CLS_DIMS, 42);
    const main = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 1 });
    try {
      const want = (await main.run({ x: new Tensor('float32', input, CLS_DIMS) }))[main.outputNames[0]];
      const w1 = startWorker(input);
      const w2 = startWorker(input);
      const [r1, r2, again] = await Promise.all([w1.reply, w2.reply, main.run({ x: new Tensor('float32', input, CLS_DIMS) })]);
      for (const r of [r1, r2]) {
        expect(r.error, r.error?.message).toBeUndefined();
        expect(r.dtype).toBe(want.dtype);
        expect(r.dims).toEqual([...want.dims]);
        expect(sameBits(r.data!, want.data), 'worker result equals the main thread result bit for bit').toBe(true);
      }
      expect(sameBits(again[main.outputNames[0]].data, want.data)).toBe(true);
      await Promise.all([w1.worker.terminate(), w2.worker.terminate()]);
    } finally {
      main.release();
    }
  });

  test('a worker that exits without release(), or is terminated with runs in flight, does not crash the process', { timeout: 300_000 }, () => {
    // In a child process, so that a crash is reported as this test failing rather than taking down the test runner.
    const script = `
      const { Worker } = require('node:worker_threads');
      const { Engine, Tensor } = require(${JSON.stringify(CJS_INDEX)});
      const source = ${JSON.stringify(WORKER_SOURCE)};
      const input = new Float32Array(${numel(CLS_DIMS)}).fill(0.5);
      const start = (extra) => {
        const worker = new Worker(source, { eval: true, workerData: { index: ${JSON.stringify(CJS_INDEX)},
          model: ${JSON.stringify(OCR_MODELS.cls)}, input, dims: ${JSON.stringify(CLS_DIMS)}, ...extra } });
        const reply = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
        return { worker, reply };
      };
      (async () => {
        const leaky = start({ keepEngine: true });
        const r1 = await leaky.reply;
        if (r1.error) throw new Error('leaky worker: ' + r1.error.message);
        await leaky.worker.terminate();
        console.log('terminated a worker that kept its engine');
        const busy = start({ keepEngine: true, hang: true });
        const r2 = await busy.reply;
        if (r2.error) throw new Error('busy worker: ' + r2.error.message);
        await new Promise((r) => setTimeout(r, 50)); // let a few runs start
        await busy.worker.terminate();
        console.log('terminated a worker with runs in flight');
        const main = await Engine.create(${JSON.stringify(OCR_MODELS.cls)}, { intraOpThreads: 1 });
        const out = await main.run({ x: new Tensor('float32', input, ${JSON.stringify(CLS_DIMS)}) });
        main.release();
        console.log('still alive: ' + JSON.stringify(out[main.outputNames[0]].dims));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 240_000 });
    const log = `exit ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`;
    expect(r.signal, log).toBeNull();
    expect(r.status, log).toBe(0);
    expect(r.stdout, log).toContain('still alive: [1,2]');
  });
});
