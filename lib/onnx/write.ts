// ModelDescription -> ONNX bytes, and GraphBuilder, a small API to write ONNX models in code (test models, generated
// networks, and later QDQ exports). Tensors are written as raw_data; the output decodes back through decodeModel to
// the same description.

import { onnx } from 'onnx-proto';
import { argumentError } from './errors';
import { bigintToLongBits } from './int64';
import { byteLengthOf, dataTypeName, type TypedArray } from './tensor-proto';
import {
  AttributeType,
  DataType,
  type AttrDesc,
  type ModelDescription,
  type NodeDesc,
  type TensorDesc,
  type ValueInfoDesc,
} from './types';

/** A model description to encode; sha256 is ignored (it is a property of the bytes written). */
export type ModelToEncode = Omit<ModelDescription, 'sha256'> & { sha256?: string };

const utf8 = new TextEncoder();

/** protobufjs' typings ask for a long.js Long; its Writer only reads { low, high }, which is all this builds. */
type ProtoInt64 = NonNullable<onnx.IOperatorSetIdProto['version']>;
function int64(v: bigint | number): ProtoInt64 {
  return bigintToLongBits(v) as unknown as ProtoInt64;
}

const invalid = argumentError;

function tensorProto(t: TensorDesc): onnx.ITensorProto {
  const proto: onnx.ITensorProto = {
    name: t.name,
    dataType: t.dtype,
    dims: t.dims.map((d) => int64(d)),
  };
  // String tensors carry no values in a TensorDesc (see types.ts), so none are written.
  if (t.dtype !== DataType.STRING) proto.rawData = t.data;
  return proto;
}

function valueInfoProto(v: ValueInfoDesc): onnx.IValueInfoProto {
  if (v.dtype === DataType.UNDEFINED && v.dims === null) return { name: v.name };
  const tensorType: onnx.TypeProto.ITensor = { elemType: v.dtype };
  if (v.dims !== null) {
    tensorType.shape = {
      dim: v.dims.map((d) =>
        typeof d === 'number' ? { dimValue: int64(d) } : d === '' ? {} : { dimParam: d },
      ),
    };
  }
  return { name: v.name, type: { tensorType } };
}

function attributeProto(a: AttrDesc, node: string): onnx.IAttributeProto {
  const p: onnx.IAttributeProto = { name: a.name, type: a.type };
  switch (a.type) {
    case AttributeType.FLOAT:
      p.f = a.f ?? 0;
      break;
    case AttributeType.INT:
      p.i = int64(a.i ?? 0n);
      break;
    case AttributeType.STRING:
      p.s = utf8.encode(a.s ?? '');
      break;
    case AttributeType.TENSOR:
      if (!a.t) throw invalid(`attribute '${a.name}' of node '${node}' has type TENSOR but no tensor`);
      p.t = tensorProto(a.t);
      break;
    case AttributeType.FLOATS:
      p.floats = Array.from(a.floats ?? []);
      break;
    case AttributeType.INTS:
      p.ints = Array.from(a.ints ?? [], (v) => int64(v));
      break;
    case AttributeType.STRINGS:
      p.strings = (a.strings ?? []).map((s) => utf8.encode(s));
      break;
    default:
      throw invalid(`attribute '${a.name}' of node '${node}' has type ${a.type}, which the writer cannot encode`);
  }
  return p;
}

function nodeProto(n: NodeDesc): onnx.INodeProto {
  const p: onnx.INodeProto = {
    input: n.inputs,
    output: n.outputs,
    opType: n.opType,
    attribute: n.attributes.map((a) => attributeProto(a, n.name || n.opType)),
  };
  if (n.name) p.name = n.name;
  if (n.domain) p.domain = n.domain;
  return p;
}

/** Encodes a model description as ONNX ModelProto bytes. */
export function encodeModel(model: ModelToEncode, graphName = 'int8rt'): Uint8Array {
  const inputs = model.inputs.map(valueInfoProto);
  if (model.irVersion < 4) {
    // Before IR 4 every initializer must also be listed as a graph input.
    for (const t of model.initializers) inputs.push(valueInfoProto({ name: t.name, dtype: t.dtype, dims: t.dims }));
  }
  const proto: onnx.IModelProto = {
    irVersion: int64(model.irVersion),
    opsetImport: model.opsets.map((o) => ({ domain: o.domain, version: int64(o.version) })),
    graph: {
      name: graphName,
      node: model.nodes.map(nodeProto),
      initializer: model.initializers.map(tensorProto),
      input: inputs,
      output: model.outputs.map(valueInfoProto),
    },
  };
  if (model.producer) proto.producerName = model.producer;
  return onnx.ModelProto.encode(proto).finish();
}

