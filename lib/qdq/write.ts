// The QDQ writer: a float ONNX model, its calibration and the precision report of int8rt's int8 engine for it ->
// an ONNX model in QDQ form (QuantizeLinear -> DequantizeLinear pairs on activations, int8 weight initializers with
// DequantizeLinear, int32 biases) that computes what int8rt's int8 plan computes. onnxruntime fuses it into its int8
// kernels, TensorRT builds an explicit-quantization engine from it, and int8rt's QDQ import runs it again on its own
// int8 kernels.
//
// Mirroring the plan. The report of the int8 engine says which nodes run in int8, what was fused into what, and the
// scale of every int8 tensor (ReportRow.int8Scales: the planner's own, e.g. amax / 127 from the calibration, the input's
// scale after a Reshape or MaxPool, the narrower range of a lookup table). Each such tensor gets one Q -> DQ pair with
// that scale and zero point 0 (int8) or 128 (uint8, option activationType). Nodes int8rt runs in float stay as they
// are, reading the dequantized values. Weights are quantized as int8rt's kernels quantize them, in the same float32
// arithmetic:
//   Conv:   what int8rt folded into the Conv (BatchNormalization, constant Add/Sub/Mul/Div) is folded here too, then
//           per output channel (axis 0) s_w = amax / 127, q = rne(w / s_w) in [-127, 127]; the bias becomes int32
//           rne(b / (s_x * s_w)) with a DequantizeLinear of scale s_x * s_w;
//   Gemm:   alpha folded into B, beta into C, per output column (axis 0 with transB, else 1);
//   MatMul: per output column (axis 1);
//   Add, Mul, Concat: a constant operand per tensor at the scale the engine gave it, a division by a constant as a
//           multiplication by its reciprocal, as the int8 planner rewrites it.
// A chain of elementwise nodes int8rt runs as one lookup table is written as the float chain between the Q/DQ of its
// input and output (which computes the table's values exactly).
// A Relu/Clip after a Conv gets a Q/DQ before it too, at the output's scale, which is exact (clamping commutes with
// quantization on the same grid) and lets onnxruntime fuse the Conv.
// A Conv fused with its residual Add (and Relu/Clip) keeps the fused group unquantized inside: int8rt requantizes
// once, at the group's output, as TensorRT fuses the same group. onnxruntime has no kernel for that group: it computes
// the Conv in float, whose rounding differs from int8rt's exact integer sums, so the two land one step apart on rare
// ties (and a network like PP-OCR cls carries such a step on into its output). Option layout 'exact' writes those
// groups as int8rt's arithmetic in standard operators instead (writeExactResidualConv: the Conv on the integers, the
// epilogue in float64 rounded to float32 where int8rt rounds), which onnxruntime computes to the bit; TensorRT does
// not fuse that form. Option layout 'onnxruntime' quantizes the Conv's output before the Add instead (with its own
// calibrated range), so that onnxruntime runs QLinearConv + QLinearAdd there: one more rounding than int8rt.
//
// Opset: per-axis Q/DQ need opset 13; older models are lifted to 13 (lib/qdq/opset.ts).

import { Int8rtError } from '../errors';
import { native } from '../native';
import type { ReportRow } from '../engine';
import { encodeModel } from '../onnx/write';
import {
  AttributeType,
  DataType,
  type AttrDesc,
  type ModelDescription,
  type NodeDesc,
  type TensorDesc,
  type ValueInfoDesc,
} from '../onnx/types';
import { liftNode, QDQ_MIN_OPSET } from './opset';

export interface ExportQDQOptions {
  /** Element type of quantized activations: 'int8' (default, zero point 0: TensorRT's requirement) or 'uint8'
   * (zero point 128: the same values, for onnxruntime on x86 CPUs without VNNI). Weights are always int8. */
  activationType?: 'int8' | 'uint8';
  /** 'int8rt' (default): int8rt's int8 plan in QDQ form: Q/DQ exactly where int8rt quantizes; a Conv with a fused
   * residual Add stays unquantized between its DequantizeLinear inputs and the Q after the Add (what TensorRT fuses
   * into one int8 kernel; onnxruntime computes such a Conv in float, which can round one step apart from int8rt's
   * integer sums on rare ties).
   * 'exact': the same plan, with those Conv + residual Add groups written as int8rt's own arithmetic in standard
   * operators (a float Conv on the integer values, a float64 epilogue cast to float32 where int8rt rounds), so that
   * onnxruntime computes what int8rt computes to the bit; for checking a runtime against int8rt, not for TensorRT.
   * 'onnxruntime': also quantize Conv outputs ahead of a fused residual Add, so that onnxruntime's QDQ fusions apply
   * there too (one more rounding than int8rt); it needs the ranges of those tensors: calibrate with
   * { tensors: 'all' }. */
  layout?: 'int8rt' | 'exact' | 'onnxruntime';
}

