// onnx.TensorProto <-> TensorDesc, and TensorDesc -> typed arrays.
//
// A TensorProto keeps its elements in one of several places: raw_data (little-endian bytes), a typed repeated field
// (float_data, int32_data, int64_data, double_data, uint64_data, chosen by data_type) or an external file. All of them
// are normalised here to one little-endian byte buffer of exactly dims x element-size bytes; any other length is an
// error, so the native side never has to second-guess a buffer.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { modelError, onnxError } from './errors';
import { int64ToBigInt, int64ToIndex, type Int64Like } from './int64';
import { DataType, type TensorDesc } from './types';

/** Bits per element for every ONNX data type code this reader knows; 0 for STRING (no fixed size). */
const ELEMENT_BITS: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 32,
  [DataType.UINT8]: 8,
  [DataType.INT8]: 8,
  [DataType.UINT16]: 16,
  [DataType.INT16]: 16,
  [DataType.INT32]: 32,
  [DataType.INT64]: 64,
  [DataType.STRING]: 0,
  [DataType.BOOL]: 8,
  [DataType.FLOAT16]: 16,
  [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32,
  [DataType.UINT64]: 64,
  [DataType.COMPLEX64]: 64,
  [DataType.COMPLEX128]: 128,
  [DataType.BFLOAT16]: 16,
  [DataType.FLOAT8E4M3FN]: 8,
  [DataType.FLOAT8E4M3FNUZ]: 8,
  [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8,
  [DataType.UINT4]: 4,
  [DataType.INT4]: 4,
  [DataType.FLOAT4E2M1]: 4,
  [DataType.FLOAT8E8M0]: 8,
  [DataType.UINT2]: 2,
  [DataType.INT2]: 2,
};

/** Largest tensor this reader materialises (bytes); larger sizes in a file are taken as corruption. */
const MAX_TENSOR_BYTES = 2 ** 32;

const DTYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(DataType).map(([name, code]) => [code, name.toLowerCase()]),
);

/** A readable name for an ONNX data type code, for messages ("float", "int64", "code 99"). */
export function dataTypeName(code: number): string {
  return DTYPE_NAMES[code] ?? `code ${code}`;
}

/** Bits per element of an ONNX data type code; undefined for codes this reader does not know. */
export function elementBits(code: number): number | undefined {
  return ELEMENT_BITS[code];
}

/** Bytes needed for `count` elements of `code` (sub-byte types are packed, the last byte rounded up). */
export function byteLengthOf(code: number, count: number): number {
  const bits = ELEMENT_BITS[code];
  if (bits === undefined) throw onnxError('ERR_INT8RT_DTYPE', `unknown ONNX element type ${code}`);
  return bits < 8 ? Math.ceil((count * bits) / 8) : count * (bits / 8);
}

/** Alignment that TensorDesc.data keeps: the element size, capped at 8 bytes. */
function alignmentOf(code: number): number {
  const bits = ELEMENT_BITS[code] ?? 8;
  return Math.min(8, Math.max(1, bits / 8));
}

export interface TensorReadOptions {
  /** Folder that external data locations are resolved against; external data is refused without it. */
  baseDir?: string;
  /** How the tensor is named in error messages, for example "initializer 'conv1.weight'". */
  what?: string;
}

/** A plain Uint8Array view of the same bytes (protobufjs may hand out Buffers). */
function plainView(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field);
}

/** Converts a decoded (or plain-object) TensorProto. Throws ERR_INT8RT_MODEL on any inconsistency. */
export function tensorFromProto(t: onnx.ITensorProto, opts: TensorReadOptions = {}): TensorDesc {
  const name = t.name ?? '';
  const what = opts.what ?? `tensor '${name}'`;
  const dtype = t.dataType ?? 0;
  if (dtype === DataType.UNDEFINED) throw modelError(`${what} has no data_type`);
  const bits = ELEMENT_BITS[dtype];
  if (bits === undefined) throw onnxError('ERR_INT8RT_DTYPE', `${what} has unknown element type ${dtype}`);
  if (t.segment) throw onnxError('ERR_INT8RT_UNSUPPORTED', `${what} is segmented; segmented tensors are not supported`);

  const dims = (t.dims ?? []).map((d, i) => int64ToIndex(d as Int64Like, `${what}: dims[${i}]`));
  let count = 1;
  for (const d of dims) count *= d;
  if (!Number.isSafeInteger(count)) throw modelError(`${what} has too many elements (dims [${dims.join(', ')}])`);

  if (dtype === DataType.STRING) {
    // String tensors cross to the runtime with their dims only; no kernel consumes their values.
    return { name, dtype, dims, data: new Uint8Array(0) };
  }
  const byteLength = byteLengthOf(dtype, count);
  const describe = () => `${what} (${dataTypeName(dtype)}, dims [${dims.join(', ')}])`;
  if (byteLength > MAX_TENSOR_BYTES) throw modelError(`${describe()} would take ${byteLength} bytes, more than int8rt accepts`);

  let data: Uint8Array;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    data = readExternalData(t, byteLength, opts.baseDir, describe());
  } else if (has(t, 'rawData') && t.rawData) {
    data = plainView(t.rawData);
    if (data.byteLength !== byteLength) {
      throw modelError(`${describe()} has ${data.byteLength} bytes of raw_data, expected ${byteLength}`);
    }
    if (data.byteOffset % alignmentOf(dtype) !== 0) data = new Uint8Array(data); // aligned copy
  } else {
    data = fromTypedFields(t, dtype, count, byteLength, describe);
  }
  return { name, dtype, dims, data };
}