/** An element type, as an ONNX code or as an int8rt dtype name. */
export type DTypeArg = number | string;

const DTYPE_CODES: Readonly<Record<string, number>> = {
  float32: DataType.FLOAT,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  uint16: DataType.UINT16,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  string: DataType.STRING,
  bool: DataType.BOOL,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
};

function dtypeCode(d: DTypeArg): number {
  if (typeof d === 'number') return d;
  const code = DTYPE_CODES[d];
  if (code === undefined) throw invalid(`unknown dtype '${d}'`);
  return code;
}

function dtypeOfArray(a: TypedArray): number {
  if (a instanceof Float32Array) return DataType.FLOAT;
  if (a instanceof Float64Array) return DataType.DOUBLE;
  if (a instanceof Int8Array) return DataType.INT8;
  if (a instanceof Uint8Array) return DataType.UINT8;
  if (a instanceof Int16Array) return DataType.INT16;
  if (a instanceof Uint16Array) return DataType.UINT16;
  if (a instanceof Int32Array) return DataType.INT32;
  if (a instanceof Uint32Array) return DataType.UINT32;
  if (a instanceof BigInt64Array) return DataType.INT64;
  if (a instanceof BigUint64Array) return DataType.UINT64;
  throw invalid('initializer data must be a typed array');
}

/** An attribute value with its type spelled out (see `attr`). */
export type TypedAttr = Omit<AttrDesc, 'name'>;

/**
 * Attribute values for GraphBuilder.addNode. Plain JS values are typed by their shape: an integer number or a
 * bigint is INT, any other number FLOAT, a string STRING, an array of integers (or bigints, or a BigInt64Array) INTS,
 * an array with a fraction (or a Float32Array) FLOATS, a string array STRINGS, a TensorDesc TENSOR. Use `attr.float`
 * and `attr.floats` where a float attribute happens to hold whole numbers (alpha: 1.0), and `attr.ints([])` etc. for
 * empty lists.
 */
export type AttrValue =
  | number
  | bigint
  | string
  | readonly number[]
  | readonly bigint[]
  | readonly string[]
  | Float32Array
  | BigInt64Array
  | TensorDesc
  | TypedAttr;

export const attr = {
  float: (v: number): TypedAttr => ({ type: AttributeType.FLOAT, f: v }),
  int: (v: number | bigint): TypedAttr => ({ type: AttributeType.INT, i: BigInt(v) }),
  string: (v: string): TypedAttr => ({ type: AttributeType.STRING, s: v }),
  tensor: (t: TensorDesc): TypedAttr => ({ type: AttributeType.TENSOR, t }),
  floats: (v: ArrayLike<number>): TypedAttr => ({ type: AttributeType.FLOATS, floats: Float32Array.from(v) }),
  ints: (v: ArrayLike<number | bigint>): TypedAttr => ({
    type: AttributeType.INTS,
    ints: BigInt64Array.from(Array.from(v), (x) => BigInt(x)),
  }),
  strings: (v: readonly string[]): TypedAttr => ({ type: AttributeType.STRINGS, strings: v.slice() }),
};

function isTensorDesc(v: object): v is TensorDesc {
  return 'dtype' in v && 'dims' in v && 'data' in v;
}

function toAttrDesc(name: string, v: AttrValue, node: string): AttrDesc {
  const bad = () => invalid(`attribute '${name}' of node '${node}': cannot tell its ONNX type, use attr.*()`);
  if (typeof v === 'number') return { name, ...(Number.isInteger(v) ? attr.int(v) : attr.float(v)) };
  if (typeof v === 'bigint') return { name, ...attr.int(v) };
  if (typeof v === 'string') return { name, ...attr.string(v) };
  if (v instanceof Float32Array) return { name, ...attr.floats(v) };
  if (v instanceof BigInt64Array) return { name, type: AttributeType.INTS, ints: v.slice() };
  if (Array.isArray(v)) {
    const list = v as readonly unknown[];
    if (list.length === 0) throw bad();
    if (list.every((x) => typeof x === 'string')) return { name, ...attr.strings(list as string[]) };
    if (list.every((x) => typeof x === 'bigint')) return { name, ...attr.ints(list as bigint[]) };
    if (list.every((x) => typeof x === 'number')) {
      const nums = list as number[];
      return { name, ...(nums.every(Number.isInteger) ? attr.ints(nums) : attr.floats(nums)) };
    }
    throw bad();
  }
  if (typeof v === 'object' && v !== null) {
    if ('type' in v && typeof v.type === 'number') return { ...(v as TypedAttr), name };
    if (isTensorDesc(v)) return { name, ...attr.tensor(v) };
  }
  throw bad();
}

