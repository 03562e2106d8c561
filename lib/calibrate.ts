import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { asInt8rtError, Int8rtError } from './errors';
import { native, type NativeTensor } from './native';
import { loadModel } from './onnx/load';
import type { ModelDescription } from './onnx/types';
import { Tensor } from './tensor';

/**
 * How a tensor's range (amax: the |x| at which int8 saturates, scale = amax / 127) is derived from the values seen
 * during calibration. See native/quant/calibrator.h for the exact definitions.
 * - 'entropy' (default): TensorRT-style KL divergence between the float and the int8 histograms.
 * - 'percentile': the |x| below which `percentile` % of the values lie (default 99.99).
 * - 'minmax': max |x|.
 * - 'mse': the range that minimises the expected squared quantization error.
 */
export type CalibrationMethod = 'entropy' | 'percentile' | 'minmax' | 'mse';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['entropy', 'percentile', 'minmax', 'mse'];

/** One calibration sample: a value for each graph input, as `Engine.run` takes them. */
export type Feeds = Record<string, Tensor>;

export interface CalibrateOptions {
  /** Default 'entropy'. */
  method?: CalibrationMethod;
  /** For method 'percentile': in (0, 100]; default 99.99. */
  percentile?: number;
  /** Called after each sample has been observed, with the number done and, for arrays, the total. */
  onProgress?: (done: number, total?: number) => void;
  /** Threads one run uses inside an operator. Default: one per hardware thread. */
  intraOpThreads?: number;
  /**
   * Which tensors get a range.
   * - 'int8' (default): those an int8 engine of this model reads, as `Engine.create(model, { precision: 'int8' })`
   *   plans it (with `nodePrecision` below, if given): the inputs and outputs of the nodes that can run in int8.
   *   Tensors inside a fused group (a Conv's output before its Relu, the steps of an elementwise chain the engine
   *   runs as one int8 table) are not materialised by such an engine and are left out; observing fewer tensors is
   *   what keeps calibration close to the cost of plain float runs.
   * - 'all': every float tensor the model computes (Conv epilogues unfused), as TensorRT's calibrator lists them.
   *   Use it for a cache meant for TensorRT, or to calibrate once for any `nodePrecision` you may try later.
   */
  tensors?: 'int8' | 'all';
  /** With tensors 'int8': the per-node overrides the int8 engine will be created with (see EngineOptions). */
  nodePrecision?: Record<string, 'fp32' | 'int8'>;
}

/** The plain-object form of a Calibration (`toJSON()` / `Calibration.fromJSON()`). */
export interface CalibrationJSON {
  format: 'int8rt-calibration';
  version: 1;
  method: CalibrationMethod;
  percentile?: number;
  modelSha256: string;
  /** amax per tensor name. */
  ranges: Record<string, number>;
}

// The addon's calibration surface (native/addon/calibrate.h).
interface NativeRangeRow {
  name: string;
  amax: number;
  min: number;
  max: number;
  count: number;
  nonfinite: number;
}
interface CalibratorHandle {
  observe(names: string[], tensors: NativeTensor[]): Promise<void>;
  finish(method: string, percentile: number): Promise<NativeRangeRow[]>;
  tensorCount(): number;
  release(): void;
}
interface CalibrationAddon {
  createCalibrator(
    desc: ModelDescription,
    options: {
      intraOpThreads?: number;
      histograms?: boolean;
      tensors?: 'int8' | 'all';
      nodePrecision?: Record<string, 'fp32' | 'int8'>;
    },
  ): Promise<CalibratorHandle>;
}

/**
 * Samples run this many at a time: one sample's statistics are folded in while the next one computes, and the next
 * sample is ready when a run ends. The native side numbers samples in the order they are passed and makes the
 * statistics those of that order, so the result does not depend on how the runs interleave.
 */
const IN_FLIGHT = 2;

const DEFAULT_PERCENTILE = 99.99;

