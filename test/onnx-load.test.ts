// lib/onnx: decoding real models, the writer round trip, the ResNet-50 generator, and every way a model file can be
// wrong (each must be an ERR_INT8RT_MODEL error that says what is wrong, never a crash or a silent misread).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeModel, loadModel } from '../lib/onnx/load';
import { decodeTensorProto, tensorDescToTyped } from '../lib/onnx/tensor-proto';
import { AttributeType, DataType, type ModelDescription, type TensorDesc } from '../lib/onnx/types';
import { GraphBuilder, attr, encodeModel } from '../lib/onnx/write';
import { describeShared, MNIST8_PATH, ONNX_BACKEND_NODE_DIR, OCR_MODELS } from './helpers/shared';
import { makeResNet50 } from './models/resnet50';

function opCounts(m: ModelDescription): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of m.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

/** Bytes each element of an ONNX type takes (for the types these tests use). */
const SIZE: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };

function expectConsistent(t: TensorDesc): void {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.dtype !== DataType.STRING) expect(t.data.byteLength, t.name).toBe(count * SIZE[t.dtype]);
  expect(t.data.byteOffset % Math.min(8, SIZE[t.dtype] ?? 1), t.name).toBe(0);
}

/** A ModelProto around `graph`, encoded straight with onnx-proto (to build files the writer would refuse). */
function rawModel(graph: onnx.IGraphProto | null, extra: Partial<onnx.IModelProto> = {}): Uint8Array {
  const m: onnx.IModelProto = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], ...extra };
  if (graph) m.graph = graph;
  return onnx.ModelProto.encode(m).finish();
}

const floatIO = (name: string): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: 1 } } });

/** An Identity graph y = x plus the given initializers. */
function graphWith(initializer: onnx.ITensorProto[], extra: Partial<onnx.IGraphProto> = {}): onnx.IGraphProto {
  return {
    name: 'g',
    node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
    input: [floatIO('x')],
    output: [floatIO('y')],
    initializer,
    ...extra,
  };
}

function expectModelError(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(Error);
  expect((caught as { code?: string }).code).toBe('ERR_INT8RT_MODEL');
  expect((caught as Error).message).toMatch(message);
}

describeShared('onnx: MNIST-8', [MNIST8_PATH], () => {
  test('decodes the model zoo file', async () => {
    const bytes = fs.readFileSync(MNIST8_PATH);
    const m = await loadModel(MNIST8_PATH);
    expect(m.irVersion).toBe(3);
    expect(m.opsets).toEqual([{ domain: '', version: 8 }]);
    expect(m.inputs).toEqual([{ name: 'Input3', dtype: DataType.FLOAT, dims: [1, 1, 28, 28] }]);
    expect(m.outputs).toEqual([{ name: 'Plus214_Output_0', dtype: DataType.FLOAT, dims: [1, 10] }]);
    expect(m.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(opCounts(m)).toEqual({ Reshape: 2, Conv: 2, Add: 3, Relu: 2, MaxPool: 2, MatMul: 1 });
    expect(m.initializers).toHaveLength(8);
    m.initializers.forEach(expectConsistent);
    const conv = m.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.attributes.find((a) => a.name === 'kernel_shape')).toEqual({
      name: 'kernel_shape',
      type: AttributeType.INTS,
      ints: BigInt64Array.from([5n, 5n]),
    });
    // The Reshape shape constant is int64 data, exact.
    const shape = m.initializers.find((t) => t.dtype === DataType.INT64)!;
    expect(Array.from(tensorDescToTyped(shape).data as BigInt64Array)).toEqual([1n, 256n]);
    // Bytes and path give the same description (no external data here).
    expect(decodeModel(bytes)).toEqual(m);
  });

  test('re-encodes to an equal description', async () => {
    const m = await loadModel(MNIST8_PATH);
    const again = decodeModel(encodeModel(m));
    expect({ ...again, sha256: '' }).toEqual({ ...m, sha256: '' });
  });

  test('a truncated file is a model error', () => {
    const bytes = fs.readFileSync(MNIST8_PATH);
    for (const keep of [bytes.length - 1, Math.floor(bytes.length / 2), 1000, 17]) {
      expectModelError(() => decodeModel(bytes.subarray(0, keep)), /ONNX/);
    }
  });
});

