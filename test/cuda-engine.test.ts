// CUDA execution of whole models, on a machine without a GPU: the engine runs against the CPU emulation of the CUDA
// driver in test/native/fake_libcuda.cc (compiled here, loaded through INT8RT_LIBCUDA in child processes). The
// emulator allocates real memory, copies, and executes each launched kernel's contract (native/kernels/cuda/params.h)
// with loops of its own, checking every device address against its allocations; it counts allocations, launches and
// errors and writes them out at exit. What this shows: the placement of nodes on the device, the copies at the
// boundaries, the weight arena, per-run memory and streams, profiling rows, error handling and the absence of leaks,
// and that the CUDA operators' parameters give the CPU engine's results bit for bit. What it cannot show: that the
// .cu kernels do what the contract says on a real GPU (test/native/cuda_kernels_test.cc does, where there is one).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildInfo } from '../dist/cjs/index.js';
import { MNIST8_PATH, OCR_MODELS, REPO_ROOT } from './helpers/shared';

interface Row {
  node: string;
  op: string;
  device: string;
  precision: string;
  kernel: string;
  boundary: boolean;
  fused: boolean;
  deviceReason?: string;
}
interface Stats {
  allocs: number;
  frees: number;
  liveAllocs: number;
  liveBytes: number;
  launches: number;
  launchesByKernel: Record<string, number>;
  liveStreams: number;
  allocFailures: number;
  errors: number;
  firstError: string;
}

const canBuild = spawnSync('sh', ['-c', 'command -v g++'], { stdio: 'ignore' }).status === 0;
// Without embedded kernels (a build without nvcc) CUDA is never available, whatever the driver.
const ready = () => canBuild && buildInfo().cuda.kernels;