function calibrationError(message: string): Int8rtError {
  return new Int8rtError('ERR_INT8RT_CALIBRATION', message);
}

function argumentError(message: string): Int8rtError {
  return new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', message);
}

function checkMethod(method: unknown): CalibrationMethod {
  if (!CALIBRATION_METHODS.includes(method as CalibrationMethod))
    throw argumentError(
      `method must be one of ${CALIBRATION_METHODS.map((m) => `'${m}'`).join(', ')}, got '${String(method)}'`,
    );
  return method as CalibrationMethod;
}

function checkPercentile(p: unknown): number {
  if (typeof p !== 'number' || !(p > 0 && p <= 100))
    throw argumentError(`percentile must be a number in (0, 100], got ${String(p)}`);
  return p;
}

function checkOptions(options: CalibrateOptions): Required<Pick<CalibrateOptions, 'method' | 'percentile'>> {
  if (options === null || typeof options !== 'object') throw argumentError('options must be an object');
  const method = checkMethod(options.method ?? 'entropy');
  const percentile = checkPercentile(options.percentile ?? DEFAULT_PERCENTILE);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw argumentError('onProgress must be a function');
  const t = options.intraOpThreads;
  if (t !== undefined && (!Number.isInteger(t) || t < 0 || t > 1024))
    throw argumentError(`intraOpThreads must be an integer from 0 to 1024, got ${t}`);
  if (options.tensors !== undefined && options.tensors !== 'int8' && options.tensors !== 'all')
    throw argumentError(`tensors must be 'int8' or 'all', got '${String(options.tensors)}'`);
  const np = options.nodePrecision;
  if (np !== undefined) {
    if (np === null || typeof np !== 'object') throw argumentError('nodePrecision must be an object');
    for (const [node, p] of Object.entries(np))
      if (p !== 'fp32' && p !== 'int8')
        throw argumentError(`nodePrecision['${node}'] must be 'fp32' or 'int8', got '${String(p)}'`);
  }
  return { method, percentile };
}

function isIterable(x: unknown): x is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    x !== null &&
    (typeof x === 'object' || typeof x === 'function') &&
    (typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

function sampleFeeds(feeds: unknown, index: number): { names: string[]; tensors: NativeTensor[] } {
  if (feeds === null || typeof feeds !== 'object')
    throw argumentError(`calibration sample ${index} must be an object that maps input names to Tensors`);
  const names = Object.keys(feeds);
  const tensors = names.map((name) => {
    const t = (feeds as Record<string, unknown>)[name];
    if (!(t instanceof Tensor))
      throw argumentError(`calibration sample ${index}: input '${name}' must be an int8rt Tensor`);
    return t as unknown as NativeTensor;
  });
  return { names, tensors };
}

/** Names a failure with the sample it happened on, keeping its code. */
function sampleError(e: unknown, index: number): unknown {
  const err = asInt8rtError(e);
  if (err instanceof Int8rtError) return new Int8rtError(err.code, `calibration sample ${index}: ${err.message}`);
  return err;
}

async function modelBytesSha256(model: string | Uint8Array): Promise<string> {
  if (typeof model === 'string') {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(model);
    } catch (e) {
      throw new Int8rtError('ERR_INT8RT_MODEL', `cannot read model file '${model}': ${(e as Error).message}`);
    }
    return createHash('sha256').update(bytes).digest('hex');
  }
  if (model instanceof Uint8Array) return createHash('sha256').update(model).digest('hex');
  throw argumentError('model must be a file path or the bytes of an ONNX model');
}

/** Every tensor name of the model: graph inputs, initializers and node outputs. */
function tensorNames(desc: ModelDescription): Set<string> {
  const names = new Set<string>();
  for (const v of desc.inputs) names.add(v.name);
  for (const t of desc.initializers) names.add(t.name);
  for (const n of desc.nodes) for (const o of n.outputs) if (o) names.add(o);
  return names;
}