describe('onnx: PP-OCR models', () => {
  for (const [kind, file] of Object.entries(OCR_MODELS)) {
    test(`decodes ${path.basename(file)}`, async () => {
      const m = await loadModel(file);
      expect(m.inputs).toHaveLength(1);
      expect(m.inputs[0].name).toBe('x');
      expect(m.inputs[0].dtype).toBe(DataType.FLOAT);
      expect(m.inputs[0].dims).toHaveLength(4);
      expect(m.inputs[0].dims![1]).toBe(3);
      expect(typeof m.inputs[0].dims![0]).toBe('string'); // the batch dim is symbolic
      expect(m.outputs).toHaveLength(1);
      expect(m.nodes.length).toBeGreaterThan(400);
      const counts = opCounts(m);
      expect(counts.Conv).toBeGreaterThan(30);
      // The weights of these exports live in Constant nodes.
      let constants = 0;
      for (const n of m.nodes) {
        for (const a of n.attributes) {
          if (a.type === AttributeType.TENSOR) {
            expectConsistent(a.t!);
            constants++;
          }
        }
      }
      expect(constants).toBe(counts.Constant);
      if (kind === 'rec') expect(m.outputs[0].dims![2]).toBe(6625);
    });
  }
});

describe('onnx: writer', () => {
  test('round trip: GraphBuilder -> bytes -> decodeModel gives the same description', () => {
    const g = new GraphBuilder();
    g.addInput('x', 'float32', ['N', 3, ''])
      .addInput('mask', 'bool', [3])
      .addInput('noshape', 'float32', null)
      .addInitializer('w', new Float32Array([1.5, -2, 3.25]))
      .addInitializer('i8', new Int8Array([-128, 0, 127]), [3, 1])
      .addInitializer('u8', new Uint8Array([0, 255]))
      .addInitializer('i16', new Int16Array([-32768, 7]))
      .addInitializer('u16', new Uint16Array([65535]))
      .addInitializer('i32', new Int32Array([-(2 ** 31), 2 ** 31 - 1]))
      .addInitializer('u32', new Uint32Array([2 ** 32 - 1]))
      .addInitializer('f64', new Float64Array([Math.PI, -0]))
      .addInitializer('i64', new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]))
      .addInitializer('u64', new BigUint64Array([2n ** 64n - 1n]))
      .addInitializer('h', new Uint16Array([0x3c00]), [], 'float16')
      .addInitializer('b', new Uint8Array([1, 0]), [2], 'bool')
      .addInitializer('empty', new Float32Array(0), [0, 4])
      .addNode('Mul', ['x', 'w'], ['y'])
      .addNode(
        'Custom',
        ['y', '', 'i64'],
        ['z', ''],
        {
          alpha: attr.float(1),
          beta: 0.25,
          k: 3,
          big: -(2n ** 63n),
          ks: [1, -2],
          fs: [0.5, 1],
          s: 'héllo',
          ss: ['a', ''],
          empty: attr.ints([]),
          t: { name: 'tv', dtype: DataType.INT64, dims: [1], data: new Uint8Array(new BigInt64Array([-5n]).buffer) },
        },
        'custom',
        'com.example',
      )
      .addOutput('z', 'float32', ['N', 3, 3])
      .addOutput('y');
    const bytes = g.toBytes({ opset: 17, irVersion: 8, extraOpsets: [{ domain: 'com.example', version: 2 }] });
    const m = decodeModel(bytes);
    expect(m).toEqual({
      ...g.toDescription({ opset: 17, irVersion: 8, extraOpsets: [{ domain: 'com.example', version: 2 }] }),
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    m.initializers.forEach(expectConsistent);
    const i64 = m.initializers.find((t) => t.name === 'i64')!;
    expect(Array.from(tensorDescToTyped(i64).data as BigInt64Array)).toEqual([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]);
    const custom = m.nodes[1];
    expect(custom.domain).toBe('com.example');
    expect(custom.attributes.find((a) => a.name === 'big')!.i).toBe(-(2n ** 63n));
    expect(custom.attributes.find((a) => a.name === 'alpha')!.type).toBe(AttributeType.FLOAT);
    expect(custom.attributes.find((a) => a.name === 'k')!.type).toBe(AttributeType.INT);
  });

  test('the builder refuses ambiguous or inconsistent input', () => {
    const g = new GraphBuilder().addInput('x');
    expect(() => g.addInput('x')).toThrow(/already defined/);
    expect(() => g.addInitializer('w', new Float32Array(5), [2, 2])).toThrow(/expected 16/);
    expect(() => g.addNode('Foo', ['x'], ['y'], { a: [] })).toThrow(/cannot tell its ONNX type/);
    g.addOutput('x');
    expect(() => g.addOutput('x')).toThrow(/added twice/);
  });

  test('IR < 4 lists initializers among the graph inputs, and decoding leaves them out', () => {
    const g = new GraphBuilder().addInput('x', 'float32', [2]).addInitializer('w', new Float32Array(2));
    g.addNode('Add', ['x', 'w'], ['y']).addOutput('y');
    const bytes = g.toBytes({ opset: 8, irVersion: 3 });
    expect(onnx.ModelProto.decode(bytes).graph!.input!.map((v) => v.name)).toEqual(['x', 'w']);
    expect(decodeModel(bytes).inputs.map((v) => v.name)).toEqual(['x']);
  });
});

