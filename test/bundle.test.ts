// Model bundles (lib/bundle.ts, native/core/model_bundle.h): MNIST-8 saved as a bundle in fp32 and in int8 builds
// engines whose outputs equal, bit for bit, those of the engines built from the ONNX model with the same options; the
// CLI's `bundle` command writes one; tools/int8rt_run (the C++ runner for machines without Node, built with the
// native tests by scripts/test-native.js) computes the same outputs from .npy inputs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump as dumpNpy } from 'npyjs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { bundleInfo, calibrate, Engine, isBundle, saveBundle, Tensor, type Calibration } from '../dist/cjs/index.js';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH, REPO_ROOT } from './helpers/shared';

const RUNNER = process.env.INT8RT_RUN_BIN ?? path.join(REPO_ROOT, 'build-cmake', 'int8rt_run');
const BIN = path.join(REPO_ROOT, 'bin', 'int8rt.js');
const OUT = 'Plus214_Output_0';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-bundle-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function outputsOf(engine: Engine, digits: Float32Array[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const d of digits) out.push((await engine.run({ Input3: new Tensor('float32', d, [1, 1, 28, 28]) }))[OUT].data as Float32Array);
  return out;
}

function expectSameBits(a: Float32Array[], b: Float32Array[]): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength)).toEqual(
    Buffer.from(a[i].buffer, a[i].byteOffset, a[i].byteLength),
  );
}

