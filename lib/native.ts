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
}
export interface EngineHandle {
  run(names: string[], tensors: NativeTensor[]): Promise<Record<string, NativeTensor>>;
  inputs(): NativeValueInfo[];
  outputs(): NativeValueInfo[];
  report(): NativeReportRow[];
  info(): { intraOpThreads: number };
  macs(): { total: number; int8: number };
  memory(): { weights: number; constants: number; packed: number; released: number };
  release(): void;
}
export interface BuildInfo {
  isa: string;
  cpu: string;
  features: Record<string, boolean>;
  errorCodes: string[];
  kernels: { op: string; domain: string; device: string; precision: string; kernel: string }[];
  napiVersion: number;
  /** Where the addon was loaded from: a prebuild shipped in the package or a build from source. */
  loadedFrom: string;
}
export interface NativeAddon {
  createEngine(
    desc: ModelDescription,
    options: {
      intraOpThreads?: number;
      fuseEpilogues?: boolean;
      /** Tests only: false keeps every constant after build (to compare outputs with and without the release). */
      releaseConstants?: boolean;
      precision?: string;
      ranges?: Record<string, number>;
      nodePrecision?: Record<string, string>;
    },
  ): Promise<EngineHandle>;
  buildInfo(): Omit<BuildInfo, 'loadedFrom'>;
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
  const rel = path.relative(packageRoot, loadedFrom);
  return { ...info, loadedFrom: rel.startsWith('prebuilds') ? `prebuild (${rel})` : `source build (${rel})` };
}