describe('onnx: ResNet-50 generator', () => {
  let bytes: Uint8Array;
  let m: ModelDescription;
  beforeAll(() => {
    bytes = makeResNet50({ seed: 1 });
    m = decodeModel(bytes);
  });

  test('has the ResNet-50 v1 graph', () => {
    expect(opCounts(m)).toEqual({
      Conv: 53,
      BatchNormalization: 53,
      Relu: 49,
      MaxPool: 1,
      Add: 16,
      GlobalAveragePool: 1,
      Flatten: 1,
      Gemm: 1,
    });
    expect(m.nodes).toHaveLength(175);
    expect(m.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(m.inputs).toEqual([{ name: 'input', dtype: DataType.FLOAT, dims: ['N', 3, 224, 224] }]);
    expect(m.outputs).toEqual([{ name: 'logits', dtype: DataType.FLOAT, dims: ['N', 1000] }]);
    // torchvision's parameter count (conv and fc weights, fc bias, BN gamma and beta); running stats are buffers.
    let params = 0;
    for (const t of m.initializers) if (!/running_(mean|var)$/.test(t.name)) params += t.data.byteLength / 4;
    expect(params).toBe(25_557_032);
    const strided = m.nodes.filter((n) => n.opType === 'Conv' && n.attributes.some((a) => a.name === 'strides' && a.ints![0] === 2n));
    expect(strided.map((n) => n.name)).toEqual([
      'conv1',
      'layer2.0.conv2',
      'layer2.0.downsample.0',
      'layer3.0.conv2',
      'layer3.0.downsample.0',
      'layer4.0.conv2',
      'layer4.0.downsample.0',
    ]);
  });

  test('is deterministic, with a batch option', () => {
    expect(createHash('sha256').update(makeResNet50({ seed: 1 })).digest('hex')).toBe(m.sha256);
    const fixed = decodeModel(makeResNet50({ seed: 1, batch: 2 }));
    expect(fixed.inputs[0].dims).toEqual([2, 3, 224, 224]);
    expect(fixed.outputs[0].dims).toEqual([2, 1000]);
  });

  test('onnxruntime runs it with activations in a sane range', async () => {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    const n = 2;
    const x = new Float32Array(n * 3 * 224 * 224);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i / 377) + 0.3 * Math.cos(i / 13);
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, 3, 224, 224]) });
    const logits = out.logits.data as Float32Array;
    expect(out.logits.dims).toEqual([n, 1000]);
    let sq = 0;
    for (const v of logits) {
      expect(Number.isFinite(v)).toBe(true);
      sq += v * v;
    }
    const rms = Math.sqrt(sq / logits.length);
    expect(rms).toBeGreaterThan(0.05);
    expect(rms).toBeLessThan(20);
    await session.release();
  });
});

