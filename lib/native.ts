import * as fs from 'node:fs';
import * as path from 'node:path';
import { Int8rtError } from './errors';
import type { ModelDescription } from './onnx/types';

/** The native addon's surface (native/addon/addon.cc). */
export interface NativeTensor {
  dtype: string;
  data: ArrayBufferView;
  dims: number[];
}
export interface NativeValueInfo {
  name: string;
  dtype: string;
  dims: (number | string)[] | null;
}
export interface NativeReportRow {
  node: string;
  op: string;
  precision: string;
  device: string;
  kernel: string;
  fusedInto?: string;
  note?: string;
  reason?: string;
  boundary?: boolean;
  int8Scales?: Record<string, number>;
  deviceReason?: string;
}
export interface EngineHandle {
  run(names: string[], tensors: NativeTensor[]): Promise<Record<string, NativeTensor>>;
  inputs(): NativeValueInfo[];
  outputs(): NativeValueInfo[];
  report(): NativeReportRow[];
  info(): { intraOpThreads: number; device: 'cpu' | 'cuda'; deviceReason: string };
  macs(): { total: number; int8: number };
  memory(): { weights: number; constants: number; packed: number; released: number; deviceWeights: number };
  release(): void;
}
export interface BuildInfo {
  isa: string;
  cpu: string;
  features: Record<string, boolean>;
  errorCodes: string[];
  kernels: { op: string; domain: string; device: string; precision: string; kernel: string }[];
  napiVersion: number;
  /** The CUDA kernels this build embeds: `kernels` is false when it was built without nvcc (or without .cu files,
   * or with INT8RT_CUDA=off); `targets` lists the GPU code in the image ('sm_75' ... 'compute_90'). */
  cuda: { kernels: boolean; targets: string[] };
  /** Where the addon was loaded from: a prebuild shipped in the package or a build from source. */
  loadedFrom: string;
}
export interface NativeAddon {
  createEngine(
    /** A decoded model, or the bytes of a model bundle (lib/bundle.ts), which brings its own precision options. */
    desc: ModelDescription | Uint8Array,
    options: {
      intraOpThreads?: number;
      fuseEpilogues?: boolean;
      /** Tests only: false keeps every constant after build (to compare outputs with and without the release). */
      releaseConstants?: boolean;
      precision?: string;
      ranges?: Record<string, number>;
      nodePrecision?: Record<string, string>;
      device?: string;
      deviceId?: number;
    },
  ): Promise<EngineHandle>;
  buildInfo(): Omit<BuildInfo, 'loadedFrom' | 'cuda'>;
  /** The engine's per-output-channel weight quantization (quant/qnode.h): C rows of weights -> int8 and scales. */
  quantizeWeights(w: Float32Array, channels: number): { q: Int8Array; scales: Float32Array };
  /** The engine's int32 bias of each channel (ops/int8_common.h quantize_bias). */
  quantizeBias(b: Float32Array, sx: number, sw: Float32Array, depth: number): Int32Array;
  /** lib/bundle.ts: the model and options in the bundle format (native/core/model_bundle.h). */
  saveBundle(
    desc: ModelDescription,
    options: {
      precision?: string;
      ranges?: Record<string, number>;
      nodePrecision?: Record<string, string>;
      modelSha256?: string;
    },
  ): Uint8Array;
  /** A bundle's options (its OPTS section). */
  bundleInfo(bytes: Uint8Array): {
    precision: string;
    modelSha256: string;
    ranges: Record<string, number>;
    nodePrecision: Record<string, string>;
  };
  cudaInfo?(): CudaInfo;
  cudaEmbedded?(): CudaInfo['embedded'];
}

/** What `cudaInfo()` found: whether engines can use CUDA here, and if not, exactly why. */
export interface CudaInfo {
  /** libcuda loaded, cuInit succeeded and at least one device can run the embedded kernels. */
  available: boolean;
  /** When not available: what is missing, in words ('' when available). */
  reason: string;
  /** The driver library that was loaded or tried: $INT8RT_LIBCUDA, else 'libcuda.so.1'. */
  library: string;
  /** cuDriverGetVersion (13000 = CUDA 13.0); 0 when no driver was loaded. */
  driverVersion: number;
  devices: {
    ordinal: number;
    name: string;
    /** '8.6' */
    computeCapability: string;
    multiprocessors: number;
    /** Bytes. */
    totalMemory: number;
    /** The embedded kernels have code for this device (and the driver is recent enough). */
    runnable: boolean;
    /** Runnable through the PTX, which the driver compiles when the engine loads the kernels. */
    usesPtx: boolean;
    /** Why not runnable ('' when runnable). */
    reason: string;
  }[];
  /** The kernel image built into the addon (the same in every addon of one release). */
  embedded: {
    bytes: number;
    /** 'sm_75', 'sm_80', ..., 'compute_90' */
    targets: string[];
    /** The oldest driver that loads the image (cuDriverGetVersion units); 0 when there are no kernels. */
    minDriverVersion: number;
    /** Why the build has no kernels, when it has none. */
    note?: string;
  };
}

let addon: NativeAddon | undefined;
let loadedFrom = '';

/** The package root: the nearest folder above this file with int8rt's package.json (dist/cjs/ or lib/ below it). */
export const packageRoot = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'int8rt') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) return path.join(__dirname, '..', '..');
  }
})();

/** Loads the addon on first use: a prebuild for this platform, else a local build (node-gyp-build's rules). */
export function native(): NativeAddon {
  if (addon) return addon;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = require('node-gyp-build') as ((dir: string) => NativeAddon) & { resolve(dir: string): string };
  try {
    loadedFrom = load.resolve(packageRoot);
    addon = load(packageRoot);
  } catch (e) {
    throw new Int8rtError(
      'ERR_INT8RT_NATIVE_LOAD',
      `int8rt's native addon could not be loaded for ${process.platform}-${process.arch} ` +
        `(${(e as Error).message.split('\n')[0]}). No prebuild matches this platform and no local build exists: ` +
        'run `npm rebuild int8rt` (needs a C++ compiler and python3).',
    );
  }
  return addon;
}

export function buildInfo(): BuildInfo {
  const info = native().buildInfo();
  // An addon older than this JavaScript (a stale local build) has no CUDA entry points: no kernels, then.
  const embedded = native().cudaEmbedded?.() ?? { bytes: 0, targets: [] };
  const rel = path.relative(packageRoot, loadedFrom);
  return {
    ...info,
    cuda: { kernels: embedded.bytes > 0, targets: embedded.targets },
    loadedFrom: rel.startsWith('prebuilds') ? `prebuild (${rel})` : `source build (${rel})`,
  };
}

/**
 * Whether engines can use CUDA on this machine, and exactly why not when they cannot (no driver, cuInit failure,
 * no device, a driver older than the embedded kernels, a build without kernels). The driver is probed once per
 * process; set INT8RT_LIBCUDA before the first call to load libcuda from another path.
 */
export function cudaInfo(): CudaInfo {
  const addon = native();
  if (typeof addon.cudaInfo === 'function') return addon.cudaInfo();
  const reason = 'the loaded native addon predates CUDA support (rebuild it)';
  return {
    available: false,
    reason,
    library: '',
    driverVersion: 0,
    devices: [],
    embedded: { bytes: 0, targets: [], minDriverVersion: 0, note: reason },
  };
}