let dir = '';
let lib = '';
beforeAll(() => {
  if (!canBuild) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-cuda-emu-'));
  lib = path.join(dir, 'libcuda.so.1');
  const r = spawnSync(
    'g++',
    ['-shared', '-fPIC', '-O2', '-I', path.join(REPO_ROOT, 'native'), '-o', lib, path.join(REPO_ROOT, 'test/native/fake_libcuda.cc')],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function child(args: string[], env: Record<string, string> = {}): { out: Record<string, unknown>; stats: Stats } {
  const statsFile = path.join(dir, `stats-${args.join('-').replace(/[^A-Za-z0-9-]/g, '_').slice(-40)}.json`);
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'test/helpers/cuda-child.cjs'), ...args], {
    env: { ...process.env, INT8RT_LIBCUDA: lib, FAKE_CUDA_STATS_FILE: statsFile, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  expect(r.status, r.stderr + r.stdout.slice(-2000)).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats;
  return { out, stats };
}

/** Every device allocation freed, every stream destroyed, and no invalid access or call seen by the emulator. */
function expectClean(stats: Stats) {
  expect(stats.errors, stats.firstError).toBe(0);
  expect(stats.liveAllocs).toBe(0);
  expect(stats.liveBytes).toBe(0);
  expect(stats.liveStreams).toBe(0);
  expect(stats.frees).toBe(stats.allocs);
}

const executed = (rows: Row[]) => rows.filter((r) => !r.fused && !r.boundary && !/^folded/.test(r.deviceReason ?? ''));

describe('CUDA execution on the emulated driver', () => {
  test('MNIST-8 int8: every node on the device, one copy in and one out, the CPU results bit for bit', () => {
    if (!ready() || !fs.existsSync(MNIST8_PATH)) return;
    const { out, stats } = child(['mnist', MNIST8_PATH]);
    expect(out.device).toBe('cuda');
    const rows = out.rows as Row[];
    for (const r of executed(rows)) {
      expect(r.device, `${r.node} (${r.op}): ${r.deviceReason}`).toBe('cuda');
      expect(r.precision).toBe('int8');
      expect(r.kernel).toMatch(/_cuda/);
    }
    for (const r of rows.filter((x) => x.fused)) expect(r.device).toBe('cuda');
    const copies = rows.filter((r) => r.boundary && /^Memcpy/.test(r.op));
    expect(copies.map((r) => r.op).sort()).toEqual(['MemcpyToDevice', 'MemcpyToHost']);
    const cmp = out.compare as { same: number; total: number };
    expect(cmp.total).toBe(300 * 10);
    expect(cmp.same).toBe(cmp.total);
    expect(out.concurrentSame).toBe(8);
    expect((out.memory as { deviceWeights: number }).deviceWeights).toBeGreaterThan(5000);
    // The profile has a row per executed step, copies included, all on the device.
    const profile = out.profile as { node: string; op: string; device: string; boundary: boolean; meanMs: number }[];
    expect(profile.filter((r) => /^Memcpy/.test(r.op)).length).toBe(2);
    for (const r of profile) expect(r.device).toBe('cuda');
    expect(stats.launchesByKernel.qgemm_s8_imma_128x128_im2col).toBeGreaterThan(0);
    expect(stats.launchesByKernel.maxpool_s8).toBeGreaterThan(0);
    expectClean(stats);
  });

  test('fp32 MNIST-8: MatMul and Add on the device, Conv and MaxPool (no fp32 CUDA kernels) on the CPU', () => {
    if (!ready() || !fs.existsSync(MNIST8_PATH)) return;
    const { out, stats } = child(['fp32', MNIST8_PATH]);
    const rows = executed(out.rows as Row[]);
    for (const r of rows) {
      if (r.op === 'MatMul' || (r.op === 'Add' && !r.fused && r.node === 'Plus214')) {
        expect(r.device, r.node).toBe('cuda');
        expect(r.kernel).toMatch(/_f32_cuda$/);
      } else {
        expect(r.device, r.node).toBe('cpu');
        // A fused row carries its host's reason; a view (Reshape) follows its input, which is on the CPU.
        expect(r.deviceReason).toMatch(/^no CUDA kernel for (Conv|MaxPool) in fp32$|^runs where its input is/);
      }
    }
    // Float sums in another order: within 1e-5 of the largest output, not bit for bit.
    const cmp = out.compare as { maxDiff: number; maxRef: number };
    expect(cmp.maxDiff).toBeLessThanOrEqual(1e-5 * cmp.maxRef);
    expect(stats.launchesByKernel.gemm_f32_tiled_16x16).toBeGreaterThan(0);
    expectClean(stats);
  });

  test('a node pinned to fp32 runs on the CPU between device nodes, with copies around it', () => {
    if (!ready() || !fs.existsSync(MNIST8_PATH)) return;
    const { out, stats } = child(['pinned', MNIST8_PATH]);
    const rows = out.rows as Row[];
    const conv = rows.find((r) => r.node === 'Convolution110')!;
    expect(conv.device).toBe('cpu');
    expect(conv.precision).toBe('fp32');
    expect(conv.deviceReason).toBe('no CUDA kernel for Conv in fp32');
    expect(rows.find((r) => r.node === 'Convolution28')!.device).toBe('cuda');
    expect(rows.filter((r) => r.op === 'MemcpyToHost').length).toBeGreaterThanOrEqual(2);
    expect(rows.filter((r) => r.op === 'MemcpyToDevice').length).toBeGreaterThanOrEqual(2);
    const cmp = out.compare as { same: number; total: number };
    expect(cmp.same).toBe(cmp.total);
    expectClean(stats);
  });

  for (const which of ['cls', 'rec'] as const)
    test(`PP-OCR ${which} int8: mixed placement with reasons, the CPU's results (float parts within 1e-5)`, () => {
      if (!ready() || !fs.existsSync(OCR_MODELS[which])) return;
      const { out, stats } = child(['ocr', OCR_MODELS[which], which]);
      const rows = executed(out.rows as Row[]);
      const onGpu = rows.filter((r) => r.device === 'cuda');
      const onCpu = rows.filter((r) => r.device === 'cpu');
      expect(onGpu.filter((r) => r.op === 'Conv').length).toBeGreaterThan(10);
      for (const r of onCpu) expect(r.deviceReason, r.node).toMatch(/CUDA|^runs where its input is/);
      for (const r of rows.filter((x) => x.op === 'Conv')) expect(r.device, r.node).toBe('cuda');
      // The int8 parts are exact; the float ones (Softmax, and in rec the LayerNorm pattern and attention MatMuls)
      // sum in another order, which may move an int8 code downstream by one step. Same decisions, close values.
      const cmp = out.compare as { same: number; total: number; maxDiff: number; maxRef: number; decisions: string[][] };
      expect(cmp.total).toBeGreaterThan(0);
      expect(cmp.maxDiff).toBeLessThanOrEqual(1e-5 * cmp.maxRef);
      expect(cmp.decisions.length).toBeGreaterThan(0);
      for (const [cpu, gpu] of cmp.decisions) expect(gpu).toBe(cpu);
      if (which === 'cls') {
        // A batch of crops at once gives what the crops give one at a time, on the device.
        expect(out.batchEqualsSingles).toBe(true);
        expect((out.batch as { maxDiff: number; maxRef: number }).maxDiff).toBeLessThanOrEqual(1e-5);
      }
      expect(stats.launchesByKernel.dwconv_s8_direct).toBeGreaterThan(0);
      if (which === 'rec') {
        // Data movement (ops/cuda/movement.cc) runs where its data is: some on the device, and none left on the CPU
        // for want of a kernel (int8 Concat requantizes there, the others gather).
        const moves = rows.filter((r) => ['Transpose', 'Slice', 'Concat'].includes(r.op));
        expect(moves.filter((r) => r.device === 'cuda').length).toBeGreaterThan(0);
        for (const r of moves.filter((x) => x.device === 'cpu'))
          expect(r.deviceReason, r.node).toMatch(/^runs where its input is/);
        // Only the input goes to the device and only the output comes back: the int64 shape arithmetic on the CPU
        // reads dims alone (Shape) or is read on the host (Reshape's shape), and needs no copies.
        const all = out.rows as Row[];
        expect(all.filter((r) => r.op === 'MemcpyToDevice').length).toBe(1);
        expect(all.filter((r) => r.op === 'MemcpyToHost').length).toBe(1);
        const gathers = Object.entries(stats.launchesByKernel).filter(([k]) => k.startsWith('gather_axes_'));
        expect(gathers.reduce((sum, [, v]) => sum + v, 0)).toBeGreaterThan(0);
      }
      expectClean(stats);
    });

  test('device memory running out is ERR_INT8RT_OUT_OF_MEMORY at build or at run, and leaks nothing', () => {
    if (!ready() || !fs.existsSync(MNIST8_PATH)) return;
    const atBuild = child(['oom', MNIST8_PATH], { FAKE_CUDA_MEMORY_LIMIT: '1024' });
    const build = atBuild.out.build as { code: string; message: string };
    expect(build.code).toBe('ERR_INT8RT_OUT_OF_MEMORY');
    expect(build.message).toMatch(/cuMemAlloc of \d+ bytes on CUDA device 0 failed: CUDA_ERROR_OUT_OF_MEMORY/);
    expect(atBuild.stats.allocFailures).toBe(1);
    expectClean(atBuild.stats);
    // Room for the weights (about 9 KB) but not for the activations as well.
    const atRun = child(['oom', MNIST8_PATH], { FAKE_CUDA_MEMORY_LIMIT: '10240' });
    expect(atRun.out.built).toBe(true);
    expect((atRun.out.run as { code: string }).code).toBe('ERR_INT8RT_OUT_OF_MEMORY');
    expect(atRun.stats.allocFailures).toBeGreaterThanOrEqual(1);
    expectClean(atRun.stats);
  });
});