describe('onnx: tensor data encodings', () => {
  const decodeInit = (t: onnx.ITensorProto): TensorDesc => decodeModel(rawModel(graphWith([t]))).initializers[0];
  const typed = (t: onnx.ITensorProto) => Array.from(tensorDescToTyped(decodeInit(t)).data as ArrayLike<number | bigint>);

  test('typed fields convert to little-endian bytes', () => {
    expect(typed({ name: 'a', dataType: DataType.FLOAT, dims: [2], floatData: [1.5, -2] })).toEqual([1.5, -2]);
    expect(typed({ name: 'a', dataType: DataType.INT8, dims: [3], int32Data: [-128, 0, 127] })).toEqual([-128, 0, 127]);
    expect(typed({ name: 'a', dataType: DataType.UINT8, dims: [2], int32Data: [0, 255] })).toEqual([0, 255]);
    expect(typed({ name: 'a', dataType: DataType.INT16, dims: [2], int32Data: [-32768, 5] })).toEqual([-32768, 5]);
    expect(typed({ name: 'a', dataType: DataType.UINT16, dims: [1], int32Data: [65535] })).toEqual([65535]);
    expect(typed({ name: 'a', dataType: DataType.BOOL, dims: [3], int32Data: [1, 0, 1] })).toEqual([1, 0, 1]);
    expect(typed({ name: 'a', dataType: DataType.FLOAT16, dims: [1], int32Data: [0x3c00] })).toEqual([0x3c00]);
    expect(typed({ name: 'a', dataType: DataType.INT32, dims: [2], int32Data: [-(2 ** 31), 7] })).toEqual([-(2 ** 31), 7]);
    expect(typed({ name: 'a', dataType: DataType.DOUBLE, dims: [1], doubleData: [Math.E] })).toEqual([Math.E]);
    expect(typed({ name: 'a', dataType: DataType.UINT32, dims: [1], uint64Data: [4294967295] })).toEqual([4294967295]);
    // int64 from protobufjs Long halves, exact beyond 2^53.
    const big = { low: 1, high: 0x40000000 }; // 2^62 + 1
    expect(
      typed({ name: 'a', dataType: DataType.INT64, dims: [2], int64Data: [big as never, { low: 0, high: -0x80000000 } as never] }),
    ).toEqual([2n ** 62n + 1n, -(2n ** 63n)]);
    expect(typed({ name: 'a', dataType: DataType.UINT64, dims: [1], uint64Data: [{ low: -1, high: -1 } as never] })).toEqual([
      2n ** 64n - 1n,
    ]);
  });

  test('raw_data is used as is; scalars and empty tensors work', () => {
    const raw = new Uint8Array(new Float32Array([3]).buffer);
    const t = decodeInit({ name: 's', dataType: DataType.FLOAT, rawData: raw });
    expect(t.dims).toEqual([]);
    expect(Array.from(tensorDescToTyped(t).data as Float32Array)).toEqual([3]);
    const e = decodeInit({ name: 'e', dataType: DataType.FLOAT, dims: [0, 3] });
    expect(e.data.byteLength).toBe(0);
  });

  test('string tensors keep dtype and dims, without data', () => {
    const t = decodeInit({ name: 's', dataType: DataType.STRING, dims: [2], stringData: [new Uint8Array([104]), new Uint8Array([105])] });
    expect(t).toEqual({ name: 's', dtype: DataType.STRING, dims: [2], data: new Uint8Array(0) });
    expect(() => tensorDescToTyped(t)).toThrow(expect.objectContaining({ code: 'ERR_INT8RT_DTYPE' }));
  });

  test('sparse initializers are densified', () => {
    const bytes = rawModel(
      graphWith([], {
        sparseInitializer: [
          {
            dims: [2, 3],
            values: { name: 'sp', dataType: DataType.FLOAT, dims: [2], floatData: [5, 7] },
            indices: { name: 'sp_idx', dataType: DataType.INT64, dims: [2], int64Data: [1, 5] },
          },
        ],
      }),
    );
    const t = decodeModel(bytes).initializers[0];
    expect(t.name).toBe('sp');
    expect(Array.from(tensorDescToTyped(t).data as Float32Array)).toEqual([0, 5, 0, 0, 0, 7]);
  });

  test('unknown element types are dtype errors', () => {
    expect(() => decodeInit({ name: 'q', dataType: 99, dims: [1], rawData: new Uint8Array(1) })).toThrow(
      expect.objectContaining({ code: 'ERR_INT8RT_DTYPE' }),
    );
  });
});

