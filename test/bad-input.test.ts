// Bad input of every kind gets a stable error code and a message that names the culprit (input, node, file), and never
// takes the process down: after each failure the same engine still runs a good input and gives the same bits.
//
// The engine under test is a small model built here (no shared data needed): scores = Relu(features @ W + offset),
// features ['batch', 4], offset [1, 3], W a 4x3 initializer. Distinctive names make "the message names it" checkable.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Engine, Int8rtError, Tensor, type ErrorCode } from '../dist/cjs/index.js';
import { GraphBuilder } from '../lib/onnx/write';
import { rng, sameBits } from './helpers/data';

const W = Float32Array.from({ length: 12 }, (_, i) => ((i * 7) % 5) - 2 + 0.25 * i);

function sentinelModel(): Uint8Array {
  return new GraphBuilder()
    .addInput('features', 'float32', ['batch', 4])
    .addInput('offset', 'float32', [1, 3])
    .addInitializer('W', W, [4, 3])
    .addNode('MatMul', ['features', 'W'], ['projected'], {}, 'project')
    .addNode('Add', ['projected', 'offset'], ['shifted'], {}, 'shift')
    .addNode('Relu', ['shifted'], ['scores'], {}, 'rectify')
    .addOutput('scores', 'float32', ['batch', 3])
    .toBytes();
}

const FEATURES = Float32Array.from([1, -2, 3, 0.5, -1, 0.25, 2, -3]);
const OFFSET = Float32Array.from([0.5, -10, 1]);
const goodFeeds = () => ({
  features: new Tensor('float32', FEATURES, [2, 4]),
  offset: new Tensor('float32', OFFSET, [1, 3]),
});

/** The expected scores, computed in float64 (the engine's float32 result must be within 1e-6 of it). */
function expectedScores(): number[] {
  const out: number[] = [];
  for (let b = 0; b < 2; b++)
    for (let j = 0; j < 3; j++) {
      let s = OFFSET[j];
      for (let k = 0; k < 4; k++) s += FEATURES[b * 4 + k] * W[k * 3 + j];
      out.push(Math.max(0, s));
    }
  return out;
}

