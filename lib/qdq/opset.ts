// Default-domain nodes rewritten for a newer opset, for the QDQ export: per-axis QuantizeLinear/DequantizeLinear need
// opset 13, so a model made for opset 7-12 is lifted to 13 first. Operators whose definition did not change in a way
// that matters between the model's opset and 13 are kept as they are; the ones that did are rewritten to the same
// computation at opset 13; anything else is refused (ERR_INT8RT_UNSUPPORTED) rather than guessed at.

import { Int8rtError } from '../errors';
import { AttributeType, DataType, type AttrDesc, type NodeDesc, type TensorDesc } from '../onnx/types';

/** The opset the export writes when the model's is older: per-axis Q/DQ and Squeeze/Unsqueeze/Split axes inputs. */
export const QDQ_MIN_OPSET = 13;

/** Operators that mean the same at every opset from 7 to 13 for the attributes and inputs models use. */
const UNCHANGED = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool',
  'BatchNormalization', 'Cast', 'Ceil', 'Concat', 'Constant', 'ConstantOfShape', 'Conv', 'ConvTranspose', 'Cos',
  'Cosh', 'DepthToSpace', 'Div', 'Elu', 'Equal', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'Gather', 'Gemm',
  'GlobalAveragePool', 'GlobalMaxPool', 'Greater', 'HardSigmoid', 'Identity', 'InstanceNormalization', 'LeakyRelu',
  'Less', 'Log', 'LRN', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mul', 'Neg', 'Not', 'Or', 'PRelu', 'Pow',
  'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin',
  'ReduceProd', 'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'Selu', 'Shape', 'Sigmoid', 'Sign', 'Sin', 'Sinh',
  'Size', 'Softplus', 'Softsign', 'SpaceToDepth', 'Sqrt', 'Sub', 'Sum', 'Tan', 'Tanh', 'Tile', 'Transpose', 'Where',
  'Xor', 'Range', 'Round', 'Einsum', 'GatherElements', 'GatherND', 'ScatterND', 'HardSwish', 'Celu', 'Mod',
  'OneHot', 'NonZero', 'Trilu', 'Clip', 'Slice', 'Squeeze', 'Unsqueeze', 'Split', 'ReduceSum', 'Pad', 'Dropout',
  'Softmax', 'LogSoftmax', 'Hardmax',
]);

export interface LiftContext {
  /** A new unique value name built from `base`. */
  fresh(base: string): string;
  /** Adds a constant initializer. */
  addInitializer(t: TensorDesc): void;
}

function int64Tensor(name: string, values: readonly (number | bigint)[], dims: number[]): TensorDesc {
  const data = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dtype: DataType.INT64, dims, data: new Uint8Array(data.buffer) };
}
function floatScalar(name: string, v: number): TensorDesc {
  return { name, dtype: DataType.FLOAT, dims: [], data: new Uint8Array(new Float32Array([v]).buffer) };
}
function attrOf(n: NodeDesc, name: string): AttrDesc | undefined {
  return n.attributes.find((a) => a.name === name);
}
function without(n: NodeDesc, names: string[]): AttrDesc[] {
  return n.attributes.filter((a) => !names.includes(a.name));
}
function unsupported(n: NodeDesc, from: number, why: string): Int8rtError {
  return new Int8rtError(
    'ERR_INT8RT_UNSUPPORTED',
    `exportQDQ: ${n.opType} '${n.name}' cannot be lifted from opset ${from} to ${QDQ_MIN_OPSET}: ${why}`,
  );
}

/**
 * The nodes that compute what `n` computes at opset `from`, written for opset 13 (`n` itself when nothing changed).
 * New constants go through ctx.addInitializer.
 */
