// A deterministic ResNet-50 v1 (torchvision layout) with synthetic weights, written as ONNX opset 13.
//
// The architecture is the real one (conv1 7x7/2 + BN + Relu, MaxPool 3x3/2, bottleneck stages [3, 4, 6, 3] with the
// stride on the 3x3 conv, a 1x1 conv + BN downsample on the first block of each stage, GlobalAveragePool, Flatten,
// Gemm 2048 -> 1000), named like torchvision's state dict, so it exercises the same kernels, shapes and fusions as
// an exported model without shipping 100 MB of weights. The weights come from a seeded PRNG:
// - convolutions: He-normal, std sqrt(2 / fan_in), no bias (BatchNormalization follows each one);
// - BatchNormalization: running statistics that roughly match what the layer will see (an estimate of the
//   activations' second moment, tracked through the network, times a random factor in [0.8, 1.25]), gamma in
//   [0.6, 1.2] (in [0.2, 0.5] for the last BN of each residual branch, so the residual stream grows slowly) and
//   small random beta;
// - fc: uniform in +-1/sqrt(2048), as torchvision initialises nn.Linear.
// Activations stay O(1) through all 50 layers, so float32 results are well conditioned and comparable across runtimes,
// and the same seed always gives the same bytes.

import { GraphBuilder, attr } from '../../lib/onnx/write';

export interface ResNet50Options {
  seed: number;
  /** Batch dim of input and output: a number, or a symbolic name (default 'N'). */
  batch?: number | string;
  /**
   * Also output each stage's activations ('stem' after the max pool, 'layer1' .. 'layer4'), to locate where two
   * runtimes diverge.
   */
  stageOutputs?: boolean;
}

/** sfc32 seeded through splitmix32: small, fast and statistically sound for weight generation. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  private spare: number | null = null;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.next(); // (0, 1]
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}

/** Stage layout of ResNet-50: [blocks, bottleneck width, stride of the first block]. */
const STAGES: readonly [number, number, number][] = [
  [3, 64, 1],
  [4, 128, 2],
  [6, 256, 2],
  [3, 512, 2],
];
const EXPANSION = 4;
const NUM_CLASSES = 1000;