/** Awaits `what` and checks it fails with an Int8rtError of one of `codes` whose message contains each of `mentions`. */
async function expectFailure(
  what: Promise<unknown> | (() => unknown),
  codes: ErrorCode | ErrorCode[],
  ...mentions: string[]
): Promise<Int8rtError> {
  let error: unknown;
  let result: unknown;
  try {
    result = await (typeof what === 'function' ? what() : what);
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected an error (${codes}), but it succeeded with ${String(result)}`);
  expect(error, String(error)).toBeInstanceOf(Int8rtError);
  const e = error as Int8rtError;
  const allowed = Array.isArray(codes) ? codes : [codes];
  expect(allowed, `code ${e.code}: ${e.message}`).toContain(e.code);
  for (const m of mentions) expect(e.message, `the message should name '${m}'`).toContain(m);
  console.log(`  ${e.code}: ${e.message}`);
  return e;
}

/** Builds an engine from `bytes` and runs `feeds`: the failure may come from either step. */
async function createAndRun(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const e = await Engine.create(bytes, { intraOpThreads: 2 });
  try {
    return await e.run(feeds);
  } finally {
    e.release();
  }
}

/** A tiny valid 1x1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const int64s = (...v: (number | bigint)[]) => BigInt64Array.from(v, (x) => BigInt(x));

let engine: Engine | undefined;
let engineError: unknown;
let reference: Float32Array;
let tmp: string;

/** The engine under test; tests that need it fail with the reason it could not be built. */
function sentinel(): Engine {
  if (!engine) throw engineError ?? new Error('the engine under test was not built');
  return engine;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-bad-input-'));
  // A failure here is reported by the first test, so the tests that do not need this engine still run and report.
  try {
    const e = await Engine.create(sentinelModel(), { intraOpThreads: 2 });
    reference = (await e.run(goodFeeds())).scores.data as Float32Array;
    engine = e;
  } catch (e) {
    engineError = e;
  }
});

afterEach(async () => {
  // The engine stays usable after every failure, and the process is alive to say so.
  if (!engine) return;
  const out = await engine.run(goodFeeds());
  expect([...out.scores.dims]).toEqual([2, 3]);
  expect(sameBits(out.scores.data, reference), 'good input after a failure gives the same bits').toBe(true);
});

afterAll(() => {
  engine?.release();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the engine under test builds and computes scores = Relu(features @ W + offset)', async () => {
  const out = await sentinel().run(goodFeeds());
  expect(out.scores.dtype).toBe('float32');
  expect([...out.scores.dims]).toEqual([2, 3]);
  const expected = expectedScores();
  const got = out.scores.data as Float32Array;
  for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThanOrEqual(1e-6);
});

describe('feeds', () => {
  test('an unknown input name next to the right ones: ERR_INT8RT_INPUT_NAME', async () => {
    const feeds = { ...goodFeeds(), featurez: new Tensor('float32', FEATURES, [2, 4]) };
    await expectFailure(sentinel().run(feeds), 'ERR_INT8RT_INPUT_NAME', 'featurez');
  });

  test('a misspelt input name (and so nothing fed for the real one): ERR_INT8RT_INPUT_NAME', async () => {
    const feeds = { featurez: new Tensor('float32', FEATURES, [2, 4]), offset: goodFeeds().offset };
    await expectFailure(sentinel().run(feeds), 'ERR_INT8RT_INPUT_NAME', 'featurez');
  });

  test('a missing input: ERR_INT8RT_MISSING_INPUT', async () => {
    await expectFailure(sentinel().run({ features: goodFeeds().features }), 'ERR_INT8RT_MISSING_INPUT', 'offset');
    await expectFailure(sentinel().run({}), 'ERR_INT8RT_MISSING_INPUT');
  });

  test('a wrong dtype: ERR_INT8RT_DTYPE', async () => {
    const asInt32 = new Tensor('int32', Int32Array.from(FEATURES), [2, 4]);
    await expectFailure(sentinel().run({ ...goodFeeds(), features: asInt32 }), 'ERR_INT8RT_DTYPE', 'features');
    const asFloat64 = new Tensor('float64', Float64Array.from(OFFSET), [1, 3]);
    await expectFailure(sentinel().run({ ...goodFeeds(), offset: asFloat64 }), 'ERR_INT8RT_DTYPE', 'offset');
  });

  test('a wrong rank: ERR_INT8RT_SHAPE', async () => {
    const flat = new Tensor('float32', FEATURES, [8]);
    await expectFailure(sentinel().run({ ...goodFeeds(), features: flat }), 'ERR_INT8RT_SHAPE', 'features');
    const scalar = new Tensor('float32', Float32Array.of(1), []);
    await expectFailure(sentinel().run({ ...goodFeeds(), offset: scalar }), 'ERR_INT8RT_SHAPE', 'offset');
  });

  test('a wrong dim: ERR_INT8RT_SHAPE', async () => {
    const wide = new Tensor('float32', new Float32Array(10), [2, 5]);
    await expectFailure(sentinel().run({ ...goodFeeds(), features: wide }), 'ERR_INT8RT_SHAPE', 'features');
    const tall = new Tensor('float32', new Float32Array(6), [2, 3]);
    await expectFailure(sentinel().run({ ...goodFeeds(), offset: tall }), 'ERR_INT8RT_SHAPE', 'offset');
  });

  test('data whose length does not match the dims: the Tensor constructor throws ERR_INT8RT_SHAPE', () => {
    expect(() => new Tensor('float32', new Float32Array(7), [2, 4])).toThrowError(
      expect.objectContaining({ code: 'ERR_INT8RT_SHAPE', message: expect.stringContaining('[2,4]') }),
    );
    expect(() => new Tensor(new Float32Array(8), [2, -4])).toThrowError(expect.objectContaining({ code: 'ERR_INT8RT_SHAPE' }));
    expect(() => new Tensor(new Float32Array(8), [2, 4.5])).toThrowError(expect.objectContaining({ code: 'ERR_INT8RT_SHAPE' }));
  });

  test('a tensor mutated behind the constructor\'s back (dims no longer match the data) is refused natively', async () => {
    const t = new Tensor('float32', new Float32Array(8), [2, 4]);
    // A caller that bypasses readonly: the native side must check again, not trust the JS object.
    (t as unknown as { dims: number[] }).dims = [2, 400];
    await expectFailure(sentinel().run({ ...goodFeeds(), features: t }), ['ERR_INT8RT_SHAPE', 'ERR_INT8RT_INVALID_ARGUMENT']);
  });

  test('feeds that are not int8rt Tensors: ERR_INT8RT_INVALID_ARGUMENT', async () => {
    const plain = { dtype: 'float32', data: FEATURES, dims: [2, 4] } as unknown as Tensor;
    await expectFailure(sentinel().run({ ...goodFeeds(), features: plain }), 'ERR_INT8RT_INVALID_ARGUMENT', 'features');
    await expectFailure(sentinel().run(null as never), 'ERR_INT8RT_INVALID_ARGUMENT');
  });
});

describe('model files', () => {
  test('a truncated model: ERR_INT8RT_MODEL (bytes and file)', async () => {
    const bytes = sentinelModel();
    for (const keep of [1, Math.floor(bytes.length / 4), Math.floor(bytes.length / 2), bytes.length - 1]) {
      await expectFailure(Engine.create(bytes.subarray(0, keep)), 'ERR_INT8RT_MODEL');
    }
    const file = path.join(tmp, 'truncated.onnx');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 1));
    await expectFailure(Engine.create(file), 'ERR_INT8RT_MODEL', 'truncated.onnx');
  });

  test('random bytes: ERR_INT8RT_MODEL', async () => {
    const r = rng(99);
    const junk = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    await expectFailure(Engine.create(junk), 'ERR_INT8RT_MODEL');
    await expectFailure(Engine.create(new Uint8Array(0)), 'ERR_INT8RT_MODEL');
  });

  test('a PNG: ERR_INT8RT_MODEL (bytes and file)', async () => {
    await expectFailure(Engine.create(new Uint8Array(PNG)), 'ERR_INT8RT_MODEL');
    const file = path.join(tmp, 'picture.png');
    fs.writeFileSync(file, PNG);
    await expectFailure(Engine.create(file), 'ERR_INT8RT_MODEL', 'picture.png');
  });

  test('a file that does not exist: ERR_INT8RT_MODEL naming the path', async () => {
    await expectFailure(Engine.create(path.join(tmp, 'nowhere.onnx')), 'ERR_INT8RT_MODEL', 'nowhere.onnx');
  });

  test('arguments of the wrong kind: ERR_INT8RT_INVALID_ARGUMENT', async () => {
    await expectFailure(Engine.create(42 as never), 'ERR_INT8RT_INVALID_ARGUMENT');
    await expectFailure(Engine.create(sentinelModel(), { intraOpThreads: -1 }), 'ERR_INT8RT_INVALID_ARGUMENT', 'intraOpThreads');
    await expectFailure(Engine.create(sentinelModel(), { intraOpThreads: 1.5 }), 'ERR_INT8RT_INVALID_ARGUMENT', 'intraOpThreads');
  });
});

describe('graphs', () => {
  test('a cycle: ERR_INT8RT_GRAPH_CYCLE naming a node on it', async () => {
    // a = Add(x, c); b = Relu(a); c = Neg(b): 'loop_add' reads c, which depends on its own output.
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', [3])
      .addNode('Add', ['x', 'c'], ['a'], {}, 'loop_add')
      .addNode('Relu', ['a'], ['b'], {}, 'loop_relu')
      .addNode('Neg', ['b'], ['c'], {}, 'loop_neg')
      .addOutput('b', 'float32', [3])
      .toBytes();
    const e = await expectFailure(Engine.create(bytes), 'ERR_INT8RT_GRAPH_CYCLE');
    expect(e.message).toMatch(/loop_(add|relu|neg)/);
  });

  test('an unsupported operator: ERR_INT8RT_UNSUPPORTED_OP naming the op and the node', async () => {
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', [3])
      .addNode('Relu', ['x'], ['r'], {}, 'fine_relu')
      .addNode('Frobnicate', ['r'], ['y'], {}, 'mystery_node')
      .addOutput('y', 'float32', [3])
      .toBytes();
    await expectFailure(Engine.create(bytes), 'ERR_INT8RT_UNSUPPORTED_OP', 'Frobnicate', 'mystery_node');
    const custom = new GraphBuilder()
      .addInput('x', 'float32', [3])
      .addNode('Gelu', ['x'], ['y'], {}, 'vendor_gelu', 'com.example')
      .addOutput('y', 'float32', [3])
      .toBytes({ extraOpsets: [{ domain: 'com.example', version: 1 }] });
    await expectFailure(Engine.create(custom), 'ERR_INT8RT_UNSUPPORTED_OP', 'Gelu', 'vendor_gelu');
  });

  test('an opset out of range (6, 23, 99): ERR_INT8RT_OPSET naming it', async () => {
    const relu = () =>
      new GraphBuilder().addInput('x', 'float32', [3]).addNode('Relu', ['x'], ['y'], {}, 'r').addOutput('y', 'float32', [3]);
    await expectFailure(Engine.create(relu().toBytes({ opset: 6, irVersion: 3 })), 'ERR_INT8RT_OPSET', '6');
    await expectFailure(Engine.create(relu().toBytes({ opset: 23, irVersion: 10 })), 'ERR_INT8RT_OPSET', '23');
    await expectFailure(Engine.create(relu().toBytes({ opset: 99, irVersion: 10 })), 'ERR_INT8RT_OPSET', '99');
    // The supported range is 7 to 21, both ends included.
    for (const opset of [7, 21]) {
      const e = await Engine.create(relu().toBytes({ opset, irVersion: opset < 8 ? 3 : 7 }));
      const out = await e.run({ x: new Tensor('float32', Float32Array.of(-1, 0, 2), [3]) });
      expect([...(out.y.data as Float32Array)]).toEqual([0, 0, 2]);
      e.release();
    }
  });
});

describe('sizes that overflow or exhaust memory never crash', () => {
  const TOO_BIG: ErrorCode[] = ['ERR_INT8RT_TOO_LARGE', 'ERR_INT8RT_SHAPE', 'ERR_INT8RT_OUT_OF_MEMORY'];
  // Shapes whose element count is ~1e18 bytes, or wraps a 64-bit product to something small (2^64 -> 0,
  // 2^62 * 4 -> 0, 2^63 -> negative), or overflows int64 outright.
  const HUGE_SHAPES: bigint[][] = [
    [1_000_000n, 1_000_000n, 1_000_000n],
    [1n << 32n, 1n << 32n],
    [1n << 62n, 4n],
    [1n << 31n, 1n << 31n, 2n],
    [3n, 1n << 62n],
    [(1n << 63n) - 1n, 2n],
  ];

  test('ConstantOfShape with a constant huge shape (folded while building, or run)', async () => {
    for (const shape of HUGE_SHAPES) {
      const bytes = new GraphBuilder()
        .addInput('x', 'float32', [1])
        .addInitializer('shape', BigInt64Array.from(shape), [shape.length])
        .addNode('ConstantOfShape', ['shape'], ['big'], {}, 'make_big')
        .addNode('Add', ['big', 'x'], ['y'], {}, 'use_big')
        .addOutput('y', 'float32', null)
        .toBytes();
      await expectFailure(createAndRun(bytes, { x: new Tensor('float32', Float32Array.of(1), [1]) }), TOO_BIG);
    }
  });

  test('ConstantOfShape with a huge shape fed at run time', async () => {
    const bytes = new GraphBuilder()
      .addInput('shape', 'int64', ['rank'])
      .addNode('ConstantOfShape', ['shape'], ['y'], {}, 'make_big')
      .addOutput('y', 'float32', null)
      .toBytes();
    const e = await Engine.create(bytes, { intraOpThreads: 2 });
    try {
      for (const shape of HUGE_SHAPES) {
        await expectFailure(e.run({ shape: new Tensor('int64', BigInt64Array.from(shape), [shape.length]) }), TOO_BIG, 'make_big');
      }
      // Negative dims are a shape error, not a huge allocation.
      await expectFailure(e.run({ shape: new Tensor('int64', int64s(2, -3), [2]) }), ['ERR_INT8RT_SHAPE', 'ERR_INT8RT_INVALID_ARGUMENT'], 'make_big');
      // And the engine still works with a sane shape.
      const ok = await e.run({ shape: new Tensor('int64', int64s(2, 3), [2]) });
      expect([...ok.y.dims]).toEqual([2, 3]);
    } finally {
      e.release();
    }
  });

  test('Expand to a huge shape fed at run time', async () => {
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', [1])
      .addInput('shape', 'int64', ['rank'])
      .addNode('Expand', ['x', 'shape'], ['y'], {}, 'blow_up')
      .addOutput('y', 'float32', null)
      .toBytes();
    const e = await Engine.create(bytes, { intraOpThreads: 2 });
    try {
      const x = new Tensor('float32', Float32Array.of(7), [1]);
      for (const shape of HUGE_SHAPES) {
        await expectFailure(e.run({ x, shape: new Tensor('int64', BigInt64Array.from(shape), [shape.length]) }), TOO_BIG, 'blow_up');
      }
      const ok = await e.run({ x, shape: new Tensor('int64', int64s(2, 2), [2]) });
      expect([...(ok.y.data as Float32Array)]).toEqual([7, 7, 7, 7]);
    } finally {
      e.release();
    }
  });

  test('a graph input declared [2^31, 2^31]: building works or fails cleanly, a small feed is a shape error', async () => {
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', [2 ** 31, 2 ** 31])
      .addNode('Relu', ['x'], ['y'], {}, 'r')
      .addOutput('y', 'float32', [2 ** 31, 2 ** 31])
      .toBytes();
    let e: Engine;
    try {
      e = await Engine.create(bytes);
    } catch (err) {
      expect(TOO_BIG).toContain((err as Int8rtError).code);
      return;
    }
    try {
      await expectFailure(e.run({ x: new Tensor('float32', new Float32Array(4), [2, 2]) }), 'ERR_INT8RT_SHAPE', 'x');
    } finally {
      e.release();
    }
  });

  test('an empty tensor with huge other dims ([2^31, 2^31, 0]) gives an empty result or a clean error', async () => {
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', ['a', 'b', 'c'])
      .addNode('Relu', ['x'], ['y'], {}, 'r')
      .addOutput('y', 'float32', ['a', 'b', 'c'])
      .toBytes();
    const e = await Engine.create(bytes);
    try {
      const out = await e.run({ x: new Tensor('float32', new Float32Array(0), [2 ** 31, 2 ** 31, 0]) }).catch((err) => err);
      if (out instanceof Error) expect(TOO_BIG).toContain((out as Int8rtError).code);
      else {
        expect([...out.y.dims]).toEqual([2 ** 31, 2 ** 31, 0]);
        expect(out.y.data.length).toBe(0);
      }
    } finally {
      e.release();
    }
  });
});

describe('release()', () => {
  test('calls after release(): ERR_INT8RT_RELEASED', async () => {
    const e = await Engine.create(sentinelModel(), { intraOpThreads: 1 });
    const before = await e.run(goodFeeds());
    expect(sameBits(before.scores.data, reference)).toBe(true);
    e.release();
    await expectFailure(e.run(goodFeeds()), 'ERR_INT8RT_RELEASED');
    await expectFailure(() => e.report(), 'ERR_INT8RT_RELEASED');
    await expectFailure(() => e.intraOpThreads, 'ERR_INT8RT_RELEASED');
    expect(() => e.release()).not.toThrow(); // idempotent
    // What was read at creation stays readable.
    expect(e.inputNames).toEqual(['features', 'offset']);
  });
});
