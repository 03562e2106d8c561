// int8rt doctor: what this machine and this build of int8rt can do, in one screen (or one JSON document).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { buildInfo, cudaInfo, packageRoot, type BuildInfo, type CudaInfo } from '../../native';
import { renderTable } from '../../profile/text';
import { Output } from '../common';

interface DoctorOptions {
  kernels?: boolean;
  json?: boolean;
}

// The CUDA line: what cudaInfo() found (the addon's own probe of libcuda, the devices and the embedded kernels), so
// that the reason shown is the one the engines act on.
function cudaLine(cuda: CudaInfo): string {
  const e = cuda.embedded;
  const kernels = e.bytes > 0 ? `kernels ${e.targets.join(', ')}` : `no kernels (${e.note ?? 'none embedded'})`;
  const driver = cuda.driverVersion ? `driver ${Math.floor(cuda.driverVersion / 1000)}.${(cuda.driverVersion % 1000) / 10}` : '';
  const gpus = cuda.devices.map(
    (d) =>
      `#${d.ordinal} ${d.name} (sm ${d.computeCapability}, ${d.multiprocessors} SMs, ` +
      `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB${d.runnable ? (d.usesPtx ? ', PTX JIT' : '') : `, not usable: ${d.reason}`})`,
  );
  const head = cuda.available ? 'available' : `not used: ${cuda.reason}`;
  return [head, driver, gpus.join('; '), kernels].filter(Boolean).join(' | ');
}

const yes = (b: boolean | undefined) => (b ? 'yes' : 'no');

function int8Path(info: BuildInfo): string {
  const f = info.features;
  if (info.isa === 'scalar') return 'scalar reference kernels (forced by INT8RT_ISA or no SIMD)';
  if (info.isa === 'avxvnni') return f.avxVnni ? 'vpdpbusd, AVX-VNNI (VEX)' : 'vpdpbusd, AVX512-VNNI (EVEX, 256-bit)';
  if (info.isa === 'avx2') return 'vpmaddwd on sign-extended int8 (AVX2), exact int32 accumulation';
  if (info.isa === 'i8mm') return 'smmla (NEON i8mm)';
  if (info.isa === 'neondot') return 'sdot (NEON dot product)';
  if (info.isa === 'neon') return 'NEON widening multiply-accumulate';
  return info.isa;
}

function kernelSummary(info: BuildInfo): { precision: string; kernels: number; ops: string[] }[] {
  const by = new Map<string, { kernels: number; ops: Set<string> }>();
  for (const k of info.kernels) {
    const key = `${k.device} ${k.precision}`;
    const e = by.get(key) ?? { kernels: 0, ops: new Set<string>() };
    e.kernels++;
    e.ops.add(k.domain ? `${k.domain}.${k.op}` : k.op);
    by.set(key, e);
  }
  return [...by].map(([precision, e]) => ({ precision, kernels: e.kernels, ops: [...e.ops].sort() }));
}

function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('show the CPU and its int8 features, threads, Node/N-API versions, the native build, CUDA and kernels')
    .option('--kernels', 'list every registered kernel')
    .option('--json', 'print everything as JSON')
    .action((o: DoctorOptions) => {
      const out = new Output(o.json);
      const info = buildInfo();
      const f = info.features;
      const arm = process.arch === 'arm64' || process.arch === 'arm';
      const cuda = cudaInfo();
      const threads = os.availableParallelism();
      const kernels = kernelSummary(info);
      const rows: [string, string][] = [
        ['int8rt', version()],
        ['native build', `${info.loadedFrom}, N-API ${info.napiVersion}`],
        ['Node.js', `${process.version} (N-API ${process.versions.napi}), ${process.platform}-${process.arch}`],
        ['CPU', `${info.cpu || 'unknown'}, ${threads} hardware thread(s)`],
        [
          'int8 features',
          arm
            ? `NEON ${yes(f.neon)}, dot product (sdot) ${yes(f.neonDot)}, i8mm (smmla) ${yes(f.neonI8mm)}`
            : `AVX2 ${yes(f.avx2)}, AVX-VNNI ${yes(f.avxVnni)}, AVX512-VNNI ${yes(f.avx512Vnni)} (AVX512VL ${yes(f.avx512vl)})`,
        ],
        ...(arm ? [] : ([['other features', `FMA ${yes(f.fma)}, F16C ${yes(f.f16c)}, AVX512F ${yes(f.avx512f)}, AVX512BW ${yes(f.avx512bw)}`]] as [string, string][])),
        ['ISA in use', `${info.isa}${process.env.INT8RT_ISA ? ` (INT8RT_ISA=${process.env.INT8RT_ISA})` : ''}`],
        ['int8 products', int8Path(info)],
        ['threads', `engines use ${threads} intra-op thread(s) unless intraOpThreads / --threads says otherwise`],
        ['CUDA', cudaLine(cuda)],
        ...kernels.map((k): [string, string] => [
          `kernels ${k.precision}`,
          `${k.kernels} kernel(s) for ${k.ops.length} op(s)${o.kernels ? '' : ' (--kernels lists them)'}`,
        ]),
      ];
      out.result(
        () => {
          const text = rows.map(([k, v]) => `${k.padEnd(18)}${v}`).join('\n');
          if (!o.kernels) return text;
          return `${text}\n\n${renderTable(
            ['op', 'domain', 'device', 'precision', 'kernel'],
            info.kernels.map((k) => [k.op, k.domain, k.device, k.precision, k.kernel]),
            [false, false, false, false, false],
          )}`;
        },
        {
          int8rt: version(),
          nativeBuild: info.loadedFrom,
          napiVersion: info.napiVersion,
          node: { version: process.version, napi: process.versions.napi, platform: process.platform, arch: process.arch },
          cpu: { brand: info.cpu, threads, features: f },
          isa: info.isa,
          int8Products: int8Path(info),
          cuda,
          kernels: o.kernels ? info.kernels : kernels,
        },
      );
    });
}
