import { bundleBytesOf, bundleInfo } from './bundle';
import { asInt8rtError, Int8rtError } from './errors';
import { native, type EngineHandle, type NativeReportRow, type NativeTensor } from './native';
import { loadModel } from './onnx/load';
import { buildProfile, checkProfileOptions, type Profile, type ProfileOptions, type ProfilingHandle } from './profile';
import { foldedConstantsModel, tensorDescOf, writeQDQ, type ExportQDQOptions } from './qdq/write';
import type { TensorDesc } from './onnx/types';
import { Tensor, type DataType } from './tensor';

export type Precision = 'fp32' | 'fp16' | 'int8' | 'int8-dynamic';

/** Where an engine runs: 'cpu', 'cuda' (fails with ERR_INT8RT_CUDA_UNAVAILABLE and the reason when CUDA cannot be
 * used) or 'auto' (CUDA when it loads, else the CPU, with the reason in `engine.deviceReason`). */
export type Device = 'cpu' | 'cuda' | 'auto';

/** Calibrated ranges (amax per tensor), as `calibrate()` returns them. */
export interface CalibrationRanges {
  readonly ranges: ReadonlyMap<string, number>;
  /** SHA-256 of the model the ranges were made for, when known. */
  readonly modelSha256?: string;
}

export interface EngineOptions {
  /** Threads one run uses inside an operator (the engine's own pool). Default: one per hardware thread. */
  intraOpThreads?: number;
  /** 'fp32' (default) or 'int8': static int8 from a calibration; nodes without an int8 path stay fp32, with a reason.
   * 'fp16': Conv/ConvTranspose/Gemm/MatMul weights stored as float16 (half the memory), computed in float32;
   * depthwise Conv keeps float32 weights.
   * 'int8-dynamic': no calibration; Conv/Gemm/MatMul with constant weights quantize their float input per run from
   * its absmax (weights int8 per output channel), every other node stays fp32. */
  precision?: Precision;
  /** Required for precision 'int8'. */
  calibration?: CalibrationRanges;
  /** Per ONNX node name: 'fp32' or 'int8'. Always obeyed, or Engine.create fails saying why. */
  nodePrecision?: Record<string, 'fp32' | 'int8'>;
  /** 'cpu' (default), 'cuda' or 'auto'; see `cudaInfo()` for what this machine can do. On CUDA, nodes with a CUDA
   * kernel for their operator and precision run on the GPU, the others on the CPU (their report rows say why in
   * `deviceReason`), with copies between the two where values cross. */
  device?: Device;
  /** The CUDA device (ordinal, default 0); ignored on the CPU. */
  deviceId?: number;
}

/** A graph input or output: its name, element type and shape; symbolic dims are strings ('N', or '' if unnamed). */
export interface ValueInfo {
  readonly name: string;
  readonly dtype: DataType | 'unknown';
  readonly dims: readonly (number | string)[] | null;
}

/**
 * Bytes the engine holds for the model's weights, fixed at build (activations are not included: they are allocated
 * per run and depend on the input shapes).
 */
export interface EngineMemory {
  /** constants + packed: everything held for the weights. */
  weights: number;
  /** Constant tensors kept because some kernel reads them at run time (biases, depthwise weights, shape tensors). */
  constants: number;
  /** Weights the kernels hold in their own form: packed float/half panels, int8 weights, per-channel scales, biases. */
  packed: number;
  /** Constant bytes freed after build because no kernel reads them any more (not part of `weights`). */
  released: number;
  /** Bytes of the CUDA weight arena: what the engine's CUDA kernels hold on the device (0 on the CPU). */
  deviceWeights: number;
}

/** What became of one ONNX node: where it runs, in which precision, with which kernel. */
export interface ReportRow {
  node: string;
  op: string;
  precision: 'fp32' | 'fp16' | 'int8';
  device: 'cpu' | 'cuda';
  kernel: string;
  /** The node this one was fused into, when it does not run by itself. */
  fusedInto?: string;
  note?: string;
  /** Why the node is not int8, when int8 was asked for. */
  reason?: string;
  /** On an engine created with device 'cuda' or 'auto': why this node runs on the CPU (CUDA unavailable, with the
   * exact reason; no CUDA kernel for the operator in its precision; or what the CUDA kernel could not take). */
  deviceReason?: string;
  /**
   * A QuantizeLinear/DequantizeLinear that int8rt inserted between float and int8 nodes (not an ONNX node), or one of
   * a pre-quantized model's own that int8rt could not fold into an int8 node (it runs as the float operator it is;
   * `reason` says why).
   */
  boundary?: boolean;
  /** On a node that runs in int8 with int8rt's calibrated scales: the scale of every int8 tensor it reads or writes
   * (constants it quantized included), by ONNX tensor name. */
  int8Scales?: Record<string, number>;
}