/** Tensors TensorRT makes for its own layers have no ONNX counterpart; its caches list them beside ONNX names. */
const TRT_INTERNAL_NAME = /^\(Unnamed Layer\* \d+\)/;

const TRT_ALGORITHMS: Record<CalibrationMethod, string> = {
  entropy: 'EntropyCalibration2',
  minmax: 'MinMaxCalibration',
  percentile: 'LegacyCalibration',
  mse: 'LegacyCalibration',
};

function methodOfTrtAlgorithm(algo: string): CalibrationMethod {
  if (algo.startsWith('MinMax')) return 'minmax';
  if (algo.startsWith('Legacy')) return 'percentile';
  return 'entropy';
}

/**
 * Calibrated ranges of a model's float tensors: amax per tensor name (symmetric int8, scale = amax / 127). Pass it
 * to `Engine.create(model, { precision: 'int8', calibration })`. Tensors whose values were all zero have amax 0.
 */
export class Calibration {
  readonly method: CalibrationMethod;
  /** amax per tensor name, in graph order. */
  readonly ranges: Map<string, number>;
  /** SHA-256 (hex) of the model bytes the ranges were made for. */
  readonly modelSha256: string;
  /** The percentile used, for method 'percentile'. */
  readonly percentile?: number;
  /** The observed signed range per tensor, when the ranges come from `calibrate()` (not from a cache). */
  readonly observed?: ReadonlyMap<string, { readonly min: number; readonly max: number }>;
  // The algorithm named by a TensorRT cache this was read from, written back unchanged by toTensorRTCache().
  #trtAlgorithm?: string;

  constructor(
    method: CalibrationMethod,
    ranges: Map<string, number>,
    modelSha256: string,
    extra: { percentile?: number; observed?: ReadonlyMap<string, { min: number; max: number }> } = {},
  ) {
    this.method = checkMethod(method);
    if (!(ranges instanceof Map)) throw argumentError('ranges must be a Map of tensor name to amax');
    for (const [name, amax] of ranges)
      if (typeof amax !== 'number' || !(amax >= 0) || !Number.isFinite(amax))
        throw calibrationError(`tensor '${name}' has an invalid range ${String(amax)}: amax must be finite and >= 0`);
    if (typeof modelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(modelSha256))
      throw argumentError('modelSha256 must be a lowercase hex SHA-256');
    this.ranges = ranges;
    this.modelSha256 = modelSha256;
    if (method === 'percentile') this.percentile = extra.percentile ?? DEFAULT_PERCENTILE;
    if (extra.observed) this.observed = extra.observed;
  }

  /**
   * TensorRT's calibration cache text: a `TRT-<version>-<algorithm>` line, then `<tensor>: <scale>` lines where
   * scale = amax / 127 is written as the big-endian hex of its float32 bits. The algorithm is EntropyCalibration2
   * for 'entropy', MinMaxCalibration for 'minmax' and LegacyCalibration for 'percentile' and 'mse' (TensorRT has
   * no calibrator of its own for those); a cache read from TensorRT keeps its algorithm. TensorRT recalibrates when
   * the version or algorithm does not match its own, so pass the version of the TensorRT that will read it
   * (major*1000 + minor*100 + patch up to TensorRT 9, e.g. 8601; major*10000 + minor*100 + patch from 10 on).
   */
  toTensorRTCache(version = 8601): string {
    if (!Number.isInteger(version) || version <= 0)
      throw argumentError(`version must be a positive integer such as 8601, got ${String(version)}`);
    const lines = [`TRT-${version}-${this.#trtAlgorithm ?? TRT_ALGORITHMS[this.method]}`];
    const view = new DataView(new ArrayBuffer(4));
    for (const [name, amax] of this.ranges) {
      if (/[\r\n]/.test(name))
        throw calibrationError(
          `tensor name ${JSON.stringify(name)} holds a line break, which a TensorRT cache cannot hold`,
        );
      view.setFloat32(0, amax / 127);
      lines.push(`${name}: ${view.getUint32(0).toString(16).padStart(8, '0')}`);
    }
    return lines.join('\n') + '\n';
  }

