// ONNX model bytes -> ModelDescription (lib/onnx/types.ts), the plain object the native addon builds its graph from.
//
// Decoding is strict: anything the runtime could only guess about (a file that is not an ONNX model, tensor data of
// the wrong length, external data outside the model's folder, ambiguous names) is an ERR_INT8RT_MODEL error that says
// what is wrong and where. Semantic checks that need operator knowledge (types, shapes, topological order) are left to
// the native side, which reports them with the node's name.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { argumentError, modelError, onnxError } from './errors';
import { int64ToBigInt, int64ToIndex, type Int64Like } from './int64';
import { dataTypeName, elementBits, tensorFromProto } from './tensor-proto';
import {
  AttributeType,
  DataType,
  type AttrDesc,
  type ModelDescription,
  type NodeDesc,
  type TensorDesc,
  type ValueInfoDesc,
} from './types';

export interface DecodeOptions {
  /**
   * Folder that external tensor data is read from (normally the model file's folder). Without it, a model with
   * external data is refused.
   */
  baseDir?: string;
}

/** The highest IR version accepted: well above today's (11, ONNX 1.18), low enough to reject garbage. */
const MAX_IR_VERSION = 64;

const utf8 = new TextDecoder('utf-8');

function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field);
}

function normaliseDomain(domain: string | null | undefined): string {
  return !domain || domain === 'ai.onnx' ? '' : domain;
}

/** Decodes ONNX model bytes. Throws an Error with code ERR_INT8RT_MODEL when the bytes are not a usable model. */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): ModelDescription {
  if (!(bytes instanceof Uint8Array)) {
    throw argumentError('decodeModel expects the model bytes as a Uint8Array');
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // A plain Uint8Array view makes protobufjs hand out plain subarray views for bytes fields (raw_data) instead of
  // Buffers, without copying.
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let m: onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(view);
  } catch (e) {
    throw modelError(
      `not a valid ONNX model (${bytes.byteLength} bytes): protobuf decoding failed (${(e as Error).message}); ` +
        'the file may be truncated or not an ONNX file',
      e,
    );
  }
  if (!m.graph) {
    throw modelError(`not an ONNX model (${bytes.byteLength} bytes): it has no graph`);
  }
  const irVersion = int64ToBigInt(m.irVersion as Int64Like);
  if (irVersion < 1n || irVersion > BigInt(MAX_IR_VERSION)) {
    throw modelError(
      irVersion === 0n ? 'not a valid ONNX model: ir_version is missing' : `not a valid ONNX model: ir_version ${irVersion} is not a known IR version`,
    );
  }

  const opsets: { domain: string; version: number }[] = [];
  for (const o of m.opsetImport ?? []) {
    const domain = normaliseDomain(o.domain);
    const version = int64ToIndex(o.version as Int64Like, `opset_import version of domain '${domain}'`);
    if (version < 1) throw modelError(`opset_import for domain '${domain}' has version ${version}`);
    if (opsets.some((p) => p.domain === domain)) throw modelError(`opset_import lists domain '${domain}' twice`);
    opsets.push({ domain, version });
  }
  if (opsets.length === 0) {
    // IR version 1 and 2 models predate opset_import and mean default-domain opset 1.
    if (irVersion >= 3n) throw modelError('not a valid ONNX model: it has no opset_import');
    opsets.push({ domain: '', version: 1 });
  }

  const producer = [m.producerName, m.producerVersion].filter((s) => s).join(' ');
  const graph = convertGraph(m.graph, opts.baseDir);
  return { irVersion: Number(irVersion), producer, opsets, ...graph, sha256 };
}

/** Reads and decodes a model file (external data is read from the file's folder), or decodes bytes. */
export async function loadModel(pathOrBytes: string | Uint8Array): Promise<ModelDescription> {
  if (typeof pathOrBytes !== 'string') return decodeModel(pathOrBytes);
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(pathOrBytes);
  } catch (e) {
    throw modelError(`cannot read model file '${pathOrBytes}': ${(e as Error).message}`, e);
  }
  try {
    return decodeModel(bytes, { baseDir: path.dirname(path.resolve(pathOrBytes)) });
  } catch (e) {
    // Name the file: a service loading several models needs to know which one is bad.
    const err = e as Error & { code?: string };
    if (err && typeof err.message === 'string' && !err.message.includes(pathOrBytes))
      err.message = `${pathOrBytes}: ${err.message}`;
    throw err;
  }
}

type GraphPart = Pick<ModelDescription, 'inputs' | 'outputs' | 'initializers' | 'nodes'>;