export function liftNode(n: NodeDesc, from: number, ctx: LiftContext): NodeDesc[] {
  if (from >= QDQ_MIN_OPSET || n.domain !== '') return [n];
  if (!UNCHANGED.has(n.opType))
    throw unsupported(n, from, 'the exporter does not know how its definition changed');
  const ints = (name: string) => Array.from(attrOf(n, name)?.ints ?? []);
  switch (n.opType) {
    case 'Clip': {
      if (from >= 11) return [n];
      const lo = attrOf(n, 'min')?.f ?? -3.4028234663852886e38;
      const hi = attrOf(n, 'max')?.f ?? 3.4028234663852886e38;
      const loName = ctx.fresh(`${n.name}_min`);
      const hiName = ctx.fresh(`${n.name}_max`);
      ctx.addInitializer(floatScalar(loName, lo));
      ctx.addInitializer(floatScalar(hiName, hi));
      return [{ ...n, inputs: [n.inputs[0], loName, hiName], attributes: without(n, ['min', 'max']) }];
    }
    case 'Slice': {
      if (from >= 10) return [n];
      const starts = ints('starts');
      const ends = ints('ends');
      const axes = attrOf(n, 'axes') ? ints('axes') : starts.map((_, i) => BigInt(i));
      const names = ['starts', 'ends', 'axes'].map((k) => ctx.fresh(`${n.name}_${k}`));
      ctx.addInitializer(int64Tensor(names[0], starts, [starts.length]));
      ctx.addInitializer(int64Tensor(names[1], ends, [ends.length]));
      ctx.addInitializer(int64Tensor(names[2], axes, [axes.length]));
      return [{ ...n, inputs: [n.inputs[0], ...names], attributes: without(n, ['starts', 'ends', 'axes']) }];
    }
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum': {
      const a = attrOf(n, 'axes');
      if (!a) return [n];
      const name = ctx.fresh(`${n.name}_axes`);
      const axes = ints('axes');
      ctx.addInitializer(int64Tensor(name, axes, [axes.length]));
      return [{ ...n, inputs: [n.inputs[0], name], attributes: without(n, ['axes']) }];
    }
    case 'Split': {
      const a = attrOf(n, 'split');
      if (!a) return [n];
      const name = ctx.fresh(`${n.name}_split`);
      const split = ints('split');
      ctx.addInitializer(int64Tensor(name, split, [split.length]));
      return [{ ...n, inputs: [n.inputs[0], name], attributes: without(n, ['split']) }];
    }
    case 'Pad': {
      if (from >= 11) return [n];
      const pads = ints('pads');
      const padsName = ctx.fresh(`${n.name}_pads`);
      const valueName = ctx.fresh(`${n.name}_value`);
      ctx.addInitializer(int64Tensor(padsName, pads, [pads.length]));
      ctx.addInitializer(floatScalar(valueName, attrOf(n, 'value')?.f ?? 0));
      return [{ ...n, inputs: [n.inputs[0], padsName, valueName], attributes: without(n, ['pads', 'value']) }];
    }
    case 'Dropout': {
      // Inference: the identity on the first output; the mask output has no opset-13 equivalent without training.
      if (n.outputs.length > 1 && n.outputs[1]) throw unsupported(n, from, 'its mask output is used');
      return [{ ...n, opType: 'Identity', inputs: [n.inputs[0]], outputs: [n.outputs[0]], attributes: [] }];
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      // Before 13 the input is coerced to 2-D at `axis` (default 1) and normalised over everything after it; from 13
      // on, along that one axis. Flatten at axis, normalise the last axis, reshape back: the old computation exactly.
      const axisAttr = attrOf(n, 'axis');
      const axis = axisAttr?.i ?? 1n;
      const flat = ctx.fresh(`${n.name}_flat`);
      const norm = ctx.fresh(`${n.name}_2d`);
      const shape = ctx.fresh(`${n.name}_shape`);
      return [
        {
          name: ctx.fresh(`${n.name}_flatten`),
          opType: 'Flatten',
          domain: '',
          inputs: [n.inputs[0]],
          outputs: [flat],
          attributes: [{ name: 'axis', type: AttributeType.INT, i: axis }],
        },
        { ...n, inputs: [flat], outputs: [norm], attributes: [{ name: 'axis', type: AttributeType.INT, i: -1n }] },
        { name: ctx.fresh(`${n.name}_shape_of`), opType: 'Shape', domain: '', inputs: [n.inputs[0]], outputs: [shape], attributes: [] },
        { name: ctx.fresh(`${n.name}_reshape`), opType: 'Reshape', domain: '', inputs: [norm, shape], outputs: n.outputs, attributes: [] },
      ];
    }
    case 'Resize':
      if (from === 10) {
        // Resize-10: (X, scales), asymmetric coordinates; 11+: (X, roi, scales, sizes).
        const roi = ctx.fresh(`${n.name}_roi`);
        ctx.addInitializer({ name: roi, dtype: DataType.FLOAT, dims: [0], data: new Uint8Array(0) });
        const attrs = without(n, ['coordinate_transformation_mode']);
        attrs.push({ name: 'coordinate_transformation_mode', type: AttributeType.STRING, s: 'asymmetric' });
        const mode = attrOf(n, 'mode')?.s ?? 'nearest';
        if (mode === 'nearest') attrs.push({ name: 'nearest_mode', type: AttributeType.STRING, s: 'floor' });
        return [{ ...n, inputs: [n.inputs[0], roi, n.inputs[1]], attributes: attrs }];
      }
      return [n];
    case 'BatchNormalization': {
      // Opsets 7-8 had `spatial` (1 = per channel, what 9+ always does).
      const spatial = attrOf(n, 'spatial');
      if (spatial && spatial.i !== 1n) throw unsupported(n, from, 'spatial = 0 has no opset-13 equivalent');
      return [{ ...n, attributes: without(n, ['spatial']) }];
    }
    default:
      return [n];
  }
}
