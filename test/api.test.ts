// The public API surface: Tensor, Engine metadata, error codes, and how the package loads (CJS, ESM, package exports,
// TypeScript types).

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildInfo, DATA_TYPES, Engine, ERROR_CODES, Int8rtError, Tensor } from '../dist/cjs/index.js';
import { decodeModel } from '../lib/onnx/load';
import { GraphBuilder } from '../lib/onnx/write';
import { describeShared, MNIST8_PATH, OCR_MODELS, REPO_ROOT } from './helpers/shared';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(Int8rtError);
    return (e as Int8rtError).code;
  }
  return undefined;
}

describe('Tensor', () => {
  test('dtype first (onnxruntime order): keeps the TypedArray, freezes the dims', () => {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const t = new Tensor('float32', data, [2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.data).toBe(data); // no copy
    expect(t.dims).toEqual([2, 3]);
    expect(Object.isFrozen(t.dims)).toBe(true);
    expect(t.size).toBe(6);
  });

  test('data first: the dtype is inferred from the TypedArray; dims default to [length]', () => {
    const cases: [ArrayBufferView & { length: number }, string][] = [
      [new Float32Array(4), 'float32'],
      [new Float64Array(4), 'float64'],
      [new Int8Array(4), 'int8'],
      [new Uint8Array(4), 'uint8'],
      [new Int16Array(4), 'int16'],
      [new Uint16Array(4), 'uint16'],
      [new Int32Array(4), 'int32'],
      [new Uint32Array(4), 'uint32'],
      [new BigInt64Array(4), 'int64'],
      [new BigUint64Array(4), 'uint64'],
    ];
    for (const [data, dtype] of cases) {
      const t = new Tensor(data as Float32Array, [2, 2]);
      expect(t.dtype).toBe(dtype);
      expect(t.dims).toEqual([2, 2]);
      expect(new Tensor(data as Float32Array).dims).toEqual([4]);
    }
    // Both orders give the same tensor.
    const data = Int32Array.of(1, 2, 3);
    const a = new Tensor('int32', data, [3, 1]);
    const b = new Tensor(data, [3, 1]);
    expect([a.dtype, a.data, a.dims]).toEqual([b.dtype, b.data, b.dims]);
  });

  test('number[] / bigint[] / boolean[] data is converted to the dtype\'s TypedArray', () => {
    const f = new Tensor('float32', [1, 2.5, -3], [3]);
    expect(f.data).toBeInstanceOf(Float32Array);
    expect([...f.data]).toEqual([1, 2.5, -3]);
    const i = new Tensor('int64', [1, -2, 3], [3]);
    expect(i.data).toBeInstanceOf(BigInt64Array);
    expect([...i.data]).toEqual([1n, -2n, 3n]);
    const big = new Tensor('int64', [2n ** 40n, -1n]);
    expect([...big.data]).toEqual([2n ** 40n, -1n]);
    const u = new Tensor('uint64', [0, 7]);
    expect(u.data).toBeInstanceOf(BigUint64Array);
    const bool = new Tensor('bool', [true, false, true], [3]);
    expect(bool.data).toBeInstanceOf(Uint8Array);
    expect([...bool.data]).toEqual([1, 0, 1]);
    const h = new Tensor('float16', [0x3c00], [1]); // raw binary16 bits of 1.0
    expect(h.data).toBeInstanceOf(Uint16Array);
  });

  test('scalars and empty tensors', () => {
    const s = new Tensor('float32', Float32Array.of(5), []);
    expect(s.dims).toEqual([]);
    expect(s.size).toBe(1);
    const e = new Tensor('float32', new Float32Array(0), [0, 3]);
    expect(e.dims).toEqual([0, 3]);
    expect(e.size).toBe(0);
    expect(codeOf(() => new Tensor('float32', new Float32Array(1), [0]))).toBe('ERR_INT8RT_SHAPE');
  });

  test('a dtype that does not match the data: ERR_INT8RT_DTYPE', () => {
    // (`as never`: the types already forbid these; the checks are for JavaScript callers.)
    expect(codeOf(() => new Tensor('float32', new Int32Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('int32', new Float32Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('int64', new Int32Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('float16', new Float32Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('bool', new Int8Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('float32', 'abc' as never, [3]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor('float8' as never, new Uint8Array(4) as never, [4]))).toBe('ERR_INT8RT_DTYPE');
    // Without a dtype, a plain array says nothing about its type.
    expect(codeOf(() => new Tensor([1, 2, 3] as never, [3]))).toBe('ERR_INT8RT_DTYPE');
    expect(codeOf(() => new Tensor(null as never))).toBe('ERR_INT8RT_DTYPE');
    // The message says what was expected and what came.
    expect(() => new Tensor('float32', new Int32Array(4) as never, [4])).toThrow(/Float32Array.*Int32Array/);
  });

  test('array elements that cannot be held by the dtype: an Int8rtError, not a raw TypeError/RangeError', () => {
    const bad = [
      () => new Tensor('float32', [1n, 2n] as never, [2]), // bigints into a float tensor
      () => new Tensor('int64', [1.5], [1]), // a fraction into an integer tensor
    ];
    for (const fn of bad) expect(['ERR_INT8RT_DTYPE', 'ERR_INT8RT_INVALID_ARGUMENT']).toContain(codeOf(fn));
  });

  test('dims that are not non-negative integers, or do not match the data: ERR_INT8RT_SHAPE', () => {
    const d = new Float32Array(6);
    for (const dims of [[2, 4], [6, 0], [-2, -3], [2.5, 2], [NaN], [Infinity], ['2', '3'], 6, null])
      expect(codeOf(() => new Tensor('float32', d, dims as never)), JSON.stringify(dims)).toBe('ERR_INT8RT_SHAPE');
  });

  test('DATA_TYPES lists every dtype', () => {
    expect([...DATA_TYPES].sort()).toEqual(
      ['bool', 'float16', 'float32', 'float64', 'int16', 'int32', 'int64', 'int8', 'uint16', 'uint32', 'uint64', 'uint8'].sort(),
    );
  });
});

describe('errors', () => {
  test('lib/errors.ts lists exactly the addon\'s codes, plus the TS-only ERR_INT8RT_NATIVE_LOAD', () => {
    const native = buildInfo().errorCodes.filter((c) => c !== 'OK');
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect([...ERROR_CODES].sort()).toEqual([...native, 'ERR_INT8RT_NATIVE_LOAD'].sort());
    // Same order too, so the two tables are easy to read side by side.
    expect(ERROR_CODES.filter((c) => c !== 'ERR_INT8RT_NATIVE_LOAD')).toEqual(native);
  });

  test('errors from the native side are Int8rtError instances with code and message', async () => {
    const bytes = new GraphBuilder()
      .addInput('x', 'float32', [1])
      .addNode('Frobnicate', ['x'], ['y'], {}, 'odd_one')
      .addOutput('y')
      .toBytes();
    const e = await Engine.create(bytes).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(Int8rtError);
    expect(e).toBeInstanceOf(Error);
    expect((e as Int8rtError).name).toBe('Int8rtError');
    expect((e as Int8rtError).code).toBe('ERR_INT8RT_UNSUPPORTED_OP');
    expect((e as Int8rtError).message).toContain('odd_one');
  });

  test('buildInfo() describes the addon', () => {
    const info = buildInfo();
    expect(typeof info.isa).toBe('string');
    expect(typeof info.cpu).toBe('string');
    expect(info.napiVersion).toBeGreaterThanOrEqual(8);
    expect(info.loadedFrom).toMatch(/^(source build|prebuild) \(/);
    expect(Array.isArray(info.kernels)).toBe(true);
  });
});

describe('Engine metadata', () => {
  const oracle = async (model: string) => {
    const s = await ort.InferenceSession.create(model);
    const meta = {
      inputs: s.inputMetadata.map((m) => ({ name: m.name, dtype: m.isTensor ? m.type : '?', dims: m.isTensor ? [...m.shape] : null })),
      outputs: s.outputMetadata.map((m) => ({ name: m.name, dtype: m.isTensor ? m.type : '?', dims: m.isTensor ? [...m.shape] : null })),
    };
    await s.release();
    return meta;
  };

  for (const kind of ['det', 'rec', 'cls'] as const) {
    test(`PP-OCR ${kind}: inputs and outputs match onnxruntime's metadata, symbolic dims as strings`, async () => {
      const engine = await Engine.create(OCR_MODELS[kind], { intraOpThreads: 1 });
      try {
        const want = await oracle(OCR_MODELS[kind]);
        expect(engine.inputs.map((v) => ({ ...v, dims: v.dims && [...v.dims] }))).toEqual(want.inputs);
        expect(engine.outputs.map((v) => ({ ...v, dims: v.dims && [...v.dims] }))).toEqual(want.outputs);
        expect(engine.inputNames).toEqual(want.inputs.map((v) => v.name));
        expect(engine.outputNames).toEqual(want.outputs.map((v) => v.name));
        expect(Object.isFrozen(engine.inputs)).toBe(true);
        expect(Object.isFrozen(engine.inputs[0])).toBe(true);
      } finally {
        engine.release();
      }
    });
  }

  test('PP-OCRv4 det: input x is [N?, 3, H?, W?] with the symbolic dims as strings', async () => {
    const engine = await Engine.create(OCR_MODELS.det, { intraOpThreads: 1 });
    try {
      expect(engine.inputs).toHaveLength(1);
      const [x] = engine.inputs;
      expect(x.name).toBe('x');
      expect(x.dtype).toBe('float32');
      expect(x.dims).toHaveLength(4);
      expect(typeof x.dims![0]).toBe('string');
      expect(x.dims![1]).toBe(3);
      expect(typeof x.dims![2]).toBe('string');
      expect(typeof x.dims![3]).toBe('string');
      expect(x.dims).toEqual(['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2']);
    } finally {
      engine.release();
    }
  });

  test('unnamed symbolic dims are \'\', an input without shape information has dims null', async () => {
    const bytes = new GraphBuilder()
      .addInput('a', 'float32', ['', 3])
      .addInput('b', 'float32', null)
      .addNode('Relu', ['a'], ['ra'], {}, 'relu_a')
      .addNode('Relu', ['b'], ['rb'], {}, 'relu_b')
      .addOutput('ra', 'float32', ['', 3])
      .addOutput('rb')
      .toBytes();
    const engine = await Engine.create(bytes, { intraOpThreads: 1 });
    try {
      expect(engine.inputs).toEqual([
        { name: 'a', dtype: 'float32', dims: ['', 3] },
        { name: 'b', dtype: 'float32', dims: null },
      ]);
      expect(engine.outputs.map((o) => o.name)).toEqual(['ra', 'rb']);
      expect(engine.outputs[0].dims).toEqual(['', 3]);
    } finally {
      engine.release();
    }
  });

  test('intraOpThreads: the number asked for, or one per hardware thread by default', async () => {
    const two = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 2 });
    expect(two.intraOpThreads).toBe(2);
    two.release();
    const auto = await Engine.create(OCR_MODELS.cls);
    expect(auto.intraOpThreads).toBeGreaterThanOrEqual(1);
    expect(auto.intraOpThreads).toBeLessThanOrEqual(os.availableParallelism());
    auto.release();
  });

  test('report(): one row per ONNX node, fused rows point at a node that exists', async () => {
    const engine = await Engine.create(OCR_MODELS.cls, { intraOpThreads: 1 });
    try {
      const model = decodeModel(fs.readFileSync(OCR_MODELS.cls));
      const rows = engine.report();
      const names = new Set(rows.map((r) => r.node));
      expect(names.size, 'node names in the report are unique').toBe(rows.length);
      // Every node of the file appears, with its op (nodes without a name get one, so match on op counts too).
      const countOps = (ops: string[]) => ops.reduce((m, op) => m.set(op, (m.get(op) ?? 0) + 1), new Map<string, number>());
      expect(countOps(rows.map((r) => r.op))).toEqual(countOps(model.nodes.map((n) => n.opType)));
      for (const n of model.nodes) if (n.name) expect(names.has(n.name), `report lists node '${n.name}'`).toBe(true);
      for (const r of rows) {
        expect(['fp32', 'fp16', 'int8']).toContain(r.precision);
        expect(['cpu', 'cuda']).toContain(r.device);
        expect(typeof r.kernel).toBe('string');
        if (r.fusedInto !== undefined) expect(names.has(r.fusedInto), `'${r.node}' fused into '${r.fusedInto}'`).toBe(true);
      }
    } finally {
      engine.release();
    }
  });
});

describeShared('Engine metadata: MNIST-8', [MNIST8_PATH], () => {
  test('inputs and outputs', async () => {
    const engine = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    try {
      expect(engine.inputs).toEqual([{ name: 'Input3', dtype: 'float32', dims: [1, 1, 28, 28] }]);
      expect(engine.outputs).toEqual([{ name: 'Plus214_Output_0', dtype: 'float32', dims: [1, 10] }]);
    } finally {
      engine.release();
    }
  });
});

describe('loading the package', () => {
  let consumer: string;
  beforeAll(() => {
    // A project that depends on int8rt: node_modules/int8rt links to this checkout.
    consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-consumer-'));
    fs.mkdirSync(path.join(consumer, 'node_modules'));
    fs.symlinkSync(REPO_ROOT, path.join(consumer, 'node_modules', 'int8rt'), 'dir');
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  });
  afterAll(() => {
    if (consumer) fs.rmSync(consumer, { recursive: true, force: true });
  });

  /** Runs a node script in `cwd`; its last stdout line is JSON. */
  function node(cwd: string, args: string[]): unknown {
    const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `node ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  }

  // Loads int8rt, creates a Tensor, builds an engine from the cls model and runs it; prints what it saw.
  const body = (load: string) => `
    ${load}
    const t = new m.Tensor('float32', new Float32Array(3 * 48 * 192), [1, 3, 48, 192]);
    const e = await m.Engine.create(${JSON.stringify(OCR_MODELS.cls)}, { intraOpThreads: 1 });
    const out = await e.run({ x: t });
    e.release();
    console.log(JSON.stringify({
      exports: Object.keys(m).filter((k) => k !== 'default').sort(),
      dims: out[e.outputNames[0]].dims,
      codes: m.ERROR_CODES.length,
      isa: m.buildInfo().isa,
    }));`;
  // The ESM face exports exactly what the CommonJS build does, and at least the core API.
  const cjsApi = createRequire(import.meta.url)('../dist/cjs/index.js') as object;
  const EXPORTS = Object.keys(cjsApi).filter((k) => k !== '__esModule' && k !== 'default').sort();
  test('the core API is exported', () => {
    for (const name of ['DATA_TYPES', 'ERROR_CODES', 'Engine', 'Int8rtError', 'Tensor', 'buildInfo']) expect(EXPORTS).toContain(name);
  });

  test('ESM: import from dist/esm/index.mjs by path', () => {
    const url = new URL(`file://${path.join(REPO_ROOT, 'dist', 'esm', 'index.mjs')}`).href;
    const r = node(os.tmpdir(), ['--input-type=module', '-e', body(`const m = await import(${JSON.stringify(url)});`)]) as {
      exports: string[];
      dims: number[];
    };
    expect(r.exports).toEqual(EXPORTS);
    expect(r.dims).toEqual([1, 2]);
  });

  test('ESM: import(\'int8rt\') through the package exports, from a consumer and from the package itself', () => {
    for (const cwd of [consumer, REPO_ROOT]) {
      const r = node(cwd, ['--input-type=module', '-e', body(`const m = await import('int8rt');`)]) as { exports: string[]; dims: number[] };
      expect(r.exports).toEqual(EXPORTS);
      expect(r.dims).toEqual([1, 2]);
    }
  });

  test('CJS: require(\'int8rt\')', () => {
    const r = node(consumer, ['-e', `(async () => { ${body(`const m = require('int8rt');`)} })().catch((e) => { console.error(e); process.exit(1); })`]) as {
      exports: string[];
      dims: number[];
    };
    expect(r.exports).toEqual(EXPORTS);
    expect(r.dims).toEqual([1, 2]);
  });

  test('import and require share one module instance; internals are not exported', () => {
    const script = `
      import * as esm from 'int8rt';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const cjs = require('int8rt');
      let internal = 'exported';
      try { await import('int8rt/dist/cjs/engine.js'); } catch (e) { internal = e.code; }
      console.log(JSON.stringify({
        same: esm.Engine === cjs.Engine && esm.Tensor === cjs.Tensor && esm.Int8rtError === cjs.Int8rtError,
        defaultIsCjs: esm.default === cjs,
        version: require('int8rt/package.json').version,
        internal,
      }));`;
    const r = node(consumer, ['--input-type=module', '-e', script]) as Record<string, unknown>;
    expect(r.same).toBe(true);
    expect(r.defaultIsCjs).toBe(true);
    expect(r.version).toBe(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version);
    expect(r.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  test('TypeScript consumers get types for both import and require (moduleResolution node16)', { timeout: 120_000 }, () => {
    const dir = path.join(consumer, 'ts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'esm.mts'),
      `import { Engine, Tensor, Int8rtError, type ErrorCode, type ValueInfo } from 'int8rt';\n` +
        `export async function f(p: string): Promise<number> {\n` +
        `  const e: Engine = await Engine.create(p, { intraOpThreads: 1 });\n` +
        `  const v: readonly ValueInfo[] = e.inputs;\n` +
        `  const out = await e.run({ x: new Tensor('float32', new Float32Array(1), [1]) });\n` +
        `  const c: ErrorCode = new Int8rtError('ERR_INT8RT_SHAPE', 'm').code;\n` +
        `  return v.length + Object.keys(out).length + c.length;\n}\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'cjs.cts'),
      `import int8rt = require('int8rt');\nexport const t: int8rt.Tensor = new int8rt.Tensor('int32', Int32Array.of(1), [1]);\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, noEmit: true, types: [], lib: ['es2022', 'esnext.disposable'] },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
});
