// CUDA device selection without a GPU: cudaInfo(), the device/deviceId options and their errors, the CPU fallback
// with its reason in the report, and the build's embedded kernels. The CUDA path itself (driver present, device
// opened, kernels loaded, per-operator fallback) runs against the stand-in libcuda of test/native/fake_libcuda.cc,
// compiled here and loaded through INT8RT_LIBCUDA in child processes (the driver is probed once per process).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildInfo, cudaInfo, Engine, Int8rtError, Tensor } from '../dist/cjs/index.js';
import { describeShared, MNIST8_PATH, REPO_ROOT } from './helpers/shared';

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(Int8rtError);
    return { code: (e as Int8rtError).code, message: (e as Error).message };
  }
  return { message: 'no error' };
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const KERNEL_DIR = path.join(REPO_ROOT, 'native', 'kernels', 'cuda');
const hasKernelSources = fs.existsSync(KERNEL_DIR) && fs.readdirSync(KERNEL_DIR).some((f) => f.endsWith('.cu'));
const hasNvcc = onPath('nvcc') || fs.existsSync('/usr/local/cuda/bin/nvcc');

describe('cudaInfo and the embedded kernels', () => {
  test('cudaInfo() says whether CUDA is usable and, when not, why', () => {
    const info = cudaInfo();
    expect(typeof info.available).toBe('boolean');
    expect(info.library).toBe(process.env.INT8RT_LIBCUDA || 'libcuda.so.1');
    if (!info.available) expect(info.reason.length).toBeGreaterThan(10);
    else expect(info.devices.some((d) => d.runnable)).toBe(true);
    expect(info.embedded.bytes).toBe(buildInfo().cuda.kernels ? info.embedded.bytes : 0);
  });

  test('buildInfo().cuda: the kernels are embedded when the build had nvcc and .cu files', () => {
    const { cuda } = buildInfo();
    if (hasNvcc && hasKernelSources && process.env.INT8RT_CUDA !== 'off') {
      expect(cuda.kernels).toBe(true);
      expect([...cuda.targets].sort()).toEqual(
        ['compute_90', 'sm_75', 'sm_80', 'sm_86', 'sm_87', 'sm_89', 'sm_90'].sort(),
      );
      expect(cudaInfo().embedded.minDriverVersion).toBeGreaterThanOrEqual(12000);
    } else {
      expect(cuda.kernels).toBe(false);
      expect(cudaInfo().embedded.note).toMatch(/this build has no CUDA kernels/);
    }
  });
});

describeShared('device selection (MNIST-8)', [MNIST8_PATH], () => {
  test('bad device and deviceId values are ERR_INT8RT_INVALID_ARGUMENT', async () => {
    const bad: [unknown, unknown][] = [['gpu', undefined], [1, undefined], ['cuda', -1], ['auto', 'x'], ['auto', 1.5]];
    for (const [device, deviceId] of bad) {
      const r = await codeOf(Engine.create(MNIST8_PATH, { device, deviceId } as never));
      expect(r.code, `${String(device)} ${String(deviceId)}: ${r.message}`).toBe('ERR_INT8RT_INVALID_ARGUMENT');
    }
    // deviceId with device 'cpu' is accepted (and ignored).
    const e = await Engine.create(MNIST8_PATH, { device: 'cpu', deviceId: 3 });
    expect(e.device).toBe('cpu');
    expect(e.report().every((r) => r.deviceReason === undefined)).toBe(true);
    e.release();
  });

  test("device 'cuda' without CUDA: ERR_INT8RT_CUDA_UNAVAILABLE with the exact reason", async () => {
    const info = cudaInfo();
    if (info.available) return; // a GPU machine: covered by the CUDA suites
    const r = await codeOf(Engine.create(MNIST8_PATH, { device: 'cuda' }));
    expect(r.code).toBe('ERR_INT8RT_CUDA_UNAVAILABLE');
    expect(r.message).toBe(`CUDA is not available: ${info.reason}`);
  });

  test("device 'auto' without CUDA runs MNIST on the CPU and says why in the report", async () => {
    const info = cudaInfo();
    if (info.available) return;
    const auto = await Engine.create(MNIST8_PATH, { device: 'auto' });
    const cpu = await Engine.create(MNIST8_PATH);
    expect(auto.device).toBe('cpu');
    expect(auto.deviceReason).toBe(`CUDA is not available: ${info.reason}`);
    const rows = auto.report();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.device).toBe('cpu');
      expect(row.deviceReason).toBe(auto.deviceReason);
    }
    const x = new Tensor('float32', new Float32Array(28 * 28).map((_, i) => (i % 29) / 29), [1, 1, 28, 28]);
    const a = (await auto.run({ Input3: x })).Plus214_Output_0.data as Float32Array;
    const b = (await cpu.run({ Input3: x })).Plus214_Output_0.data as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    auto.release();
    cpu.release();
  });
});