/** Elements stored in the typed repeated fields, converted to little-endian bytes. */
function fromTypedFields(
  t: onnx.ITensorProto,
  dtype: number,
  count: number,
  byteLength: number,
  describe: () => string,
): Uint8Array {
  const out = new Uint8Array(byteLength);
  if (byteLength === 0) return out;
  const view = new DataView(out.buffer);
  const expect = (field: string, values: ArrayLike<unknown> | null | undefined, n: number): ArrayLike<unknown> => {
    const got = values?.length ?? 0;
    if (got === 0) throw modelError(`${describe()} has no data (no raw_data and no ${field})`);
    if (got !== n) throw modelError(`${describe()} has ${got} values in ${field}, expected ${n}`);
    return values as ArrayLike<unknown>;
  };

  switch (dtype) {
    case DataType.FLOAT:
    case DataType.COMPLEX64: {
      const n = dtype === DataType.FLOAT ? count : 2 * count;
      const v = expect('float_data', t.floatData, n) as ArrayLike<number>;
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, v[i], true);
      break;
    }
    case DataType.DOUBLE:
    case DataType.COMPLEX128: {
      const n = dtype === DataType.DOUBLE ? count : 2 * count;
      const v = expect('double_data', t.doubleData, n) as ArrayLike<number>;
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, v[i], true);
      break;
    }
    case DataType.INT32: {
      const v = expect('int32_data', t.int32Data, count) as ArrayLike<number>;
      for (let i = 0; i < count; i++) view.setInt32(4 * i, v[i], true);
      break;
    }
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      // 16-bit types travel in int32_data, one element per entry (float16/bfloat16 as their bit patterns).
      const v = expect('int32_data', t.int32Data, count) as ArrayLike<number>;
      for (let i = 0; i < count; i++) view.setUint16(2 * i, v[i] & 0xffff, true);
      break;
    }
    case DataType.BOOL: {
      const v = expect('int32_data', t.int32Data, count) as ArrayLike<number>;
      for (let i = 0; i < count; i++) out[i] = v[i] !== 0 ? 1 : 0;
      break;
    }
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0: {
      const v = expect('int32_data', t.int32Data, count) as ArrayLike<number>;
      for (let i = 0; i < count; i++) out[i] = v[i] & 0xff;
      break;
    }
    case DataType.INT4:
    case DataType.UINT4:
    case DataType.FLOAT4E2M1:
    case DataType.INT2:
    case DataType.UINT2: {
      // Packed, one byte of elements per int32_data entry (lowest bits first), as in raw_data.
      const v = expect('int32_data', t.int32Data, byteLength) as ArrayLike<number>;
      for (let i = 0; i < byteLength; i++) out[i] = v[i] & 0xff;
      break;
    }
    case DataType.INT64: {
      const v = expect('int64_data', t.int64Data, count) as ArrayLike<Int64Like>;
      for (let i = 0; i < count; i++) view.setBigInt64(8 * i, int64ToBigInt(v[i]), true);
      break;
    }
    case DataType.UINT32: {
      const v = expect('uint64_data', t.uint64Data, count) as ArrayLike<Int64Like>;
      for (let i = 0; i < count; i++) view.setUint32(4 * i, Number(BigInt.asUintN(32, int64ToBigInt(v[i], true))), true);
      break;
    }
    case DataType.UINT64: {
      const v = expect('uint64_data', t.uint64Data, count) as ArrayLike<Int64Like>;
      for (let i = 0; i < count; i++) view.setBigUint64(8 * i, int64ToBigInt(v[i], true), true);
      break;
    }
    default:
      throw onnxError('ERR_INT8RT_DTYPE', `${describe()}: element type ${dtype} cannot be read from typed fields`);
  }
  return out;
}

/**
 * Reads a tensor's external data: the file named by `location`, relative to `baseDir`, from `offset` for `length`
 * bytes (default: to the end of the file). The location must stay inside baseDir, symlinks resolved.
 */