function convertGraph(g: onnx.IGraphProto, baseDir: string | undefined): GraphPart {
  const initializers: TensorDesc[] = [];
  const initNames = new Set<string>();
  const addInitializer = (t: TensorDesc) => {
    if (!t.name) throw modelError('graph has an initializer without a name');
    if (initNames.has(t.name)) throw modelError(`graph has two initializers named '${t.name}'`);
    initNames.add(t.name);
    initializers.push(t);
  };
  for (const t of g.initializer ?? []) {
    addInitializer(tensorFromProto(t, { baseDir, what: `initializer '${t.name ?? ''}'` }));
  }
  for (const s of g.sparseInitializer ?? []) addInitializer(densify(s, baseDir));

  const inputs: ValueInfoDesc[] = [];
  const inputNames = new Set<string>();
  for (const v of g.input ?? []) {
    const vi = convertValueInfo(v, 'graph input');
    if (inputNames.has(vi.name)) throw modelError(`graph has two inputs named '${vi.name}'`);
    inputNames.add(vi.name);
    // IR < 4 lists initializers among the inputs too (as defaults that a feed may override); they are constants here.
    if (!initNames.has(vi.name)) inputs.push(vi);
  }

  const outputs: ValueInfoDesc[] = [];
  const outputNames = new Set<string>();
  for (const v of g.output ?? []) {
    const vi = convertValueInfo(v, 'graph output');
    if (outputNames.has(vi.name)) throw modelError(`graph has two outputs named '${vi.name}'`);
    outputNames.add(vi.name);
    outputs.push(vi);
  }
  if (outputs.length === 0) throw modelError('graph has no outputs');

  const nodes = (g.node ?? []).map((n, i) => convertNode(n, i, baseDir));
  return { inputs, outputs, initializers, nodes };
}

function convertValueInfo(v: onnx.IValueInfoProto, what: string): ValueInfoDesc {
  const name = v.name ?? '';
  if (!name) throw modelError(`a ${what} has no name`);
  const type = v.type;
  // No type at all: unknown (dtype 0). Sequence, map, optional and sparse values are not tensors: the runtime
  // refuses them (kind says which).
  if (!type) return { name, dtype: DataType.UNDEFINED, dims: null };
  if (!has(type, 'tensorType') || !type.tensorType) {
    const kind = (['sequenceType', 'mapType', 'optionalType', 'sparseTensorType'] as const).find((k) => has(type, k));
    return { name, dtype: DataType.UNDEFINED, dims: null, kind: kind ? kind.replace('Type', '') : 'unknown' };
  }
  const tt = type.tensorType;
  const dtype = tt.elemType ?? 0;
  if (!has(tt, 'shape') || !tt.shape) return { name, dtype, dims: null };
  const dims = (tt.shape.dim ?? []).map((d): number | string => {
    if (has(d, 'dimValue')) {
      const b = int64ToBigInt(d.dimValue as Int64Like);
      // A negative or absurd dim_value carries no information; treat it as an unnamed symbolic dim.
      return b >= 0n && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : '';
    }
    return d.dimParam ?? '';
  });
  return { name, dtype, dims };
}

function convertNode(n: onnx.INodeProto, index: number, baseDir: string | undefined): NodeDesc {
  const name = n.name ?? '';
  const opType = n.opType ?? '';
  const where = name ? `node '${name}' (${opType || 'no op_type'})` : `node #${index} (${opType || 'no op_type'})`;
  if (!opType) throw modelError(`${where} has no op_type`);
  const attributes: AttrDesc[] = [];
  for (const a of n.attribute ?? []) {
    const attr = convertAttribute(a, where, baseDir);
    if (attributes.some((b) => b.name === attr.name)) throw modelError(`${where} has two attributes named '${attr.name}'`);
    attributes.push(attr);
  }
  return {
    name,
    opType,
    domain: normaliseDomain(n.domain),
    inputs: (n.input ?? []).slice(),
    outputs: (n.output ?? []).slice(),
    attributes,
  };
}

/** The type of an attribute written without one (old exporters), from the field that holds its value. */
function inferAttributeType(a: onnx.IAttributeProto): number {
  if (has(a, 'f')) return AttributeType.FLOAT;
  if (has(a, 'i')) return AttributeType.INT;
  if (has(a, 's')) return AttributeType.STRING;
  if (has(a, 't')) return AttributeType.TENSOR;
  if (has(a, 'g')) return AttributeType.GRAPH;
  if (has(a, 'sparseTensor')) return AttributeType.SPARSE_TENSOR;
  if (has(a, 'tp')) return AttributeType.TYPE_PROTO;
  if (a.floats?.length) return AttributeType.FLOATS;
  if (a.ints?.length) return AttributeType.INTS;
  if (a.strings?.length) return AttributeType.STRINGS;
  if (a.tensors?.length) return AttributeType.TENSORS;
  if (a.graphs?.length) return AttributeType.GRAPHS;
  if (a.sparseTensors?.length) return AttributeType.SPARSE_TENSORS;
  if (a.typeProtos?.length) return AttributeType.TYPE_PROTOS;
  return AttributeType.UNDEFINED;
}