// A child process with INT8RT_LIBCUDA set to the stand-in driver and FAKE_CUDA_* switches; prints one JSON line.
describe('with a stand-in libcuda (test/native/fake_libcuda.cc)', () => {
  let dir = '';
  let lib = '';
  const canBuild = onPath('g++');
  beforeAll(() => {
    if (!canBuild) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-fake-cuda-'));
    lib = path.join(dir, 'libcuda.so.1');
    const src = path.join(REPO_ROOT, 'test/native/fake_libcuda.cc');
    const r = spawnSync('g++', ['-shared', '-fPIC', '-O1', '-I', path.join(REPO_ROOT, 'native'), '-o', lib, src], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function child(env: Record<string, string>, body: string): Record<string, unknown> {
    const script = `
      const m = require(${JSON.stringify(path.join(REPO_ROOT, 'dist/cjs/index.js'))});
      const out = {};
      const attempt = async (name, f) => {
        try { out[name] = await f(); } catch (e) { out[name] = { code: e.code, message: e.message }; }
      };
      (async () => { ${body}; console.log(JSON.stringify(out)); })();`;
    const r = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, INT8RT_LIBCUDA: lib, ...env },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  }

  const mnist = JSON.stringify(MNIST8_PATH);
  const ready = () => canBuild && buildInfo().cuda.kernels && fs.existsSync(MNIST8_PATH);

  test("a usable driver: device 'cuda' opens it; fp32 MNIST's nodes without CUDA kernels run on the CPU, each saying why", () => {
    if (!ready()) return;
    const out = child(
      {},
      `out.info = m.cudaInfo();
       await attempt('engine', async () => {
         const e = await m.Engine.create(${mnist}, { device: 'cuda' });
         const x = new m.Tensor('float32', new Float32Array(784), [1, 1, 28, 28]);
         const y = await e.run({ Input3: x });
         const r = { device: e.device, reason: e.deviceReason, rows: e.report(), dims: y.Plus214_Output_0.dims };
         e.release();
         return r;
       });
       await attempt('badId', () => m.Engine.create(${mnist}, { device: 'auto', deviceId: 1 }));`,
    );
    const info = out.info as ReturnType<typeof cudaInfo>;
    expect(info.available, info.reason).toBe(true);
    expect(info.driverVersion).toBe(13000);
    expect(info.devices).toEqual([
      {
        ordinal: 0,
        name: 'Fake GPU 0',
        computeCapability: '8.6',
        multiprocessors: 46,
        totalMemory: 8 * 2 ** 30,
        runnable: true,
        usesPtx: false,
        reason: '',
      },
    ]);
    const engine = out.engine as { device: string; reason: string; rows: { op: string; device: string; deviceReason?: string }[]; dims: number[] };
    expect(engine.device).toBe('cuda');
    expect(engine.reason).toBe('');
    expect(engine.dims).toEqual([1, 10]);
    for (const row of engine.rows) {
      if (row.device === 'cuda') {
        expect(['MatMul', 'Add', 'MemcpyToDevice', 'MemcpyToHost']).toContain(row.op);
        continue;
      }
      // A fused row carries its host's reason (an Add fused into a Conv: "no CUDA kernel for Conv in fp32").
      expect(row.deviceReason).toMatch(/^no CUDA kernel for \w+ in fp32$|^folded away at build|^runs where its input is/);
    }
    expect(engine.rows.filter((r) => r.device === 'cpu' && r.op === 'Conv').length).toBe(2);
    expect(out.badId).toEqual({
      code: 'ERR_INT8RT_INVALID_ARGUMENT',
      message: 'deviceId 1 is out of range: this machine has 1 CUDA device(s)',
    });
  });

  test("a failed module load: 'cuda' throws it, 'auto' falls back with it", () => {
    if (!ready()) return;
    const out = child(
      { FAKE_CUDA_MODULE_RESULT: '209' },
      `await attempt('cuda', () => m.Engine.create(${mnist}, { device: 'cuda' }));
       await attempt('auto', async () => {
         const e = await m.Engine.create(${mnist}, { device: 'auto' });
         return { device: e.device, reason: e.deviceReason };
       });`,
    );
    const reason =
      'loading the embedded CUDA kernels on CUDA device 0 (Fake GPU 0) (compute capability 8.6, driver 13.0) failed: ' +
      'cuModuleLoadData: CUDA_ERROR_NO_BINARY_FOR_GPU (no kernel image is available for execution on the device)';
    expect(out.cuda).toEqual({ code: 'ERR_INT8RT_CUDA_UNAVAILABLE', message: reason });
    expect(out.auto).toEqual({ device: 'cpu', reason });
  });

  test('cuInit failure and an old driver are named', () => {
    if (!ready()) return;
    const init = child({ FAKE_CUDA_INIT_RESULT: '100' }, 'out.info = m.cudaInfo()').info as ReturnType<typeof cudaInfo>;
    expect(init.reason).toBe('cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)');
    const old = child({ FAKE_CUDA_DRIVER_VERSION: '12040' }, 'out.info = m.cudaInfo()').info as ReturnType<typeof cudaInfo>;
    expect(old.available).toBe(false);
    expect(old.reason).toMatch(/^the CUDA driver 12\.4 \(12040\) is older than the embedded kernels need: 13\.0/);
  });
});