const f32 = Math.fround;

/** Round half to even (nearbyint in the default rounding mode). */
function rne(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

function exportError(message: string): Int8rtError {
  return new Int8rtError('ERR_INT8RT_UNSUPPORTED', `exportQDQ: ${message}`);
}

function floatsOf(t: TensorDesc, what: string): Float32Array {
  if (t.dtype !== DataType.FLOAT) throw exportError(`${what} is not float32`);
  return new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
}

function tensor(name: string, dtype: number, dims: number[], data: ArrayBufferView): TensorDesc {
  return { name, dtype, dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() };
}

/**
 * Per output channel: C rows of `per` weights -> int8 in [-127, 127] and scale amax / 127, by the engine's own code
 * (quant/qnode.h), so that the export holds the very integers the int8 kernels use.
 */
function quantizePerChannel(w: Float32Array, C: number, per: number): { q: Int8Array; scale: Float32Array } {
  if (C === 0 || per === 0) return { q: new Int8Array(C * per), scale: new Float32Array(C).fill(1) };
  const { q, scales } = native().quantizeWeights(w.length === C * per ? w : w.subarray(0, C * per), C);
  return { q, scale: scales };
}

/** int32 bias of one channel, by the engine's own code (ops/int8_common.h quantize_bias). */
function quantizeBias(b: number, sx: number, sw: number, depth: number): number {
  return native().quantizeBias(Float32Array.of(b), sx, Float32Array.of(sw), depth)[0];
}

/**
 * The constants int8rt computes at build (outputs of nodes the report shows as folded) that int8 nodes read, as a
 * model with no inputs whose outputs they are, for the engine to evaluate: writeQDQ needs their values to quantize
 * them (MNIST-8's MatMul weights, for example, are a Reshape of an initializer). Undefined when there are none.
 */
export function foldedConstantsModel(desc: ModelDescription, report: readonly ReportRow[]): Uint8Array | undefined {
  const nodes = desc.nodes.map((n, i) => ({ ...n, name: n.name || `${n.opType}_${i}` }));
  const rowOf = new Map(report.map((r) => [r.node, r]));
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const isFolded = (i: number) => {
    const r = rowOf.get(nodes[i].name);
    return r !== undefined && !r.fusedInto && !r.kernel && nodes[i].opType !== 'Constant';
  };
  const wanted: string[] = [];
  for (const n of nodes) {
    if (rowOf.get(n.name)?.precision !== 'int8') continue;
    for (const v of n.inputs) {
      const p = producer.get(v);
      if (v && p !== undefined && isFolded(p) && !wanted.includes(v)) wanted.push(v);
    }
  }
  if (wanted.length === 0) return undefined;
  const keep = new Set<number>();
  const inits = new Map(desc.initializers.map((t) => [t.name, t]));
  const usedInits = new Set<string>();
  const visit = (v: string) => {
    const p = producer.get(v);
    if (p === undefined) {
      if (inits.has(v)) usedInits.add(v);
      return;
    }
    if (keep.has(p)) return;
    keep.add(p);
    for (const x of nodes[p].inputs) if (x) visit(x);
  };
  wanted.forEach(visit);
  return encodeModel({
    irVersion: desc.irVersion,
    producer: 'int8rt exportQDQ constants',
    opsets: desc.opsets,
    inputs: [],
    outputs: wanted.map((name) => ({ name, dtype: DataType.UNDEFINED, dims: null })),
    initializers: desc.initializers.filter((t) => usedInits.has(t.name)),
    nodes: nodes.filter((_, i) => keep.has(i)),
  });
}

const DTYPE_CODES: Readonly<Record<string, number>> = {
  float32: DataType.FLOAT, uint8: DataType.UINT8, int8: DataType.INT8, uint16: DataType.UINT16, int16: DataType.INT16,
  int32: DataType.INT32, int64: DataType.INT64, bool: DataType.BOOL, float16: DataType.FLOAT16,
  float64: DataType.DOUBLE, uint32: DataType.UINT32, uint64: DataType.UINT64,
};

/** An engine output ({ dtype name, dims, typed array }) as a TensorDesc named `name`. */
export function tensorDescOf(name: string, t: { dtype: string; dims: readonly number[]; data: ArrayBufferView }): TensorDesc {
  const dtype = DTYPE_CODES[t.dtype];
  if (dtype === undefined) throw exportError(`constant '${name}' has the element type ${t.dtype}`);
  return tensor(name, dtype, [...t.dims], t.data);
}

interface Group {
  host: number;      // node index of the executed node
  members: number[]; // node indices, model order (host included)
  int8: boolean;
}

/**
 * Writes the QDQ model. `report` is the precision report of an int8 engine built from `desc` with `ranges`; the nodes
 * it shows as int8 are the ones quantized.
 */
export function writeQDQ(
  desc: ModelDescription,
  ranges: ReadonlyMap<string, number>,
  report: readonly ReportRow[],
  options: ExportQDQOptions = {},
  foldedValues: ReadonlyMap<string, TensorDesc> = new Map(),
): Uint8Array {
  const actType = options.activationType ?? 'int8';
  if (actType !== 'int8' && actType !== 'uint8')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `activationType must be 'int8' or 'uint8', got '${String(actType)}'`);
  const layout = options.layout ?? 'int8rt';
  if (layout !== 'int8rt' && layout !== 'onnxruntime' && layout !== 'exact')
    throw new Int8rtError(
      'ERR_INT8RT_INVALID_ARGUMENT',
      `layout must be 'int8rt', 'onnxruntime' or 'exact', got '${String(layout)}'`,
    );
  const fromOpset = desc.opsets.find((o) => o.domain === '')?.version ?? QDQ_MIN_OPSET;
  const nodes = desc.nodes.map((n, i) => ({ ...n, name: n.name || `${n.opType}_${i}` }));
  for (const n of nodes)
    if (n.domain === '' && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'))
      throw exportError(`the model is already quantized (${n.opType} '${n.name}')`);

  // ---- names, producers, readers, constants
  const used = new Set<string>();
  for (const v of [...desc.inputs, ...desc.outputs]) used.add(v.name);
  for (const t of desc.initializers) used.add(t.name);
  for (const n of nodes) {
    used.add(n.name);
    for (const v of [...n.inputs, ...n.outputs]) if (v) used.add(v);
  }
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
  const producer = new Map<string, number>();
  const readers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o) producer.set(o, i);
    for (const v of n.inputs) if (v) (readers.get(v) ?? readers.set(v, []).get(v)!).push(i);
  });
  const graphOutputs = new Set(desc.outputs.map((o) => o.name));
  const initializers = new Map(desc.initializers.map((t) => [t.name, t]));
  const constValue = (v: string): TensorDesc | undefined => {
    const t = initializers.get(v) ?? foldedValues.get(v);
    if (t) return t;
    const p = producer.get(v);
    if (p === undefined || nodes[p].opType !== 'Constant') return undefined;
    return nodes[p].attributes.find((a) => a.name === 'value')?.t;
  };

  // ---- the plan, from the report
  const rowOf = new Map(report.map((r) => [r.node, r]));
  const indexOf = new Map(nodes.map((n, i) => [n.name, i]));
  const folded = new Set<number>(); // nodes int8rt computed at build (their outputs are constants)
  const groupOf = new Map<number, Group>();
  const groups: Group[] = [];
  nodes.forEach((n, i) => {
    const r = rowOf.get(n.name);
    if (!r) throw exportError(`the report has no row for node '${n.name}'; is it the report of this model?`);
    if (!r.fusedInto && !r.kernel) {
      folded.add(i);
      return;
    }
    const hostName = r.fusedInto || n.name;
    const host = indexOf.get(hostName);
    if (host === undefined) throw exportError(`node '${n.name}' is fused into '${hostName}', which the model does not have`);
    let g = groupOf.get(host);
    if (!g) {
      const hr = rowOf.get(hostName)!;
      g = { host, members: [], int8: hr.precision === 'int8' };
      groupOf.set(host, g);
      groups.push(g);
    }
    g.members.push(i);
    groupOf.set(i, g);
  });
  const isConst = (v: string): boolean => {
    if (initializers.has(v)) return true;
    const p = producer.get(v);
    return p !== undefined && (folded.has(p) || nodes[p].opType === 'Constant');
  };

  // ---- int8 tensors and their scales: what the engine's int8 nodes read and write (ReportRow.int8Scales). Constants
  // among them are the operands int8rt quantized itself (Add, Mul, Concat).
  const scaleOf = new Map<string, number>();
  const constScale = new Map<string, number>();
  const rangeScale = (v: string, why: string): number => {
    const a = ranges.get(v);
    if (a === undefined || !(a > 0) || !Number.isFinite(a))
      throw exportError(
        `tensor '${v}' (${why}) has no usable calibration range: layout 'onnxruntime' quantizes tensors int8rt's ` +
          "plan keeps inside fused groups, so it needs a calibration of every tensor (calibrate(..., { tensors: 'all' }))",
      );
    return f32(f32(a) / 127);
  };
  const last = (g: Group) => g.members[g.members.length - 1];
  const groupOutputs = new Map<Group, string[]>();
  for (const g of groups) {
    if (!g.int8) continue;
    const host = nodes[g.host];
    const scales = rowOf.get(host.name)!.int8Scales;
    if (!scales)
      throw exportError(`int8 node '${host.name}' reports no int8 scales; the engine and this exporter do not match`);
    for (const [t, sc] of Object.entries(scales)) {
      // Constants: the model's, or ones the planner made ('<node>::reciprocal' for a divisor).
      const into = isConst(t) || !used.has(t) ? constScale : scaleOf;
      const prev = into.get(t);
      if (prev !== undefined && prev !== sc)
        throw exportError(`tensor '${t}' has two int8 scales (${prev}, ${sc}) in the engine's plan`);
      into.set(t, sc);
    }
    groupOutputs.set(
      g,
      g.members
        .flatMap((m) => nodes[m].outputs)
        .filter((o) => o && scaleOf.has(o) && (graphOutputs.has(o) || (readers.get(o) ?? []).some((r) => groupOf.get(r) !== g))),
    );
  }

  // ---- writing
  const outNodes: NodeDesc[] = [];
  const outInits: TensorDesc[] = [];
  const lift = { fresh, addInitializer: (t: TensorDesc) => outInits.push(t) };
  const emit = (n: NodeDesc) => {
    for (const m of liftNode(n, fromOpset, lift)) outNodes.push(m);
  };
  const zpName = fresh(actType === 'int8' ? 'qdq_zero_point_int8' : 'qdq_zero_point_uint8');
  outInits.push(
    actType === 'int8'
      ? tensor(zpName, DataType.INT8, [], new Int8Array(1))
      : tensor(zpName, DataType.UINT8, [], new Uint8Array([128])),
  );
  const qType = actType === 'int8' ? DataType.INT8 : DataType.UINT8;
  const scaleConst = (base: string, s: number): string => {
    const name = fresh(`${base}_scale`);
    outInits.push(tensor(name, DataType.FLOAT, [], new Float32Array([s])));
    return name;
  };
  const qdqNode = (op: 'QuantizeLinear' | 'DequantizeLinear', x: string, s: string, z: string, y: string, axis?: number): NodeDesc => ({
    name: fresh(`${y}_${op}`),
    opType: op,
    domain: '',
    inputs: [x, s, z],
    outputs: [y],
    attributes: axis === undefined ? [] : [{ name: 'axis', type: AttributeType.INT, i: BigInt(axis) }],
  });
  // What readers of an int8 tensor read: its dequantized value. Graph outputs keep their names: the producer writes
  // `<name>_float` and the DequantizeLinear writes the output.
  const readName = new Map<string, string>();
  const writeName = new Map<string, string>();
  for (const v of scaleOf.keys()) {
    if (graphOutputs.has(v)) {
      writeName.set(v, fresh(`${v}_float`));
      readName.set(v, v);
    } else {
      readName.set(v, fresh(`${v}_dequantized`));
    }
  }
  const rd = (v: string) => (v ? readName.get(v) ?? v : v);
  const wr = (v: string) => (v ? writeName.get(v) ?? v : v);
  /** Q -> DQ of float value `src` (written under `src`), dequantized value `dst`, at scale s. */
  const pair = (src: string, dst: string, s: number, base: string): string => {
    const sName = scaleConst(base, s);
    const q = fresh(`${base}_quantized`);
    outNodes.push(qdqNode('QuantizeLinear', src, sName, zpName, q));
    outNodes.push(qdqNode('DequantizeLinear', q, sName, zpName, dst));
    return q;
  };
  // The quantized (int8/uint8) tensor of every int8 value written so far, for layout 'exact', which reads the
  // integers themselves; and the values a group quantized itself (their Q/DQ pair is written already).
  const quantOf = new Map<string, string>();
  const preQuantized = new Set<string>();
  const quantizeValue = (v: string) => {
    if (!preQuantized.has(v)) quantOf.set(v, pair(wr(v), rd(v), scaleOf.get(v)!, v));
  };
  /** A constant quantized per channel (axis) or per tensor, behind a DequantizeLinear; returns the DQ's output. */
  const constDQ = (base: string, dtype: number, dims: number[], data: ArrayBufferView, scale: Float32Array, axis?: number) => {
    const qName = fresh(`${base}_quantized`);
    const sName = fresh(`${base}_scale`);
    const zName = fresh(`${base}_zero_point`);
    const out = fresh(`${base}_dequantized`);
    outInits.push(tensor(qName, dtype, dims, data));
    const perAxis = axis !== undefined;
    outInits.push(tensor(sName, DataType.FLOAT, perAxis ? [scale.length] : [], scale));
    const zeros =
      dtype === DataType.INT32 ? new Int32Array(scale.length) : dtype === DataType.UINT8 ? new Uint8Array(scale.length).fill(128) : new Int8Array(scale.length);
    outInits.push(tensor(zName, dtype, perAxis ? [scale.length] : [], zeros));
    outNodes.push(qdqNode('DequantizeLinear', qName, sName, zName, out, axis));
    return out;
  };
  /** A float constant operand of an int8 Add/Mul/Concat at the scale int8rt gave it (per tensor), in the activation
   * type: q = rne(x / s) saturated, as the planner quantizes it. */
  const constOperand = (v: string, values: Float32Array, dims: number[], s: number) => {
    const q = values.map((x) => rne(Math.min(Math.max(f32(x / s), -128), 127)));
    const data = actType === 'int8' ? Int8Array.from(q) : Uint8Array.from(q, (x) => x + 128);
    return constDQ(v, qType, dims, data, new Float32Array([s]));
  };
  const valueOf = (v: string, what: string): TensorDesc => {
    const t = constValue(v);
    if (!t)
      throw exportError(`${what} '${v}' is a constant int8rt computes at build; exporting such constants is not supported`);
    return t;
  };

  // Graph inputs int8rt quantizes.
  for (const inp of desc.inputs) if (scaleOf.has(inp.name)) quantizeValue(inp.name);
  const emitted = new Set<number>();
  for (let i = 0; i < nodes.length; i++) {
    if (emitted.has(i)) continue;
    const g = groupOf.get(i);
    if (!g || !g.int8) {
      const n = nodes[i];
      emit({ ...n, inputs: n.inputs.map(rd), outputs: n.outputs.map(wr) });
      emitted.add(i);
      for (const o of n.outputs) if (o && scaleOf.has(o)) quantizeValue(o);
      continue;
    }
    // An int8 group is written where its last member is (all its inputs are ready there).
    if (i !== last(g)) continue;
    writeInt8Group(g);
    for (const m of g.members) emitted.add(m);
    for (const o of groupOutputs.get(g)!) quantizeValue(o);
  }

  function writeInt8Group(g: Group): void {
    const host = nodes[g.host];
    if (host.opType === 'Conv') return writeConvGroup(g);
    if (g.members.length === 1 && (host.opType === 'Gemm' || host.opType === 'MatMul')) return writeLinear(host);
    if (g.members.length === 1 && ['Add', 'Mul', 'Div', 'Concat'].includes(host.opType)) {
      const inputs = host.inputs.map((v, k) => {
        if (!v || !isConst(v)) return rd(v);
        const t = valueOf(v, `operand of ${host.opType} '${host.name}'`);
        let values = floatsOf(t, `operand '${v}'`);
        if (host.opType === 'Div' && k === 1) values = values.map((x) => f32(1 / x));
        // The planner names the reciprocal of a divisor '<node>::reciprocal'.
        const s = constScale.get(v) ?? constScale.get(`${host.name}::reciprocal`);
        if (s === undefined) throw exportError(`the engine reports no scale for the constant '${v}' of '${host.name}'`);
        return constOperand(v, values, t.dims, s);
      });
      emit({ ...host, opType: host.opType === 'Div' ? 'Mul' : host.opType, inputs, outputs: host.outputs.map(wr) });
      return;
    }
    for (const m of g.members) {
      const n = nodes[m];
      emit({ ...n, inputs: n.inputs.map((v) => (g.members.includes(producer.get(v) ?? -1) ? v : rd(v))), outputs: n.outputs.map(wr) });
    }
  }

  function writeConvGroup(g: Group): void {
    const conv = nodes[g.host];
    const memberSet = new Set(g.members);
    const x = conv.inputs[0];
    const Wt = valueOf(conv.inputs[1], `weights of Conv '${conv.name}'`);
    const M = Wt.dims[0];
    const per = M > 0 ? Wt.dims.reduce((a, b) => a * b, 1) / M : 0;
    let W = floatsOf(Wt, `weights of Conv '${conv.name}'`).slice();
    let B: Float32Array | undefined;
    if (conv.inputs[2]) B = floatsOf(valueOf(conv.inputs[2], `bias of Conv '${conv.name}'`), 'the Conv bias').slice();
    // Walk the chain after the Conv: what int8rt folded (BatchNormalization, a constant Add), then what it fused.
    let cur = conv.outputs[0];
    const next = (): number | undefined => {
      const rs = readers.get(cur) ?? [];
      return rs.length === 1 && memberSet.has(rs[0]) ? rs[0] : undefined;
    };
    // Members int8rt folded into the weights and bias come first (their report notes say "folded into the Conv's"):
    // BatchNormalization (core/passes.cc fold_batchnorm), a constant Add (fold_conv_bias_add), a constant Mul, Div,
    // Add or Sub (quant/quantize_pass.cc fold_conv_affine); the same float32 arithmetic here.
    let m = next();
    while (m !== undefined && /folded into the Conv/.test(rowOf.get(nodes[m].name)?.note ?? '')) {
      const n = nodes[m];
      if (n.opType === 'BatchNormalization') {
        const [scale, beta, mean, vr] = n.inputs.slice(1, 5).map((v) => floatsOf(valueOf(v, 'BatchNormalization parameter'), v));
        const eps = f32(n.attributes.find((a) => a.name === 'epsilon')?.f ?? 1e-5);
        const W2 = new Float32Array(W.length);
        const B2 = new Float32Array(M);
        for (let c = 0; c < M; c++) {
          const k = f32(scale[c] / f32(Math.sqrt(f32(vr[c] + eps))));
          for (let j = 0; j < per; j++) W2[c * per + j] = f32(W[c * per + j] * k);
          const b0 = B ? B[c] : 0;
          B2[c] = f32(f32(f32(b0 - mean[c]) * k) + beta[c]);
        }
        W = W2;
        B = B2;
      } else if (['Add', 'Sub', 'Mul', 'Div'].includes(n.opType)) {
        const other = n.inputs[0] === cur ? n.inputs[1] : n.inputs[0];
        const c = floatsOf(valueOf(other, `${n.opType} '${n.name}'`), other);
        const cv = (k: number) => c[c.length === 1 ? 0 : k];
        if (n.opType === 'Mul' || n.opType === 'Div') {
          const W2 = new Float32Array(W.length);
          for (let k = 0; k < M; k++) {
            const mul = n.opType === 'Mul' ? cv(k) : f32(1 / cv(k));
            for (let j = 0; j < per; j++) W2[k * per + j] = f32(W[k * per + j] * mul);
            if (B) B[k] = f32(B[k] * mul);
          }
          W = W2;
        } else {
          const B2 = new Float32Array(M);
          for (let k = 0; k < M; k++) B2[k] = f32((B ? B[k] : 0) + (n.opType === 'Add' ? cv(k) : -cv(k)));
          B = B2;
        }
      } else {
        throw exportError(`${n.opType} '${n.name}' is folded into Conv '${conv.name}' in a way the exporter does not know`);
      }
      cur = n.outputs[0];
      m = next();
    }
    // The quantized Conv.
    const s_x = scaleOf.get(x)!;
    const { q, scale } = quantizePerChannel(W, M, per);
    const wq = constDQ(conv.inputs[1], DataType.INT8, Wt.dims, q, scale, 0);
    const inputs = [rd(x), wq];
    if (B) {
      const bq = new Int32Array(M);
      const bs = new Float32Array(M);
      for (let c = 0; c < M; c++) {
        bq[c] = quantizeBias(B[c], s_x, scale[c], per);
        bs[c] = f32(s_x * scale[c]);
      }
      inputs.push(constDQ(conv.inputs[2] || `${conv.name}_bias`, DataType.INT32, [M], bq, bs, 0));
    }
    const outScale = scaleOf.get(groupOutputs.get(g)![0])!;
    // The rest of the chain, the residual Add and Relu/Clip, as float nodes. The Conv writes the ONNX tensor the
    // folded chain ends in (`cur`); the value entering a Relu/Clip is quantized at the group's output scale first
    // (exact: the clamp commutes with rounding on that grid).
    const pre = cur;
    const rest: NodeDesc[] = [];
    for (; m !== undefined; m = next()) {
      rest.push(nodes[m]);
      cur = nodes[m].outputs[0];
    }
    const single = groupOutputs.get(g)!;
    if (
      layout === 'exact' &&
      rest[0]?.opType === 'Add' &&
      single.length === 1 &&
      single[0] === cur &&
      writeExactResidualConv(conv, q, scale, B, per, rest, pre, outScale)
    )
      return;
    let value = rest.length ? pre : wr(pre);
    emit({ ...conv, inputs, outputs: [value] });
    let onnxValue = pre;
    rest.forEach((n, k) => {
      const out = k === rest.length - 1 ? wr(n.outputs[0]) : n.outputs[0];
      if (n.opType === 'Add') {
        const residual = n.inputs[0] === onnxValue ? n.inputs[1] : n.inputs[0];
        if (layout === 'onnxruntime' && k === 0) {
          const dq = fresh(`${pre}_dequantized`);
          pair(value, dq, rangeScale(pre, `output of Conv '${conv.name}'`), pre);
          value = dq;
        }
        emit({ ...n, inputs: n.inputs[0] === onnxValue ? [value, rd(residual)] : [rd(residual), value], outputs: [out] });
      } else {
        const dq = fresh(`${onnxValue}_dequantized`);
        pair(value, dq, outScale, onnxValue);
        emit({ ...n, inputs: [dq, ...n.inputs.slice(1).map(rd)], outputs: [out] });
      }
      value = out;
      onnxValue = n.outputs[0];
    });
  }

  /**
   * Layout 'exact': a Conv whose residual Add int8rt fuses into its epilogue, written as the arithmetic int8rt does
   * (ops/int8_common.h requantize_acc with a residual), rounding only where it rounds:
   *   acc = Conv(x_q, w_q) + b_q               a float Conv on the integers themselves (DequantizeLinear with
   *                                            scale 1), exact while every partial sum stays below 2^24;
   *   v   = float(acc * m[c])                  m = s_x * s_w[c] / s_y; the product is exact in float64 (24 x 24
   *                                            bits), its Cast to float32 rounds once, as float32 multiplication does;
   *   y   = rne(float(v + r_q * m_r))          m_r = s_r / s_y; r_q * m_r and the sum are exact (or within half a
   *                                            float64 ulp) in float64, the Cast rounds once, as int8rt's fma does;
   *                                            QuantizeLinear with scale 1 rounds half to even and saturates.
   * A fused Relu/Clip after the Add reads the Add's output dequantized, as in the QDQ form (exact on that grid).
   * Returns false (and writes nothing) where that exactness does not hold: the operands are not quantized tensors of
   * the export, an accumulator could pass 2^24, or something other than Relu/Clip follows the Add.
   */
  function writeExactResidualConv(
    conv: NodeDesc,
    q: Int8Array,
    scale: Float32Array,
    B: Float32Array | undefined,
    per: number,
    rest: NodeDesc[],
    pre: string,
    s_y: number,
  ): boolean {
    const add = rest[0];
    const x = conv.inputs[0];
    const residual = add.inputs[0] === pre ? add.inputs[1] : add.inputs[0];
    const qx = quantOf.get(x);
    const qr = quantOf.get(residual);
    const s_x = scaleOf.get(x);
    const s_r = scaleOf.get(residual);
    if (!qx || !qr || s_x === undefined || s_r === undefined) return false;
    if (!rest.slice(1).every((n) => n.opType === 'Relu' || n.opType === 'Clip')) return false;
    const M = scale.length;
    const bq = new Int32Array(M);
    let bmax = 0;
    for (let c = 0; c < M; c++) {
      bq[c] = B ? quantizeBias(B[c], s_x, scale[c], per) : 0;
      bmax = Math.max(bmax, Math.abs(bq[c]));
    }
    if (bmax + per * 128 * 127 > 2 ** 24) return false;
    const Wt = valueOf(conv.inputs[1], `weights of Conv '${conv.name}'`);
    const one = new Float32Array([1]);
    const oneName = scaleConst(`${conv.name}_integers`, 1);
    const node = (opType: string, inputs: string[], base: string, attributes: AttrDesc[] = []): string => {
      const out = fresh(base);
      outNodes.push({ name: fresh(`${base}_${opType}`), opType, domain: '', inputs, outputs: [out], attributes });
      return out;
    };
    const cast = (v: string, to: number, base: string) =>
      node('Cast', [v], base, [{ name: 'to', type: AttributeType.INT, i: BigInt(to) }]);
    const doubles = (base: string, dims: number[], values: ArrayLike<number>) => {
      const name = fresh(base);
      outInits.push(tensor(name, DataType.DOUBLE, dims, Float64Array.from(values)));
      return name;
    };
    // The Conv on the integers: x_q - zero point, w_q, b_q as float values.
    const xi = node('DequantizeLinear', [qx, oneName, zpName], `${x}_integers`);
    const wi = constDQ(conv.inputs[1], DataType.INT8, Wt.dims, q, one);
    const bi = constDQ(conv.inputs[2] || `${conv.name}_bias`, DataType.INT32, [M], bq, one);
    const acc = fresh(`${conv.name}_accumulator`);
    emit({ ...conv, inputs: [xi, wi, bi], outputs: [acc] });
    // v = float(acc * m), m per output channel, broadcast over the spatial axes.
    const mul = Float64Array.from(scale, (sw) => f32(f32(s_x * sw) / s_y));
    const mName = doubles(`${conv.name}_multiplier`, [M, ...Wt.dims.slice(2).map(() => 1)], mul);
    const accScaled = node('Mul', [cast(acc, DataType.DOUBLE, `${acc}_f64`), mName], `${acc}_scaled_f64`);
    const v = cast(accScaled, DataType.FLOAT, `${acc}_scaled`);
    // y = rne(float(v + r_q * m_r)).
    const ri = node('DequantizeLinear', [qr, oneName, zpName], `${residual}_integers`);
    const rmName = doubles(`${add.name}_residual_multiplier`, [], [f32(s_r / s_y)]);
    const rScaled = node('Mul', [cast(ri, DataType.DOUBLE, `${residual}_integers_f64`), rmName], `${residual}_scaled_f64`);
    const sum = node('Add', [cast(v, DataType.DOUBLE, `${v}_f64`), rScaled], `${add.outputs[0]}_f64`);
    const yq = fresh(`${add.outputs[0]}_quantized`);
    outNodes.push(qdqNode('QuantizeLinear', cast(sum, DataType.FLOAT, `${add.outputs[0]}_unrounded`), oneName, zpName, yq));
    // The Add's output on its int8 grid; what follows (Relu/Clip) reads it as the fused group does.
    const addOut = add.outputs[0];
    const sName = scaleConst(addOut, s_y);
    if (rest.length === 1 && scaleOf.has(addOut)) {
      // A graph output keeps its name (rd(addOut) is addOut then), as quantizeValue would write it.
      outNodes.push(qdqNode('DequantizeLinear', yq, sName, zpName, rd(addOut)));
      quantOf.set(addOut, yq);
      preQuantized.add(addOut);
      return true;
    }
    let value = fresh(`${addOut}_dequantized`);
    outNodes.push(qdqNode('DequantizeLinear', yq, sName, zpName, value));
    rest.slice(1).forEach((n, k) => {
      const out = k === rest.length - 2 ? wr(n.outputs[0]) : n.outputs[0];
      emit({ ...n, inputs: [value, ...n.inputs.slice(1).map(rd)], outputs: [out] });
      value = out;
    });
    return true;
  }

  function writeLinear(n: NodeDesc): void {
    const s_x = scaleOf.get(n.inputs[0])!;
    const Bt = valueOf(n.inputs[1], `B of ${n.opType} '${n.name}'`);
    const b = floatsOf(Bt, `B of ${n.opType} '${n.name}'`);
    const attr = (name: string, dflt: number) => {
      const a = n.attributes.find((x) => x.name === name);
      return a?.type === AttributeType.FLOAT ? a.f ?? dflt : a?.type === AttributeType.INT ? Number(a.i ?? dflt) : dflt;
    };
    const transB = n.opType === 'Gemm' && attr('transB', 0) !== 0;
    const alpha = n.opType === 'Gemm' ? f32(attr('alpha', 1)) : 1;
    const beta = n.opType === 'Gemm' ? f32(attr('beta', 1)) : 1;
    const vector = Bt.dims.length === 1;
    const K = transB ? Bt.dims[1] : Bt.dims[0];
    const N = vector ? 1 : transB ? Bt.dims[0] : Bt.dims[1];
    // wt[n, k] = alpha * op(B)[k, n]: one row per output column.
    const wt = new Float32Array(N * K);
    for (let c = 0; c < N; c++)
      for (let k = 0; k < K; k++) wt[c * K + k] = f32(alpha * (transB ? b[c * K + k] : b[k * N + c]));
    const { q, scale } = quantizePerChannel(wt, N, K);
    // Back to B's own layout.
    const qb = new Int8Array(N * K);
    for (let c = 0; c < N; c++) for (let k = 0; k < K; k++) qb[transB ? c * K + k : k * N + c] = q[c * K + k];
    const bq = vector
      ? constDQ(n.inputs[1], DataType.INT8, Bt.dims, qb, scale)
      : constDQ(n.inputs[1], DataType.INT8, Bt.dims, qb, scale, transB ? 0 : 1);
    const inputs = [rd(n.inputs[0]), bq];
    let attributes: AttrDesc[] = n.attributes;
    if (n.opType === 'Gemm') {
      attributes = n.attributes.filter((a) => a.name !== 'alpha' && a.name !== 'beta');
      if (n.inputs[2]) {
        const C = floatsOf(valueOf(n.inputs[2], `C of Gemm '${n.name}'`), `C of Gemm '${n.name}'`);
        const cq = new Int32Array(N);
        const cs = new Float32Array(N);
        for (let c = 0; c < N; c++) {
          cq[c] = quantizeBias(f32(beta * C[C.length === 1 ? 0 : c]), s_x, scale[c], K);
          cs[c] = f32(s_x * scale[c]);
        }
        inputs.push(constDQ(n.inputs[2], DataType.INT32, [N], cq, cs, 0));
      }
    }
    emit({ ...n, inputs, outputs: n.outputs.map(wr), attributes });
  }

  // ---- the model: nodes whose outputs nobody reads go (the float weights the quantized ones replaced, held in
  // Constant nodes or computed from initializers), then the initializers nothing reads; opset >= 13
  let live = outNodes;
  let read = new Set<string>();
  for (;;) {
    read = new Set<string>(desc.outputs.map((o) => o.name));
    for (const n of live) for (const v of n.inputs) if (v) read.add(v);
    const kept = live.filter((n) => n.outputs.some((o) => o && read.has(o)));
    if (kept.length === live.length) break;
    live = kept;
  }
  const inits = [...desc.initializers.filter((t) => read.has(t.name)), ...outInits.filter((t) => read.has(t.name))];
  const opsets = desc.opsets.map((o) => (o.domain === '' ? { domain: '', version: Math.max(o.version, QDQ_MIN_OPSET) } : o));
  if (!opsets.some((o) => o.domain === '')) opsets.push({ domain: '', version: QDQ_MIN_OPSET });
  const outputs: ValueInfoDesc[] = desc.outputs;
  return encodeModel({
    irVersion: Math.max(desc.irVersion, 7),
    producer: 'int8rt exportQDQ',
    opsets,
    inputs: desc.inputs,
    outputs,
    initializers: inits,
    nodes: live,
  });
}
