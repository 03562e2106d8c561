// The model description: the plain-object form of an ONNX model that lib/onnx produces and the native addon
// consumes. It crosses N-API once, so it holds only plain data: numbers, strings, bigints and typed arrays.
// Keep these shapes in sync with the addon's reader (native/addon); adding a field here means reading it there.

/** A decoded ONNX model, reduced to what the runtime needs. */
export interface ModelDescription {
  irVersion: number;
  /** producer_name, with producer_version appended after a space when present. */
  producer: string;
  /** opset_import; the default domain is spelled "" ("ai.onnx" is normalised to ""). */
  opsets: { domain: string; version: number }[];
  /** Graph inputs that are not initializers, in graph order. */
  inputs: ValueInfoDesc[];
  /** Graph outputs, in graph order (names are unique). */
  outputs: ValueInfoDesc[];
  /** Initializers, in graph order, sparse initializers densified after them. */
  initializers: TensorDesc[];
  /** Nodes in file order (ONNX requires topological order, the native side re-checks it). */
  nodes: NodeDesc[];
  /** Hex SHA-256 of the model bytes (not of external data files). */
  sha256: string;
}

export interface ValueInfoDesc {
  name: string;
  /** ONNX TensorProto.DataType code of the element type; 0 when unknown or when the value is not a tensor. */
  dtype: number;
  /** null = no shape information; number = fixed dim; string = dim_param ('' when the dim has no name). */
  dims: (number | string)[] | null;
  /** Set when the value is not a tensor: 'sequence', 'map', 'optional', 'sparseTensor' (int8rt refuses these). */
  kind?: string;
}

export interface TensorDesc {
  name: string;
  /** ONNX TensorProto.DataType code (see DataType). */
  dtype: number;
  dims: number[];
  /**
   * Little-endian bytes of all elements (row-major). Empty for string tensors (dtype 8), whose values are not kept.
   * Sub-byte types (int4, uint4, float4e2m1; int2, uint2) are packed, lowest bits first, the last byte padded.
   * May be a view into the model bytes (no copy); its byteOffset is always a multiple of the element size
   * (capped at 8), so a typed-array view of the natural element type is always possible.
   */
  data: Uint8Array;
}

export interface NodeDesc {
  name: string;
  opType: string;
  /** Operator domain; "" for the default ONNX domain ("ai.onnx" is normalised to ""). */
  domain: string;
  /** Input names; "" marks an omitted optional input. */
  inputs: string[];
  /** Output names; "" marks an omitted optional output. */
  outputs: string[];
  attributes: AttrDesc[];
}

/**
 * One attribute. `type` is the ONNX AttributeProto.AttributeType code (see AttributeType) and exactly the matching
 * value field is set. GRAPH, GRAPHS, SPARSE_TENSOR(S), TYPE_PROTO(S) and TENSORS attributes keep their type and carry
 * no value: the runtime has no operator that takes them yet and reports them as unsupported.
 */
export interface AttrDesc {
  name: string;
  type: number;
  f?: number;
  i?: bigint;
  s?: string;
  t?: TensorDesc;
  floats?: Float32Array;
  ints?: BigInt64Array;
  strings?: string[];
}

/** ONNX TensorProto.DataType codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

/** ONNX AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  TYPE_PROTO: 13,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
  TYPE_PROTOS: 14,
} as const;