function checkOptions(options: EngineOptions): void {
  if (options === null || typeof options !== 'object')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'options must be an object');
  const t = options.intraOpThreads;
  if (t !== undefined && (!Number.isInteger(t) || t < 0 || t > 1024))
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `intraOpThreads must be an integer from 0 to 1024, got ${t}`);
  const p = options.precision;
  if (p !== undefined && p !== 'fp32' && p !== 'fp16' && p !== 'int8' && p !== 'int8-dynamic')
    throw new Int8rtError(
      'ERR_INT8RT_INVALID_ARGUMENT',
      `precision must be 'fp32', 'fp16', 'int8' or 'int8-dynamic', got '${String(p)}'`,
    );
  const d = options.device;
  if (d !== undefined && d !== 'cpu' && d !== 'cuda' && d !== 'auto')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `device must be 'cpu', 'cuda' or 'auto', got '${String(d)}'`);
  const id = options.deviceId;
  if (id !== undefined && (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 1e6))
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `deviceId must be an integer >= 0, got ${String(id)}`);
  if (p === 'int8' && !(options.calibration?.ranges instanceof Map))
    throw new Int8rtError(
      'ERR_INT8RT_CALIBRATION',
      "precision 'int8' needs a calibration: pass { calibration: await calibrate(model, samples) }",
    );
}

/**
 * An ONNX model ready to run. Create one with `Engine.create(pathOrBytes)`; `run()` executes on a worker thread
 * and many runs may be in flight at once. `release()` frees native memory; later calls throw ERR_INT8RT_RELEASED.
 */
export class Engine {
  #handle: EngineHandle;
  #released = false;
  #coverageChecked = true;
  #qdqSource?: { model: string | Uint8Array; ranges: ReadonlyMap<string, number> };
  #precision: Precision = 'fp32';
  #requestedDevice: Device = 'cpu';
  #model?: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];

  private constructor(handle: EngineHandle) {
    this.#handle = handle;
    this.inputs = Object.freeze(handle.inputs().map((v) => Object.freeze(v) as ValueInfo));
    this.outputs = Object.freeze(handle.outputs().map((v) => Object.freeze(v) as ValueInfo));
  }

