import { Int8rtError } from './errors';

/** Element types a Tensor can hold, with the TypedArray each one uses. */
export interface DataTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array; // raw IEEE binary16 bits
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array; // 0 or 1
}
export type DataType = keyof DataTypeMap;
export type TypedArray = DataTypeMap[DataType];

const ARRAY_TYPES: { [K in DataType]: new (n: number | ArrayLike<number> | ArrayLike<bigint>) => DataTypeMap[K] } = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as never;

export const DATA_TYPES = Object.keys(ARRAY_TYPES) as DataType[];

function inferType(data: unknown): DataType | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  return undefined;
}

/**
 * A dense, row-major tensor: an element type, a shape and a TypedArray. Arguments come in the order of
 * onnxruntime's Tensor (`new Tensor('float32', data, [1, 3, 224, 224])`), and `new Tensor(data, dims)` infers the
 * type from the TypedArray. The data crosses into native code without being copied.
 */
export class Tensor<T extends DataType = DataType> {
  readonly dtype: T;
  readonly data: DataTypeMap[T];
  readonly dims: readonly number[];

  constructor(dtype: T, data: DataTypeMap[T] | readonly number[] | readonly bigint[] | readonly boolean[], dims?: readonly number[]);
  constructor(data: DataTypeMap[T], dims?: readonly number[]);
  constructor(a: unknown, b?: unknown, c?: unknown) {
    let dtype: DataType;
    let data: unknown;
    let dims: unknown;
    if (typeof a === 'string') {
      if (!(a in ARRAY_TYPES))
        throw new Int8rtError('ERR_INT8RT_DTYPE', `unknown dtype '${a}'; use one of ${DATA_TYPES.join(', ')}`);
      dtype = a as DataType;
      data = b;
      dims = c;
    } else {
      const t = inferType(a);
      if (!t) throw new Int8rtError('ERR_INT8RT_DTYPE', 'cannot infer the tensor type: pass a dtype first');
      dtype = t;
      data = a;
      dims = b;
    }
    const Ctor = ARRAY_TYPES[dtype];
    if (Array.isArray(data)) {
      const wide = dtype === 'int64' || dtype === 'uint64';
      const ok = (v: unknown) =>
        typeof v === 'boolean' || (typeof v === 'bigint' && wide) || (typeof v === 'number' && (!wide || Number.isInteger(v)));
      const bad = data.findIndex((v) => !ok(v));
      if (bad >= 0)
        throw new Int8rtError('ERR_INT8RT_DTYPE', `element ${bad} (${String(data[bad])}) cannot be stored in a ${dtype} tensor`);
      data = new Ctor(data.map((v) => (wide ? BigInt(v) : typeof v === 'boolean' ? Number(v) : v)));
    }
    if (!(data instanceof Ctor))
      throw new Int8rtError(
        'ERR_INT8RT_DTYPE',
        `a ${dtype} tensor needs a ${Ctor.name}, got ${data === null ? 'null' : (data as object)?.constructor?.name ?? typeof data}`,
      );
    const length = (data as TypedArray).length;
    const shape = dims === undefined ? [length] : dims;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Int8rtError('ERR_INT8RT_SHAPE', `dims must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    const size = shape.reduce((p: number, d: number) => p * d, 1);
    if (size !== length)
      throw new Int8rtError(
        'ERR_INT8RT_SHAPE',
        `dims [${shape.join(',')}] hold ${size} elements but the data has ${length}`,
      );
    this.dtype = dtype as T;
    this.data = data as DataTypeMap[T];
    this.dims = Object.freeze([...shape]);
  }

  /** A tensor of zeros. */
  static zeros<T extends DataType>(dtype: T, dims: readonly number[]): Tensor<T> {
    const Ctor = ARRAY_TYPES[dtype] as unknown as new (n: number) => DataTypeMap[T];
    if (!Ctor) throw new Int8rtError('ERR_INT8RT_DTYPE', `unknown dtype '${String(dtype)}'`);
    return new Tensor(dtype, new Ctor(dims.reduce((p, d) => p * d, 1)), dims);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }
}