/** The float32 data of a v1 .npy file as int8rt_run writes it. */
function readNpyFloat32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  expect(b.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  const hlen = b.readUInt16LE(8);
  expect(b.subarray(10, 10 + hlen).toString('latin1')).toMatch(/'descr': '<f4'/);
  const data = b.subarray(10 + hlen);
  return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

describeShared('model bundles: MNIST-8', [MNIST8_PATH], () => {
  let calibDigits: Float32Array[];
  let testDigits: Float32Array[];
  let calibration: Calibration;
  beforeAll(async () => {
    const { images } = loadDigits();
    calibDigits = images.slice(0, 20);
    testDigits = images.slice(100, 108);
    calibration = await calibrate(
      MNIST8_PATH,
      calibDigits.map((d) => ({ Input3: new Tensor('float32', d, [1, 1, 28, 28]) })),
    );
  });

  test('fp32: an engine from the bundle (bytes or file) computes the ONNX engine\'s outputs bit for bit', async () => {
    const bytes = await saveBundle(MNIST8_PATH);
    expect(isBundle(bytes)).toBe(true);
    const info = bundleInfo(bytes);
    expect(info.precision).toBe('fp32');
    expect(info.modelSha256).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(tmp, 'mnist-fp32.i8rt');
    fs.writeFileSync(file, bytes);
    const ref = await Engine.create(MNIST8_PATH, { intraOpThreads: 1 });
    const fromBytes = await Engine.create(bytes, { intraOpThreads: 1 });
    const fromFile = await Engine.create(file, { intraOpThreads: 1 });
    expect(fromFile.inputs).toEqual(ref.inputs);
    expect(fromFile.outputs).toEqual(ref.outputs);
    const want = await outputsOf(ref, testDigits);
    expectSameBits(want, await outputsOf(fromBytes, testDigits));
    expectSameBits(want, await outputsOf(fromFile, testDigits));
    expect(fromFile.report()).toEqual(ref.report());
    for (const e of [ref, fromBytes, fromFile]) e.release();
  });

  test('int8: the bundle carries the calibration and the plan is the same', async () => {
    const bytes = await saveBundle(MNIST8_PATH, { precision: 'int8', calibration });
    const info = bundleInfo(bytes);
    expect(info.precision).toBe('int8');
    expect(Object.keys(info.ranges).length).toBeGreaterThan(0);
    fs.writeFileSync(path.join(tmp, 'mnist-int8.i8rt'), bytes);
    const ref = await Engine.create(MNIST8_PATH, { intraOpThreads: 1, precision: 'int8', calibration });
    const bundled = await Engine.create(bytes, { intraOpThreads: 1 });
    expect(bundled.report()).toEqual(ref.report());
    expect(bundled.report().some((r) => r.precision === 'int8')).toBe(true);
    expectSameBits(await outputsOf(ref, testDigits), await outputsOf(bundled, testDigits));
    ref.release();
    bundled.release();
  });

  test('nodePrecision and int8-dynamic travel in the bundle', async () => {
    const conv = (await Engine.create(MNIST8_PATH)).report().find((r) => r.op === 'Conv')!.node;
    const opts = { precision: 'int8-dynamic' as const, nodePrecision: { [conv]: 'fp32' as const } };
    const bytes = await saveBundle(MNIST8_PATH, opts);
    expect(bundleInfo(bytes).nodePrecision).toEqual({ [conv]: 'fp32' });
    const ref = await Engine.create(MNIST8_PATH, { intraOpThreads: 1, ...opts });
    const bundled = await Engine.create(bytes, { intraOpThreads: 1 });
    expect(bundled.report()).toEqual(ref.report());
    expect(bundled.report().find((r) => r.node === conv)!.precision).toBe('fp32');
    expectSameBits(await outputsOf(ref, testDigits), await outputsOf(bundled, testDigits));
    ref.release();
    bundled.release();
  });

  test('mistakes: options a bundle fixes, int8 without ranges, corrupt bytes', async () => {
    const bytes = await saveBundle(MNIST8_PATH);
    await expect(Engine.create(bytes, { precision: 'fp16' })).rejects.toMatchObject({
      code: 'ERR_INT8RT_INVALID_ARGUMENT',
      message: expect.stringMatching(/carries its own precision/),
    });
    await expect(saveBundle(MNIST8_PATH, { precision: 'int8' })).rejects.toMatchObject({ code: 'ERR_INT8RT_CALIBRATION' });
    await expect(saveBundle(bytes)).rejects.toMatchObject({ code: 'ERR_INT8RT_INVALID_ARGUMENT' });
    await expect(Engine.create(bytes.slice(0, bytes.length - 100))).rejects.toMatchObject({
      code: 'ERR_INT8RT_MODEL',
      message: expect.stringMatching(/model bundle: .*truncated or corrupt/),
    });
    const v2 = bytes.slice();
    v2[8] = 2;
    await expect(Engine.create(v2)).rejects.toMatchObject({
      code: 'ERR_INT8RT_MODEL',
      message: expect.stringMatching(/format version 2 is not supported/),
    });
  });

  test('CLI: int8rt bundle writes an int8 bundle from a calibration file', async () => {
    const calib = path.join(tmp, 'calib.json');
    fs.writeFileSync(calib, JSON.stringify(calibration.toJSON()));
    const out = path.join(tmp, 'cli.i8rt');
    const r = spawnSync(process.execPath, [BIN, 'bundle', MNIST8_PATH, '--calib', calib, '-o', out, '--json'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ precision: 'int8', out });
    const bytes = new Uint8Array(fs.readFileSync(out));
    expect(bundleInfo(bytes).precision).toBe('int8');
    const ref = await Engine.create(MNIST8_PATH, { intraOpThreads: 1, precision: 'int8', calibration });
    const bundled = await Engine.create(out, { intraOpThreads: 1 });
    expectSameBits(await outputsOf(ref, testDigits), await outputsOf(bundled, testDigits));
    ref.release();
    bundled.release();
    // The other commands take a bundle where they take a model; it brings its own precision.
    const run = spawnSync(process.execPath, [BIN, 'run', out, '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const rerun = spawnSync(process.execPath, [BIN, 'run', out, '--calib', calib], { encoding: 'utf8' });
    expect(rerun.status).toBe(2);
    expect(rerun.stderr).toMatch(/carries its own calibration/);
    const bad = spawnSync(process.execPath, [BIN, 'bundle', MNIST8_PATH, '-p', 'int8', '-o', out], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^int8rt: error: bundle with precision int8 needs --calib/);
  });

  const haveRunner = fs.existsSync(RUNNER);
  if (!haveRunner)
    console.log(`bundle.test: int8rt_run not built at ${RUNNER} (npm run test:native builds it): its test is skipped`);
  test.skipIf(!haveRunner)('int8rt_run (C++, no Node) computes the same outputs from .npy files', async () => {
    for (const precision of ['fp32', 'int8'] as const) {
      const bundle = path.join(tmp, `run-${precision}.i8rt`);
      fs.writeFileSync(bundle, await saveBundle(MNIST8_PATH, { precision, calibration }));
      const ref = await Engine.create(MNIST8_PATH, { intraOpThreads: 1, precision, calibration });
      const want = await outputsOf(ref, testDigits.slice(0, 3));
      ref.release();
      for (let i = 0; i < 3; i++) {
        const input = path.join(tmp, `digit${i}.npy`);
        fs.writeFileSync(input, Buffer.from(dumpNpy(testDigits[i], [1, 1, 28, 28])));
        const dir = fs.mkdtempSync(path.join(tmp, 'out-'));
        const r = spawnSync(RUNNER, [bundle, '--input', `Input3=${input}`, '--output-dir', dir, '--threads', '1', '--repeat', '2'], {
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`precision ${precision}`));
        expect(r.stdout).toMatch(/runs: 2, min [\d.]+ ms/);
        expectSameBits([want[i]], [readNpyFloat32(path.join(dir, `${OUT}.npy`))]);
      }
    }
    const r = spawnSync(RUNNER, [MNIST8_PATH], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not an int8rt bundle/);
  });
});