function convertAttribute(a: onnx.IAttributeProto, where: string, baseDir: string | undefined): AttrDesc {
  const name = a.name ?? '';
  if (!name) throw modelError(`${where} has an attribute without a name`);
  const what = `attribute '${name}' of ${where}`;
  if (a.refAttrName) throw modelError(`${what} refers to function attribute '${a.refAttrName}' outside a function`);
  const type = a.type || inferAttributeType(a);
  switch (type) {
    case AttributeType.FLOAT:
      return { name, type, f: a.f ?? 0 };
    case AttributeType.INT:
      return { name, type, i: int64ToBigInt(a.i as Int64Like) };
    case AttributeType.STRING:
      return { name, type, s: utf8.decode(a.s ?? new Uint8Array(0)) };
    case AttributeType.TENSOR:
      if (!a.t) throw modelError(`${what} has type TENSOR but no tensor`);
      return { name, type, t: tensorFromProto(a.t, { baseDir, what }) };
    case AttributeType.FLOATS:
      return { name, type, floats: Float32Array.from(a.floats ?? []) };
    case AttributeType.INTS:
      return { name, type, ints: BigInt64Array.from(a.ints ?? [], (v) => int64ToBigInt(v as Int64Like)) };
    case AttributeType.STRINGS:
      return { name, type, strings: (a.strings ?? []).map((s) => utf8.decode(s)) };
    case AttributeType.GRAPH:
    case AttributeType.GRAPHS:
    case AttributeType.TENSORS:
    case AttributeType.SPARSE_TENSOR:
    case AttributeType.SPARSE_TENSORS:
    case AttributeType.TYPE_PROTO:
    case AttributeType.TYPE_PROTOS:
      // Kept by type only: the native side reports the node as unsupported.
      return { name, type };
    case AttributeType.UNDEFINED:
      throw modelError(`${what} has no type and no value`);
    default:
      throw modelError(`${what} has unknown attribute type ${type}`);
  }
}

/**
 * A sparse initializer as a dense TensorDesc: `values` holds the NNZ non-zero elements and `indices` their positions,
 * either as NNZ linear indices or as an [NNZ, rank] array of coordinates.
 */
function densify(s: onnx.ISparseTensorProto, baseDir: string | undefined): TensorDesc {
  if (!s.values) throw modelError('sparse initializer has no values');
  const name = s.values.name ?? '';
  const what = `sparse initializer '${name}'`;
  const values = tensorFromProto(s.values, { baseDir, what: `${what}: values` });
  if (!s.indices) throw modelError(`${what} has no indices`);
  const indices = tensorFromProto(s.indices, { baseDir, what: `${what}: indices` });
  const dims = (s.dims ?? []).map((d, i) => int64ToIndex(d as Int64Like, `${what}: dims[${i}]`));
  const bits = elementBits(values.dtype) ?? 0;
  if (bits === 0 || bits % 8 !== 0) {
    throw onnxError('ERR_INT8RT_UNSUPPORTED', `${what} has element type ${dataTypeName(values.dtype)}, which cannot be densified`);
  }
  const elem = bits / 8;
  if (indices.dtype !== DataType.INT64) throw modelError(`${what}: indices must be int64`);
  const nnz = values.dims.length === 1 ? values.dims[0] : -1;
  if (nnz < 0) throw modelError(`${what}: values must be 1-D`);
  const count = dims.reduce((a, b) => a * b, 1);
  const idx = new BigInt64Array(indices.data.slice().buffer);
  const linear = (k: number): number => {
    if (indices.dims.length === 1 && indices.dims[0] === nnz) return Number(idx[k]);
    if (indices.dims.length === 2 && indices.dims[0] === nnz && indices.dims[1] === dims.length) {
      let off = 0;
      for (let r = 0; r < dims.length; r++) {
        const c = Number(idx[k * dims.length + r]);
        if (c < 0 || c >= dims[r]) return -1;
        off = off * dims[r] + c;
      }
      return off;
    }
    throw modelError(`${what}: indices have dims [${indices.dims.join(', ')}], expected [${nnz}] or [${nnz}, ${dims.length}]`);
  };
  const data = new Uint8Array(count * elem);
  for (let k = 0; k < nnz; k++) {
    const at = linear(k);
    if (!(at >= 0 && at < count)) throw modelError(`${what}: index ${k} is out of range`);
    data.set(values.data.subarray(k * elem, (k + 1) * elem), at * elem);
  }
  return { name, dtype: values.dtype, dims, data };
}