  /**
   * Reads a TensorRT calibration cache (written by TensorRT or by `toTensorRTCache()`) for `model`. Any
   * `TRT-<version>-<algorithm>` header is accepted; amax = scale * 127. Entries for tensors TensorRT made for its
   * own layers (`(Unnamed Layer* N) ...`) are skipped. A cache that names tensors the model does not have (a cache
   * for another model) is refused with ERR_INT8RT_CALIBRATION.
   */
  static async fromTensorRTCache(text: string, model: string | Uint8Array): Promise<Calibration> {
    if (typeof text !== 'string') throw argumentError('fromTensorRTCache() takes the cache text as a string');
    let desc: ModelDescription;
    try {
      desc = await loadModel(model);
    } catch (e) {
      throw asInt8rtError(e);
    }
    const lines = text.split(/\r?\n/);
    let k = 0;
    while (k < lines.length && lines[k].trim() === '') k++;
    const header = /^TRT-(\d+)-([A-Za-z0-9_]+)$/.exec((lines[k] ?? '').trim());
    if (!header)
      throw calibrationError(
        `not a TensorRT calibration cache: the first line must be TRT-<version>-<algorithm>, ` +
          `got ${JSON.stringify((lines[k] ?? '').slice(0, 80))}`,
      );
    const algorithm = header[2];
    const known = tensorNames(desc);
    const ranges = new Map<string, number>();
    const unknown: string[] = [];
    const view = new DataView(new ArrayBuffer(4));
    for (k++; k < lines.length; k++) {
      const line = lines[k];
      if (line.trim() === '') continue;
      const colon = line.lastIndexOf(':');
      const hex = colon < 0 ? '' : line.slice(colon + 1).trim();
      if (colon <= 0 || !/^[0-9a-fA-F]{1,8}$/.test(hex))
        throw calibrationError(
          `TensorRT cache line ${k + 1} is not '<tensor>: <hex scale>': ${JSON.stringify(line.slice(0, 120))}`,
        );
      const name = line.slice(0, colon);
      view.setUint32(0, parseInt(hex, 16));
      const scale = view.getFloat32(0);
      if (!Number.isFinite(scale) || scale < 0)
        throw calibrationError(
          `TensorRT cache line ${k + 1}: tensor '${name}' has scale ${scale}, which is not a range`,
        );
      if (TRT_INTERNAL_NAME.test(name)) continue;
      if (!known.has(name)) {
        unknown.push(name);
        continue;
      }
      if (ranges.has(name)) throw calibrationError(`TensorRT cache line ${k + 1}: tensor '${name}' appears twice`);
      ranges.set(name, Math.fround(scale * 127));
    }
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 10).map((n) => `'${n}'`).join(', ');
      throw calibrationError(
        `the TensorRT cache names ${unknown.length} tensor(s) this model does not have: ${shown}` +
          `${unknown.length > 10 ? ', ...' : ''}. Is it a cache for another model?`,
      );
    }
    const cal = new Calibration(methodOfTrtAlgorithm(algorithm), ranges, desc.sha256);
    cal.#trtAlgorithm = algorithm;
    return cal;
  }

  toJSON(): CalibrationJSON {
    const json: CalibrationJSON = {
      format: 'int8rt-calibration',
      version: 1,
      method: this.method,
      modelSha256: this.modelSha256,
      ranges: Object.fromEntries(this.ranges),
    };
    if (this.percentile !== undefined) json.percentile = this.percentile;
    return json;
  }

  /**
   * A Calibration from `toJSON()`'s output (an object or its JSON text), for `model`: refused with
   * ERR_INT8RT_CALIBRATION when it was made for a model with other bytes (the SHA-256 differs).
   */
  static async fromJSON(json: string | CalibrationJSON, model: string | Uint8Array): Promise<Calibration> {
    let o: unknown = json;
    if (typeof json === 'string') {
      try {
        o = JSON.parse(json);
      } catch (e) {
        throw calibrationError(`calibration JSON does not parse: ${(e as Error).message}`);
      }
    }
    const c = o as Partial<CalibrationJSON> | null;
    if (c === null || typeof c !== 'object' || c.format !== 'int8rt-calibration')
      throw calibrationError("not an int8rt calibration: expected an object with format 'int8rt-calibration'");
    if (c.version !== 1)
      throw calibrationError(`int8rt calibration version ${String(c.version)} is not supported (1 is)`);
    if (typeof c.modelSha256 !== 'string' || c.ranges === null || typeof c.ranges !== 'object')
      throw calibrationError('int8rt calibration is missing modelSha256 or ranges');
    if (!CALIBRATION_METHODS.includes(c.method as CalibrationMethod))
      throw calibrationError(`int8rt calibration has an unknown method '${String(c.method)}'`);
    const sha = await modelBytesSha256(model);
    if (sha !== c.modelSha256)
      throw calibrationError(
        `the calibration was made for the model with sha256 ${c.modelSha256}, but this model's sha256 is ${sha}`,
      );
    return new Calibration(c.method as CalibrationMethod, new Map(Object.entries(c.ranges)), c.modelSha256, {
      percentile: c.percentile,
    });
  }
}