function readExternalData(t: onnx.ITensorProto, byteLength: number, baseDir: string | undefined, what: string): Uint8Array {
  const entries = new Map<string, string>();
  for (const e of t.externalData ?? []) entries.set(e.key ?? '', e.value ?? '');
  const location = entries.get('location');
  if (!location) throw modelError(`${what} has external data without a location`);
  if (baseDir === undefined) {
    throw modelError(
      `${what} keeps its data in the external file '${location}', but the model was given as bytes: ` +
        'load it from its path, or pass baseDir',
    );
  }
  const parseOffset = (key: string): number | undefined => {
    const s = entries.get(key);
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw modelError(`${what}: external data ${key} '${s}' is not a valid number`);
    return Number(s);
  };
  const offset = parseOffset('offset') ?? 0;
  const length = parseOffset('length');

  if (location.includes('\0') || path.isAbsolute(location) || path.win32.isAbsolute(location)) {
    throw modelError(`${what}: external data location '${location}' must be a relative path inside the model's folder`);
  }
  let base: string;
  try {
    base = fs.realpathSync(baseDir);
  } catch (e) {
    throw modelError(`${what}: cannot open the model folder '${baseDir}' for external data`, e);
  }
  const inside = (p: string) => {
    const rel = path.relative(base, p);
    return rel !== '' && rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel);
  };
  const target = path.resolve(base, location);
  if (!inside(target)) throw modelError(`${what}: external data location '${location}' points outside the model's folder`);
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch (e) {
    throw modelError(`${what}: external data file '${location}' not found in '${baseDir}'`, e);
  }
  if (!inside(real)) throw modelError(`${what}: external data location '${location}' links outside the model's folder`);

  const fd = fs.openSync(real, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len = length ?? size - offset;
    if (offset > size || len < 0 || offset + len > size) {
      throw modelError(`${what}: external data [${offset}, ${offset + (length ?? 0)}) lies beyond the end of '${location}' (${size} bytes)`);
    }
    if (len !== byteLength) throw modelError(`${what} has ${len} bytes of external data in '${location}', expected ${byteLength}`);
    const out = new Uint8Array(byteLength);
    let done = 0;
    while (done < byteLength) {
      const n = fs.readSync(fd, out, done, byteLength - done, offset + done);
      if (n <= 0) throw modelError(`${what}: unexpected end of '${location}'`);
      done += n;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Decodes a serialized onnx.TensorProto (the input_N.pb / output_N.pb files of ONNX test data). */
export function decodeTensorProto(bytes: Uint8Array, opts: TensorReadOptions = {}): TensorDesc {
  let proto: onnx.TensorProto;
  try {
    proto = onnx.TensorProto.decode(plainView(bytes));
  } catch (e) {
    throw modelError(`not a valid ONNX TensorProto: ${(e as Error).message}`, e);
  }
  return tensorFromProto(proto, { what: opts.what ?? `tensor '${proto.name}'`, baseDir: opts.baseDir });
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

type TypedArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

/** ONNX data type code -> int8rt dtype name and the typed array that holds it. */
const TYPED: Readonly<Record<number, { dtype: string; ctor: TypedArrayCtor }>> = {
  [DataType.FLOAT]: { dtype: 'float32', ctor: Float32Array },
  [DataType.UINT8]: { dtype: 'uint8', ctor: Uint8Array },
  [DataType.INT8]: { dtype: 'int8', ctor: Int8Array },
  [DataType.UINT16]: { dtype: 'uint16', ctor: Uint16Array },
  [DataType.INT16]: { dtype: 'int16', ctor: Int16Array },
  [DataType.INT32]: { dtype: 'int32', ctor: Int32Array },
  [DataType.INT64]: { dtype: 'int64', ctor: BigInt64Array },
  [DataType.BOOL]: { dtype: 'bool', ctor: Uint8Array },
  [DataType.FLOAT16]: { dtype: 'float16', ctor: Uint16Array },
  [DataType.DOUBLE]: { dtype: 'float64', ctor: Float64Array },
  [DataType.UINT32]: { dtype: 'uint32', ctor: Uint32Array },
  [DataType.UINT64]: { dtype: 'uint64', ctor: BigUint64Array },
};

/** The int8rt dtype name of an ONNX data type code, or undefined when int8rt cannot hold it. */
export function int8rtDtypeName(code: number): string | undefined {
  return TYPED[code]?.dtype;
}

/**
 * The tensor as int8rt's (dtype name, typed array, dims). The array is a view of desc.data (always aligned, see
 * TensorDesc.data); bool is a Uint8Array of 0/1, float16 a Uint16Array of bit patterns. Element types int8rt cannot
 * hold (string, complex, bfloat16, float8, 4-bit) throw ERR_INT8RT_DTYPE.
 */
export function tensorDescToTyped(desc: TensorDesc): { dtype: string; data: TypedArray; dims: number[] } {
  const entry = TYPED[desc.dtype];
  if (!entry) {
    throw onnxError('ERR_INT8RT_DTYPE', `tensor '${desc.name}' has element type ${dataTypeName(desc.dtype)}, which int8rt cannot hold`);
  }
  const { ctor } = entry;
  const count = desc.data.byteLength / ctor.BYTES_PER_ELEMENT;
  const expected = desc.dims.reduce((a, b) => a * b, 1);
  if (count !== expected) {
    throw modelError(`tensor '${desc.name}' has ${desc.data.byteLength} bytes of data, expected ${expected * ctor.BYTES_PER_ELEMENT} for dims [${desc.dims.join(', ')}]`);
  }
  let src = desc.data;
  if (src.byteOffset % ctor.BYTES_PER_ELEMENT !== 0) src = new Uint8Array(src); // a hand-made desc: copy to align
  return { dtype: entry.dtype, data: new ctor(src.buffer, src.byteOffset, count), dims: desc.dims.slice() };
}
