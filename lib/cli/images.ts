// Images as model inputs for `int8rt calibrate --data`: decoded and resized with sharp, scaled to [0, 1], normalised
// per channel as (x - mean) / std, laid out NCHW or NHWC, RGB or BGR (one sample: batch 1).

import type { ValueInfo } from '../engine';
import { Tensor } from '../tensor';
import { CliError, UsageError } from './errors';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'];

export interface ImageSpec {
  width: number;
  height: number;
  channels: 1 | 3;
  layout: 'NCHW' | 'NHWC';
  bgr: boolean;
  /** Per channel, on the [0, 1] scale. */
  mean: number[];
  std: number[];
}

export interface ImageOptions {
  size?: string;
  mean?: string;
  std?: string;
  layout?: string;
  bgr?: boolean;
}

function numberList(text: string, what: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
    throw new UsageError(`${what}: '${text}' is not a number or a comma-separated list of numbers`);
  return values;
}

/** One value for every channel, or one per channel. */
function perChannel(values: number[], channels: number, what: string): number[] {
  if (values.length === 1) return new Array(channels).fill(values[0]);
  if (values.length !== channels)
    throw new UsageError(`${what}: the input has ${channels} channel(s), got ${values.length} values`);
  return values;
}

/**
 * How images become this model input. Width and height come from --size WIDTHxHEIGHT or from the input's fixed dims;
 * the layout from --layout or from where the input's 1 or 3 channel dim is. --mean and --std are on the [0, 1]
 * scale (0.5 for PaddleOCR, 0.485,0.456,0.406 for ImageNet); values above 1 are read on the 0..255 scale instead
 * (123.675,116.28,103.53).
 */
export function imageSpec(input: ValueInfo, options: ImageOptions): ImageSpec {
  const dims = input.dims ?? [];
  if (dims.length !== 4)
    throw new UsageError(`input '${input.name}' has rank ${dims.length}; images need a rank-4 input (NCHW or NHWC)`);
  let layout: 'NCHW' | 'NHWC';
  if (options.layout !== undefined) {
    const l = options.layout.toUpperCase();
    if (l !== 'NCHW' && l !== 'NHWC') throw new UsageError(`--layout must be NCHW or NHWC, got '${options.layout}'`);
    layout = l;
  } else layout = dims[3] === 3 || dims[3] === 1 ? (dims[1] === 3 || dims[1] === 1 ? 'NCHW' : 'NHWC') : 'NCHW';
  const [cDim, hDim, wDim] = layout === 'NCHW' ? [dims[1], dims[2], dims[3]] : [dims[3], dims[1], dims[2]];
  const channels = cDim === 1 ? 1 : 3;
  if (typeof cDim === 'number' && cDim !== 1 && cDim !== 3)
    throw new UsageError(`input '${input.name}' has ${cDim} channels (${layout}); images give 1 or 3`);
  let width: number;
  let height: number;
  if (options.size !== undefined) {
    const m = /^(\d+)[x,×](\d+)$/.exec(options.size.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
      throw new UsageError(`--size must be WIDTHxHEIGHT, e.g. 640x480, got '${options.size}'`);
    [width, height] = [Number(m[1]), Number(m[2])];
    if ((typeof wDim === 'number' && wDim !== width) || (typeof hDim === 'number' && hDim !== height))
      throw new UsageError(`--size ${options.size}: input '${input.name}' is fixed at ${wDim}x${hDim} (width x height)`);
  } else {
    if (typeof wDim !== 'number' || typeof hDim !== 'number')
      throw new UsageError(`input '${input.name}' has symbolic height or width: pass --size WIDTHxHEIGHT`);
    [width, height] = [wDim, hDim];
  }
  const scale = (v: number[]) => (v.some((x) => Math.abs(x) > 1) ? v.map((x) => x / 255) : v);
  const mean = scale(perChannel(numberList(options.mean ?? '0', '--mean'), channels, '--mean'));
  const std = scale(perChannel(numberList(options.std ?? '1', '--std'), channels, '--std'));
  if (std.some((s) => s === 0)) throw new UsageError('--std must not be 0');
  return { width, height, channels, layout, bgr: options.bgr === true, mean, std };
}

interface SharpImage {
  removeAlpha(): SharpImage;
  resize(width: number, height: number, options: { fit: 'fill' }): SharpImage;
  greyscale(): SharpImage;
  toColourspace(space: 'srgb'): SharpImage;
  raw(): SharpImage;
  toBuffer(): Promise<Buffer>;
}

/** Decodes, resizes (stretching to the size) and normalises one image into a [1, C, H, W] or [1, H, W, C] tensor. */
export async function loadImage(file: string, spec: ImageSpec): Promise<Tensor> {
  // Loaded on first use: only `calibrate` with images needs it. Typed by the few calls made here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as (file: string) => SharpImage;
  let raw: Buffer;
  try {
    let img = sharp(file).removeAlpha().resize(spec.width, spec.height, { fit: 'fill' });
    img = spec.channels === 1 ? img.greyscale() : img.toColourspace('srgb');
    raw = await img.raw().toBuffer();
  } catch (e) {
    throw new CliError(`cannot read image '${file}': ${(e as Error).message.split('\n')[0]}`, 'ERR_INT8RT_IMAGE');
  }
  const { width: w, height: h, channels: c } = spec;
  const plane = w * h;
  const out = new Float32Array(plane * c);
  for (let p = 0; p < plane; p++)
    for (let k = 0; k < c; k++) {
      const src = spec.bgr && c === 3 ? 2 - k : k;
      const v = (raw[p * c + src] / 255 - spec.mean[k]) / spec.std[k];
      out[spec.layout === 'NCHW' ? k * plane + p : p * c + k] = v;
    }
  return new Tensor('float32', out, spec.layout === 'NCHW' ? [1, c, h, w] : [1, h, w, c]);
}