/**
 * Runs `model` in float32 on each sample and derives a range for each tensor an int8 engine of the model uses (or
 * for every float tensor, with `tensors: 'all'`). Samples are streamed: any iterable or async iterable works, and
 * none is held after it has run, so memory does not grow with the number of samples. The result depends on the
 * samples and their order only: the same samples in the same order give the same ranges, bit for bit.
 */
export async function calibrate(
  model: string | Uint8Array,
  samples: Iterable<Feeds> | AsyncIterable<Feeds>,
  options: CalibrateOptions = {},
): Promise<Calibration> {
  const { method, percentile } = checkOptions(options);
  if (typeof model !== 'string' && !(model instanceof Uint8Array))
    throw argumentError('model must be a file path or the bytes of an ONNX model');
  if (!isIterable(samples)) throw argumentError('samples must be an iterable or async iterable of feeds');
  const total = Array.isArray(samples) ? samples.length : undefined;
  const onProgress = options.onProgress;

  let desc: ModelDescription;
  let handle: CalibratorHandle;
  try {
    desc = await loadModel(model);
    handle = await (native() as unknown as CalibrationAddon).createCalibrator(desc, {
      intraOpThreads: options.intraOpThreads ?? 0,
      histograms: method !== 'minmax', // minmax needs the range alone: no histograms to fill
      tensors: options.tensors ?? 'int8',
      nodePrecision: options.nodePrecision,
    });
  } catch (e) {
    throw asInt8rtError(e);
  }

  const inFlight = new Set<Promise<void>>();
  try {
    let failure: { error: unknown } | undefined;
    let started = 0;
    let done = 0;
    for await (const feeds of samples as AsyncIterable<Feeds>) {
      const index = started++;
      const { names, tensors } = sampleFeeds(feeds, index);
      const p: Promise<void> = handle
        .observe(names, tensors)
        .then(() => {
          done++;
          onProgress?.(done, total);
        })
        .catch((e: unknown) => {
          failure ??= { error: sampleError(e, index) };
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      if (failure) break;
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    if (started === 0) throw calibrationError('calibrate() needs at least one sample');
    const rows = await handle.finish(method, percentile);
    const ranges = new Map<string, number>();
    const observed = new Map<string, { min: number; max: number }>();
    for (const r of rows) {
      ranges.set(r.name, r.amax);
      observed.set(r.name, { min: r.min, max: r.max });
    }
    return new Calibration(method, ranges, desc.sha256, { percentile, observed });
  } catch (e) {
    throw asInt8rtError(e);
  } finally {
    // On failure, let the runs still in flight finish before returning: they read the caller's tensors.
    await Promise.allSettled(inFlight);
    handle.release();
  }
}