export interface ToBytesOptions {
  /** Default-domain opset (default 13). */
  opset?: number;
  /** IR version (default 7, the one that goes with opset 13). */
  irVersion?: number;
  producer?: string;
  /** Opsets of other domains used by the nodes, e.g. [{ domain: 'com.microsoft', version: 1 }]. */
  extraOpsets?: { domain: string; version: number }[];
}

/** Builds an ONNX graph in code: `new GraphBuilder().addInput(...).addNode(...).addOutput(...).toBytes()`. */
export class GraphBuilder {
  readonly inputs: ValueInfoDesc[] = [];
  readonly outputs: ValueInfoDesc[] = [];
  readonly initializers: TensorDesc[] = [];
  readonly nodes: NodeDesc[] = [];
  private readonly names = new Set<string>();

  constructor(readonly graphName = 'int8rt') {}

  /** A graph input; dims: numbers for fixed dims, strings for symbolic ones, null for an unknown shape. */
  addInput(name: string, dtype: DTypeArg = 'float32', dims: (number | string)[] | null = null): this {
    this.claim(name, 'input');
    this.inputs.push({ name, dtype: dtypeCode(dtype), dims: dims === null ? null : dims.slice() });
    return this;
  }

  /** A graph output (the name of a value some node produces, or of an input or initializer). */
  addOutput(name: string, dtype: DTypeArg = 'float32', dims: (number | string)[] | null = null): this {
    if (this.outputs.some((o) => o.name === name)) throw invalid(`output '${name}' added twice`);
    this.outputs.push({ name, dtype: dtypeCode(dtype), dims: dims === null ? null : dims.slice() });
    return this;
  }

  /**
   * A constant tensor. The element type follows the array (Float32Array -> float32, BigInt64Array -> int64, ...)
   * unless `dtype` says otherwise (bool or float16 held in a Uint8Array / Uint16Array). dims default to [length].
   * The data is copied.
   */
  addInitializer(name: string, data: TypedArray, dims?: number[], dtype?: DTypeArg): this {
    this.claim(name, 'initializer');
    const code = dtype === undefined ? dtypeOfArray(data) : dtypeCode(dtype);
    const shape = dims ? dims.slice() : [data.length];
    const count = shape.reduce((a, b) => a * b, 1);
    const expected = byteLengthOf(code, count);
    if (data.byteLength !== expected) {
      throw invalid(
        `initializer '${name}': ${data.byteLength} bytes of data for ${dataTypeName(code)} [${shape.join(', ')}], ` +
          `expected ${expected}`,
      );
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dtype: code, dims: shape, data: bytes });
    return this;
  }

  /** A node; attribute values are typed as described at AttrValue. Returns the builder. */
  addNode(
    opType: string,
    inputs: string[],
    outputs: string[],
    attrs: Record<string, AttrValue> = {},
    name = `${opType}_${this.nodes.length}`,
    domain = '',
  ): this {
    for (const o of outputs) if (o) this.claim(o, `output of node '${name}'`);
    this.nodes.push({
      name,
      opType,
      domain,
      inputs: inputs.slice(),
      outputs: outputs.slice(),
      attributes: Object.entries(attrs).map(([k, v]) => toAttrDesc(k, v, name)),
    });
    return this;
  }

  /** The graph as a model description (what decodeModel(toBytes()) gives back, less sha256). */
  toDescription(opts: ToBytesOptions = {}): ModelToEncode {
    const opsets = [{ domain: '', version: opts.opset ?? 13 }, ...(opts.extraOpsets ?? [])];
    return {
      irVersion: opts.irVersion ?? 7,
      producer: opts.producer ?? 'int8rt',
      opsets,
      inputs: this.inputs,
      outputs: this.outputs,
      initializers: this.initializers,
      nodes: this.nodes,
    };
  }

  toBytes(opts: ToBytesOptions = {}): Uint8Array {
    return encodeModel(this.toDescription(opts), this.graphName);
  }

  /** Every value name is defined once (SSA), which keeps generated graphs valid ONNX. */
  private claim(name: string, what: string): void {
    if (!name) throw invalid(`${what} needs a name`);
    if (this.names.has(name)) throw invalid(`'${name}' (${what}) is already defined in this graph`);
    this.names.add(name);
  }
}