  /**
   * Loads and builds a model from a file path or the bytes of an .onnx file or of a model bundle (`saveBundle`; told
   * apart by its magic bytes). A bundle carries its precision, calibration and nodePrecision: passing any of these
   * options with one is an ERR_INT8RT_INVALID_ARGUMENT.
   */
  static async create(model: string | Uint8Array, options: EngineOptions = {}): Promise<Engine> {
    checkOptions(options);
    if (typeof model !== 'string' && !(model instanceof Uint8Array))
      throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'model must be a file path or the bytes of an ONNX model');
    try {
      const bundle = await bundleBytesOf(model);
      if (bundle) return await Engine.#fromBundle(bundle, options, model);
      const desc = await loadModel(model);
      const cal = options.calibration;
      if (cal?.modelSha256 && cal.modelSha256 !== desc.sha256)
        throw new Int8rtError(
          'ERR_INT8RT_CALIBRATION',
          `the calibration was made for model sha256 ${cal.modelSha256}, this model is ${desc.sha256}`,
        );
      const handle = await native().createEngine(desc, {
        intraOpThreads: options.intraOpThreads ?? 0,
        precision: options.precision ?? 'fp32',
        ranges: cal ? Object.fromEntries(cal.ranges) : undefined,
        nodePrecision: options.nodePrecision,
        device: options.device ?? 'cpu',
        deviceId: options.deviceId ?? 0,
      });
      const engine = new Engine(handle);
      engine.#requestedDevice = options.device ?? 'cpu';
      if (options.precision === 'int8' && cal) engine.#qdqSource = { model, ranges: cal.ranges };
      engine.#precision = options.precision ?? 'fp32';
      if (typeof model === 'string') engine.#model = model;
      if (options.precision === 'int8' || options.precision === 'int8-dynamic') await engine.#checkInt8Coverage();
      return engine;
    } catch (e) {
      throw asInt8rtError(e);
    }
  }

  static async #fromBundle(bundle: Uint8Array, options: EngineOptions, model: string | Uint8Array): Promise<Engine> {
    for (const key of ['precision', 'calibration', 'nodePrecision'] as const)
      if (options[key] !== undefined)
        throw new Int8rtError(
          'ERR_INT8RT_INVALID_ARGUMENT',
          `a model bundle carries its own precision, calibration and nodePrecision; '${key}' cannot be given with ` +
            'one (make another bundle with the options wanted)',
        );
    const info = bundleInfo(bundle);
    const handle = await native().createEngine(bundle, {
      intraOpThreads: options.intraOpThreads ?? 0,
      device: options.device ?? 'cpu',
      deviceId: options.deviceId ?? 0,
    });
    const engine = new Engine(handle);
    engine.#requestedDevice = options.device ?? 'cpu';
    engine.#precision = info.precision as Precision;
    if (typeof model === 'string') engine.#model = model;
    if (engine.#precision === 'int8' || engine.#precision === 'int8-dynamic') await engine.#checkInt8Coverage();
    return engine;
  }

  get inputNames(): string[] {
    return this.inputs.map((i) => i.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /** Where the engine runs: 'cuda' when it was created with device 'cuda' or 'auto' and the CUDA device opened
   * (operators without a CUDA kernel still run on the CPU: see `report()`), else 'cpu'. */
  get device(): 'cpu' | 'cuda' {
    return this.#live().info().device;
  }

  /** Why the engine is not on CUDA ('' when it is): the device asked for, or exactly why CUDA could not be used. */
  get deviceReason(): string {
    return this.#live().info().deviceReason;
  }

  /** Threads the engine's intra-op pool uses. */
  get intraOpThreads(): number {
    return this.#live().info().intraOpThreads;
  }

  /** Runs the model. Feeds are keyed by input name; the result is keyed by output name. */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const handle = this.#live();
    if (feeds === null || typeof feeds !== 'object')
      throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'run() takes an object that maps input names to Tensors');
    const names = Object.keys(feeds);
    const tensors: NativeTensor[] = names.map((name) => {
      const t = feeds[name];
      if (!(t instanceof Tensor))
        throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `input '${name}' must be an int8rt Tensor`);
      return t as unknown as NativeTensor;
    });
    let raw: Record<string, NativeTensor>;
    try {
      raw = await handle.run(names, tensors);
    } catch (e) {
      throw asInt8rtError(e);
    }
    if (!this.#coverageChecked) this.#warnCoverage();
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(raw))
      out[name] = new Tensor(t.dtype as DataType, t.data as never, t.dims);
    return out;
  }

  /** Multiply-accumulates of Conv/Gemm/MatMul in the last run: in total and in int8. */
  macs(): { total: number; int8: number } {
    return this.#live().macs();
  }

  /**
   * Bytes of weights this engine holds, counted natively (no sampling, no process RSS): `weights` = `constants` +
   * `packed`. Constants a kernel packed or quantized at build are freed then, so an fp32 engine holds its weights
   * once, an fp16 engine about half of that and an int8 engine about a quarter.
   */
  memory(): EngineMemory {
    return this.#live().memory();
  }

  // An int8 engine that runs less than 90% of its MACs in int8 says so once, in one line. With fixed input shapes
  // the count comes from one run on zeros at build; with symbolic shapes, from the first run.
  async #checkInt8Coverage(): Promise<void> {
    this.#coverageChecked = false;
    const fixed = this.inputs.every(
      (i) => i.dtype !== 'unknown' && i.dims !== null && i.dims.every((d) => typeof d === 'number'),
    );
    if (!fixed) return;
    const feeds: Record<string, Tensor> = {};
    for (const i of this.inputs) feeds[i.name] = Tensor.zeros(i.dtype as DataType, i.dims as number[]);
    try {
      await this.#handle.run(Object.keys(feeds), Object.values(feeds) as unknown as NativeTensor[]);
      this.#warnCoverage();
    } catch {
      // A model that cannot run on zeros is checked on its first real run instead.
    }
  }

  #warnCoverage(): void {
    this.#coverageChecked = true;
    const { total, int8 } = this.#handle.macs();
    if (total > 0 && int8 < 0.9 * total) {
      // Millions for real models, plain counts for the tiny ones (where 0.0 MMAC would say nothing).
      const fmt = (n: number) => (total >= 1e5 ? `${(n / 1e6).toFixed(1)} MMAC` : `${n} MACs`);
      console.warn(
        `int8rt: only ${((100 * int8) / total).toFixed(1)}% of this model's MACs run in int8 ` +
          `(${fmt(int8)} of ${fmt(total)}; ${fmt(total - int8)} in fp32): see engine.report() for the reasons`,
      );
    }
  }

  /**
   * Times every operator over `iterations` runs (default 50) after `warmup` untimed ones (default 5), on a worker
   * thread. One row per executed step, keyed by ONNX node name (a fused group lists all its nodes; int8 boundaries
   * are rows of their own): calls, total/mean/median/p90 ms, share, MACs and GMAC/s, shapes. Ordinary runs are not
   * timed: the per-step clock reads happen only inside profile().
   */
  async profile(feeds: Record<string, Tensor>, options: ProfileOptions = {}): Promise<Profile> {
    const handle = this.#live();
    const { iterations, warmup } = checkProfileOptions(options);
    if (feeds === null || typeof feeds !== 'object')
      throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'profile() takes an object that maps input names to Tensors');
    const names = Object.keys(feeds);
    for (const name of names)
      if (!(feeds[name] instanceof Tensor))
        throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `input '${name}' must be an int8rt Tensor`);
    const tensors = names.map((n) => feeds[n] as unknown as NativeTensor);
    try {
      const raw = await (handle as unknown as ProfilingHandle).profile(names, tensors, { iterations, warmup });
      return buildProfile(raw, this.report(), {
        model: this.#model,
        precision: this.#precision,
        intraOpThreads: handle.info().intraOpThreads,
        iterations,
        warmup,
        inputs: names.map((n) => ({ name: n, dtype: feeds[n].dtype, dims: [...feeds[n].dims] })),
      });
    } catch (e) {
      throw asInt8rtError(e);
    }
  }

  /**
   * This int8 engine's plan as a QDQ ONNX model (lib/qdq/write.ts): int8 weights with per-channel scales, int32
   * biases, Q/DQ pairs with the calibrated scales on every tensor the engine holds in int8, float nodes unquantized.
   * Needs an engine built with precision 'int8' (the model is read again from its path or bytes).
   */
  async exportQDQ(options: ExportQDQOptions = {}): Promise<Uint8Array> {
    this.#live();
    const src = this.#qdqSource;
    if (!src)
      throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', "exportQDQ() needs an engine built with precision 'int8' and a calibration");
    try {
      const desc = await loadModel(src.model);
      const report = this.report();
      // Constants the engine computed at build and the int8 nodes read (weights behind a Reshape, say): evaluated
      // by a float engine, so that they can be quantized.
      const folded = new Map<string, TensorDesc>();
      const sub = foldedConstantsModel(desc, report);
      if (sub) {
        const e = await Engine.create(sub, { intraOpThreads: 1 });
        try {
          for (const [name, t] of Object.entries(await e.run({}))) folded.set(name, tensorDescOf(name, t));
        } finally {
          e.release();
        }
      }
      return writeQDQ(desc, src.ranges, report, options, folded);
    } catch (e) {
      throw asInt8rtError(e);
    }
  }

  /** One row per ONNX node: precision, device and kernel, and what was fused or folded. */
  report(): ReportRow[] {
    const handle = this.#live();
    const rows = handle.report() as (NativeReportRow & ReportRow)[];
    // Per-operator device fallback, for engines that asked for CUDA: on a CUDA engine each CPU row carries the
    // native reason (no CUDA kernel for the op in its precision, or what the CUDA kernel refused); on an engine that
    // fell back to the CPU every node carries the engine's reason.
    if (this.#requestedDevice !== 'cpu') {
      const { device, deviceReason } = handle.info();
      if (device !== 'cuda') for (const r of rows) r.deviceReason = deviceReason;
    } else {
      for (const r of rows) delete r.deviceReason;
    }
    return rows;
  }

  /** Frees the engine's native memory. Runs already in flight finish; later calls throw. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#handle.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  #live(): EngineHandle {
    if (this.#released)
      throw new Int8rtError('ERR_INT8RT_RELEASED', 'this engine has been released; create a new one');
    return this.#handle;
  }
}