export function makeResNet50(opts: ResNet50Options): Uint8Array {
  const rng = new Rng(opts.seed);
  const batch = opts.batch ?? 'N';
  const g = new GraphBuilder('resnet50');
  g.addInput('input', 'float32', [batch, 3, 224, 224]);

  // Estimated mean square of the current activation tensor; the BN statistics are built from it.
  let meanSquare = 1; // a normalised image

  const conv = (x: string, prefix: string, cin: number, cout: number, k: number, stride: number): string => {
    const fanIn = cin * k * k;
    const std = Math.sqrt(2 / fanIn);
    const w = new Float32Array(cout * fanIn);
    for (let i = 0; i < w.length; i++) w[i] = std * rng.normal();
    g.addInitializer(`${prefix}.weight`, w, [cout, cin, k, k]);
    const pad = (k - 1) >> 1;
    const y = `${prefix}_out`;
    g.addNode('Conv', [x, `${prefix}.weight`], [y], {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
      dilations: [1, 1],
      group: 1,
    }, prefix);
    meanSquare *= 2; // He init doubles the mean square of a Relu'd input
    return y;
  };

  const bn = (x: string, prefix: string, c: number, gammaRange: [number, number]): string => {
    const gamma = new Float32Array(c);
    const beta = new Float32Array(c);
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    const sd = Math.sqrt(meanSquare);
    for (let i = 0; i < c; i++) {
      gamma[i] = rng.uniform(gammaRange[0], gammaRange[1]);
      beta[i] = 0.1 * rng.normal();
      mean[i] = 0.1 * sd * rng.normal();
      variance[i] = meanSquare * Math.exp(rng.uniform(Math.log(0.8), Math.log(1.25)));
    }
    for (const [name, v] of [['weight', gamma], ['bias', beta], ['running_mean', mean], ['running_var', variance]] as const) {
      g.addInitializer(`${prefix}.${name}`, v, [c]);
    }
    const y = `${prefix}_out`;
    g.addNode(
      'BatchNormalization',
      [x, `${prefix}.weight`, `${prefix}.bias`, `${prefix}.running_mean`, `${prefix}.running_var`],
      [y],
      { epsilon: attr.float(1e-5), momentum: attr.float(0.9) },
      prefix,
    );
    const g2 = (gammaRange[0] ** 2 + gammaRange[0] * gammaRange[1] + gammaRange[1] ** 2) / 3; // E[gamma^2]
    meanSquare = g2 + 0.01;
    return y;
  };

  const relu = (x: string, name: string): string => {
    g.addNode('Relu', [x], [name], {}, name);
    meanSquare /= 2;
    return name;
  };

  const BN_GAMMA: [number, number] = [0.6, 1.2];
  const BN_GAMMA_LAST: [number, number] = [0.2, 0.5];

  // Stem.
  let x = conv('input', 'conv1', 3, 64, 7, 2);
  x = bn(x, 'bn1', 64, BN_GAMMA);
  x = relu(x, 'relu');
  g.addNode('MaxPool', [x], ['maxpool_out'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'maxpool');
  x = 'maxpool_out';
  meanSquare *= 1.5; // the max of 9 values is larger than a typical one
  const stageOutputs: [string, number, number][] = [['maxpool_out', 64, 56]];

  let cin = 64;
  let spatial = 56;
  STAGES.forEach(([blocks, width, firstStride], s) => {
    for (let b = 0; b < blocks; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 ? firstStride : 1;
      const cout = width * EXPANSION;
      const residualSquare = meanSquare;

      let y = conv(x, `${p}.conv1`, cin, width, 1, 1);
      y = relu(bn(y, `${p}.bn1`, width, BN_GAMMA), `${p}.relu1`);
      y = conv(y, `${p}.conv2`, width, width, 3, stride);
      y = relu(bn(y, `${p}.bn2`, width, BN_GAMMA), `${p}.relu2`);
      y = conv(y, `${p}.conv3`, width, cout, 1, 1);
      y = bn(y, `${p}.bn3`, cout, BN_GAMMA_LAST);
      const branchSquare = meanSquare;

      let identity = x;
      let identitySquare = residualSquare;
      if (b === 0) {
        meanSquare = residualSquare;
        identity = conv(x, `${p}.downsample.0`, cin, cout, 1, stride);
        identity = bn(identity, `${p}.downsample.1`, cout, BN_GAMMA);
        identitySquare = meanSquare;
      }
      g.addNode('Add', [y, identity], [`${p}.add_out`], {}, `${p}.add`);
      meanSquare = branchSquare + identitySquare;
      x = relu(`${p}.add_out`, `${p}.relu`);
      // The identity path is mostly positive, so the Relu after the Add keeps more than half of it.
      meanSquare = Math.max(meanSquare, 0.75 * (branchSquare + identitySquare));
      cin = cout;
    }
    spatial /= firstStride;
    stageOutputs.push([x, cin, spatial]);
  });

  g.addNode('GlobalAveragePool', [x], ['avgpool_out'], {}, 'avgpool');
  g.addNode('Flatten', ['avgpool_out'], ['flatten_out'], { axis: 1 }, 'flatten');
  const bound = 1 / Math.sqrt(cin);
  const fcW = new Float32Array(NUM_CLASSES * cin);
  for (let i = 0; i < fcW.length; i++) fcW[i] = rng.uniform(-bound, bound);
  const fcB = new Float32Array(NUM_CLASSES);
  for (let i = 0; i < fcB.length; i++) fcB[i] = rng.uniform(-bound, bound);
  g.addInitializer('fc.weight', fcW, [NUM_CLASSES, cin]);
  g.addInitializer('fc.bias', fcB, [NUM_CLASSES]);
  g.addNode('Gemm', ['flatten_out', 'fc.weight', 'fc.bias'], ['logits'], { alpha: attr.float(1), beta: attr.float(1), transB: 1 }, 'fc');
  g.addOutput('logits', 'float32', [batch, NUM_CLASSES]);

  if (opts.stageOutputs) {
    const names = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'];
    stageOutputs.forEach(([value, c, hw], i) => {
      g.addNode('Identity', [value], [names[i]], {}, `${names[i]}_output`);
      g.addOutput(names[i], 'float32', [batch, c, hw, hw]);
    });
  }
  return g.toBytes({ opset: 13, irVersion: 7, producer: 'int8rt-test resnet50' });
}