describe('onnx: graph details', () => {
  test('ai.onnx is the default domain; subgraph attributes keep only their type', () => {
    const branch: onnx.IGraphProto = { name: 'b', node: [], output: [floatIO('x')] };
    const bytes = rawModel(
      {
        name: 'g',
        node: [
          { opType: 'Identity', domain: 'ai.onnx', input: ['x'], output: ['y'] },
          {
            opType: 'If',
            input: ['c'],
            output: ['z'],
            attribute: [
              { name: 'then_branch', type: AttributeType.GRAPH, g: branch },
              { name: 'else_branch', type: AttributeType.GRAPH, g: branch },
            ],
          },
          // Old exporters leave the attribute type out; it is inferred from the value.
          { opType: 'LeakyRelu', input: ['x'], output: ['w'], attribute: [{ name: 'alpha', f: 0.5 }] },
        ],
        input: [floatIO('x'), { name: 'c', type: { tensorType: { elemType: DataType.BOOL, shape: { dim: [] } } } }],
        output: [floatIO('y'), floatIO('z'), floatIO('w')],
      },
      { opsetImport: [{ domain: 'ai.onnx', version: 13 }] },
    );
    const m = decodeModel(bytes);
    expect(m.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(m.nodes[0].domain).toBe('');
    expect(m.nodes[1].attributes).toEqual([
      { name: 'then_branch', type: AttributeType.GRAPH },
      { name: 'else_branch', type: AttributeType.GRAPH },
    ]);
    expect(m.nodes[2].attributes).toEqual([{ name: 'alpha', type: AttributeType.FLOAT, f: 0.5 }]);
    expect(m.inputs[1]).toEqual({ name: 'c', dtype: DataType.BOOL, dims: [] });
    expect(m.inputs[0].dims).toBeNull();
  });
});

describe('onnx: bad models are ERR_INT8RT_MODEL errors', () => {
  test('random bytes', () => {
    let s = 12345;
    for (let trial = 0; trial < 20; trial++) {
      const bytes = new Uint8Array(256 + trial * 97);
      for (let i = 0; i < bytes.length; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        bytes[i] = s >>> 24;
      }
      expectModelError(() => decodeModel(bytes), /ONNX/);
    }
  });

  test('empty input, a non-ONNX protobuf, a model without a graph', () => {
    expectModelError(() => decodeModel(new Uint8Array(0)), /no graph/);
    const tensor = onnx.TensorProto.encode({ name: 't', dataType: 1, dims: [2], floatData: [1, 2] }).finish();
    expectModelError(() => decodeModel(tensor), /ONNX/);
    expectModelError(() => decodeModel(rawModel(null)), /no graph/);
    expectModelError(() => decodeModel(rawModel(graphWith([]), { irVersion: 0 })), /ir_version/);
    expectModelError(() => decodeModel(rawModel(graphWith([]), { opsetImport: [] })), /opset_import/);
  });

  test('initializer data that does not match its dims', () => {
    const raw = { name: 'w', dataType: DataType.FLOAT, dims: [2, 3], rawData: new Uint8Array(20) };
    expectModelError(() => decodeModel(rawModel(graphWith([raw]))), /initializer 'w'.*20 bytes of raw_data, expected 24/);
    const typed = { name: 'w', dataType: DataType.FLOAT, dims: [4], floatData: [1, 2, 3] };
    expectModelError(() => decodeModel(rawModel(graphWith([typed]))), /3 values in float_data, expected 4/);
    const none = { name: 'w', dataType: DataType.INT64, dims: [4] };
    expectModelError(() => decodeModel(rawModel(graphWith([none]))), /has no data/);
    const negative = { name: 'w', dataType: DataType.FLOAT, dims: [-1], rawData: new Uint8Array(0) };
    expectModelError(() => decodeModel(rawModel(graphWith([negative]))), /dims\[0\]/);
  });

  test('duplicate names', () => {
    expectModelError(() => decodeModel(rawModel(graphWith([], { output: [floatIO('y'), floatIO('y')] }))), /two outputs named 'y'/);
    expectModelError(() => decodeModel(rawModel(graphWith([], { input: [floatIO('x'), floatIO('x')] }))), /two inputs named 'x'/);
    const w = { name: 'w', dataType: DataType.FLOAT, dims: [1], floatData: [1] };
    expectModelError(() => decodeModel(rawModel(graphWith([w, w]))), /two initializers named 'w'/);
  });

  describe('external data', () => {
    let dir: string;
    const ext = (location: string, extra: Record<string, string> = {}): onnx.ITensorProto => ({
      name: 'w',
      dataType: DataType.FLOAT,
      dims: [2],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))],
    });
    const writeModel = (t: onnx.ITensorProto, name = 'model.onnx') => {
      const p = path.join(dir, 'models', name);
      fs.writeFileSync(p, rawModel(graphWith([t])));
      return p;
    };

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-onnx-'));
      fs.mkdirSync(path.join(dir, 'models', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'secret.bin'), new Uint8Array(8));
      const data = new Uint8Array(16);
      data.set(new Uint8Array(new Float32Array([1, 2]).buffer), 0);
      data.set(new Uint8Array(new Float32Array([3, 4]).buffer), 8);
      fs.writeFileSync(path.join(dir, 'models', 'sub', 'weights.bin'), data);
      fs.symlinkSync(path.join(dir, 'secret.bin'), path.join(dir, 'models', 'link.bin'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test('is read from the model folder, with offset and length', async () => {
      const m = await loadModel(writeModel(ext('sub/weights.bin', { offset: '8', length: '8' })));
      expect(Array.from(tensorDescToTyped(m.initializers[0]).data as Float32Array)).toEqual([3, 4]);
    });

    test('outside the model folder, missing, or without a folder is refused', async () => {
      const load = async (t: onnx.ITensorProto, message: RegExp) => {
        await expect(loadModel(writeModel(t))).rejects.toMatchObject({ code: 'ERR_INT8RT_MODEL', message: expect.stringMatching(message) });
      };
      await load(ext('../secret.bin'), /outside the model's folder/);
      await load(ext('sub/../../secret.bin'), /outside the model's folder/);
      await load(ext(path.join(dir, 'secret.bin')), /relative path/);
      await load(ext('link.bin'), /links outside/);
      await load(ext('nothere.bin'), /not found/);
      await load(ext('sub/weights.bin'), /16 bytes of external data.*expected 8/);
      await load(ext('sub/weights.bin', { offset: '12', length: '8' }), /beyond the end/);
      expectModelError(() => decodeModel(rawModel(graphWith([ext('sub/weights.bin', { length: '8' })]))), /given as bytes/);
    });
  });
});

describeShared('onnx: test data files', [ONNX_BACKEND_NODE_DIR], () => {
  test('decodes input/output TensorProto files', () => {
    const set = path.join(ONNX_BACKEND_NODE_DIR, 'test_abs', 'test_data_set_0');
    const input = decodeTensorProto(fs.readFileSync(path.join(set, 'input_0.pb')));
    const output = decodeTensorProto(fs.readFileSync(path.join(set, 'output_0.pb')));
    const x = tensorDescToTyped(input);
    const y = tensorDescToTyped(output);
    expect(x.dtype).toBe('float32');
    expect(x.dims).toEqual([3, 4, 5]);
    expect(Array.from(x.data as Float32Array, Math.abs)).toEqual(Array.from(y.data as Float32Array));
    expect(() => decodeTensorProto(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'ERR_INT8RT_MODEL' }));
  });
});
