// The int8rt command line, tested by running the real binary (node bin/int8rt.js): every command's help, JSON
// output, results that agree with the library, and the error paths (missing file, bad flag, bad value, wrong tensor
// file, int8 without a calibration) that must end in one line on stderr and a nonzero exit code.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump as dumpNpy } from 'npyjs';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Engine, Tensor } from '../dist/cjs/index.js';
import { uniform } from './helpers/data';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH, OCR_MODELS, REPO_ROOT } from './helpers/shared';

const BIN = path.join(REPO_ROOT, 'bin', 'int8rt.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, INT8RT_DEBUG: '' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without waiting: independent error cases run side by side. */
function cliAsync(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, INT8RT_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs every case at once, then checks each with expectError. */
async function expectErrors(cases: [string[], number, RegExp][]): Promise<void> {
  const results = await Promise.all(cases.map(([args]) => cliAsync(...args)));
  results.forEach((r, i) => expectError(r, cases[i][1], cases[i][2]));
}

/** Exit code `code`, exactly one line on stderr saying `int8rt: error: ...` that matches `pattern`, no stack. */
function expectError(r: Result, code: number, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(r.code, r.stderr).toBe(code);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^int8rt: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-cli-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeNpy(file: string, data: Float32Array | Float64Array, dims: number[]): string {
  fs.writeFileSync(file, Buffer.from(dumpNpy(data, dims)));
  return file;
}

describe('int8rt: help, version, doctor', () => {
  test('--help lists every command; each command has --help and --json', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['run', 'calibrate', 'profile', 'report', 'export-qdq', 'bundle', 'doctor']) {
      expect(r.stdout).toContain(c);
      const h = cli(c, '--help');
      expect(h.code, c).toBe(0);
      expect(h.stdout).toContain(`Usage: int8rt ${c}`);
      expect(h.stdout).toContain('--json');
    }
    expect(cli('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('doctor prints the CPU, its int8 features, versions and kernels; --json parses', () => {
    const r = cli('doctor');
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['native build', 'Node.js', 'CPU', 'int8 features', 'ISA in use', 'CUDA', 'kernels cpu int8'])
      expect(r.stdout).toContain(key);
    const j = JSON.parse(cli('doctor', '--json').stdout);
    expect(j.node.version).toBe(process.version);
    expect(typeof j.cpu.features.avx2).toBe('boolean');
    expect(j.nativeBuild).toMatch(/build/);
    expect(j.kernels.some((k: { precision: string }) => k.precision === 'cpu int8')).toBe(true);
  });

  test('usage mistakes: unknown command, unknown option, bad value', async () => {
    await expectErrors([
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [['doctor', '--bogus'], 2, /unknown option '--bogus'/],
      [['run', OCR_MODELS.det, '--iterations', 'lots'], 2, /--iterations.*must be an integer/],
      [['run', OCR_MODELS.det, '--precision', 'int4'], 2, /must be one of fp32, fp16, int8, int8-dynamic/],
      [['run'], 2, /missing required argument 'model'/],
    ]);
    const j = cli('doctor', '--bogus', '--json');
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe('commander.unknownOption');
  });

  test('missing and unreadable model files', async () => {
    const junk = path.join(tmp, 'junk.onnx');
    fs.writeFileSync(junk, 'not a model');
    await expectErrors([
      [['run', path.join(tmp, 'nope.onnx')], 1, /model file '.*nope\.onnx' does not exist/],
      [['profile', junk], 1, /not a valid ONNX model/],
    ]);
    const j = cli('run', path.join(tmp, 'nope.onnx'), '--json');
    expect(JSON.parse(j.stdout).error.message).toMatch(/does not exist/);
  });

  test('PP-OCRv4 det: symbolic dims need --shape; with it, run and profile work', async () => {
    await expectErrors([
      [['run', OCR_MODELS.det], 2, /input 'x' has symbolic dims .*: pass --shape x=/],
      [['run', OCR_MODELS.det, '--shape', 'x=1x3x32'], 2, /--shape x: the input has rank 4/],
    ]);
    const r = cli('run', OCR_MODELS.det, '--shape', 'x=1x3x64x64', '-n', '2', '-t', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.outputs[0].dims).toEqual([1, 1, 64, 64]);
    expect(j.inputs[0].source).toMatch(/random/);
    expect(j.latencyMs.runs).toBe(2);
    const p = cli('profile', OCR_MODELS.det, '--shape', 'x=1x3x64x64', '-n', '2', '--warmup', '0', '--top', '5');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^ch_PP-OCRv4_det_infer\.onnx: fp32/);
    expect(p.stdout).toMatch(/more row\(s\) \(--top 0 prints all\)/);
    expect(p.stdout).toMatch(/operators: .* ms per run/);
  });
});

describeShared('int8rt with MNIST-8', [MNIST8_PATH], () => {
  let digits: Float32Array[];
  beforeAll(() => {
    const { images } = loadDigits();
    digits = [0, 1000, 2000, 3000, 4000, 5000].map((i) => images[i]);
  });

  test('run: .npy and .pb inputs give the outputs the library gives', async () => {
    const npy = writeNpy(path.join(tmp, 'digit.npy'), digits[0], [1, 1, 28, 28]);
    const pb = path.join(tmp, 'digit.pb');
    const raw = new Uint8Array(digits[1].buffer, digits[1].byteOffset, digits[1].byteLength);
    fs.writeFileSync(
      pb,
      onnx.TensorProto.encode({ name: 'Input3', dataType: onnx.TensorProto.DataType.FLOAT, dims: [1, 1, 28, 28], rawData: raw }).finish(),
    );
    const engine = await Engine.create(MNIST8_PATH);
    for (const [file, digit] of [[npy, digits[0]], [pb, digits[1]]] as const) {
      const r = cli('run', MNIST8_PATH, '--input', `Input3=${file}`, '-n', '1', '--json');
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.inputs[0]).toMatchObject({ name: 'Input3', source: file, dims: [1, 1, 28, 28] });
      const want = (await engine.run({ Input3: new Tensor('float32', digit, [1, 1, 28, 28]) })).Plus214_Output_0
        .data as Float32Array;
      expect(j.outputs[0].name).toBe('Plus214_Output_0');
      expect(j.outputs[0].first).toEqual(Array.from(want.slice(0, 8)));
    }
    engine.release();
    // The name may be left out for a one-input model; text output names the output and the latency.
    const t = cli('run', MNIST8_PATH, '-i', npy, '--save', path.join(tmp, 'out'));
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/Plus214_Output_0\s+float32\s+1x10/);
    expect(t.stdout).toMatch(/latency: first run [\d.]+ ms; 10 run\(s\): mean/);
    expect(fs.existsSync(path.join(tmp, 'out', 'Plus214_Output_0.npy'))).toBe(true);
  });

  test('run: float64 .npy is narrowed with a note; wrong tensor files fail in one line', async () => {
    const f64 = writeNpy(path.join(tmp, 'digit64.npy'), Float64Array.from(digits[0]), [1, 1, 28, 28]);
    const r = cli('run', MNIST8_PATH, '-i', f64, '-n', '0');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("input 'Input3': float64 data converted to float32");

    const text = path.join(tmp, 'text.npy');
    fs.writeFileSync(text, 'hello, not numpy');
    const garbage = path.join(tmp, 'garbage.pb');
    fs.writeFileSync(garbage, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    const txt = path.join(tmp, 'a.txt');
    fs.writeFileSync(txt, '1 2 3');
    const wrong = writeNpy(path.join(tmp, 'wrong.npy'), new Float32Array(10), [1, 10]);
    await expectErrors([
      [['run', MNIST8_PATH, '-i', text], 1, /'.*text\.npy' is not a tensor int8rt can read as \.npy/],
      [['run', MNIST8_PATH, '-i', garbage], 1, /is not a tensor int8rt can read as \.pb/],
      [['run', MNIST8_PATH, '-i', path.join(tmp, 'absent.npy')], 1, /tensor file '.*absent\.npy' does not exist/],
      [['run', MNIST8_PATH, '-i', txt], 1, /must be \.npy .* or \.pb/],
      [['run', MNIST8_PATH, '-i', wrong], 1, /input 'Input3' must have rank 4/],
      [['run', MNIST8_PATH, '-i', `image=${wrong}`], 2, /the model has no input 'image'; its inputs are 'Input3'/],
      [['run', MNIST8_PATH, '--precision', 'int8'], 2, /needs --calib <file>/],
    ]);
  });

  test('calibrate (tensors and images), report, profile with HTML and trace', async () => {
    const data = path.join(tmp, 'calib-npy');
    fs.mkdirSync(data);
    digits.forEach((d, i) => writeNpy(path.join(data, `digit${i}.npy`), d, [1, 1, 28, 28]));
    fs.writeFileSync(path.join(data, 'README'), 'not a sample');
    const calib = path.join(tmp, 'mnist.calib');
    const c = cli('calibrate', MNIST8_PATH, '--data', data, '--out', calib, '--method', 'percentile', '--json');
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ samples: 6, method: 'percentile', format: 'trt' });
    expect(c.stderr).toContain('ignored 1 entry');
    expect(fs.readFileSync(calib, 'utf8')).toMatch(/^TRT-\d+-LegacyCalibration\n/);

    // The same digits as 8-bit PNGs (pixels x/255 -> the model's 0..1 range: mean 0, std 1).
    const imgs = path.join(tmp, 'calib-png');
    fs.mkdirSync(imgs);
    for (const [i, d] of digits.entries())
      await sharp(Buffer.from(d.map((v) => Math.round(v * 255))), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toFile(path.join(imgs, `d${i}.png`));
    const calibJson = path.join(tmp, 'mnist.calib.json');
    const ci = cli('calibrate', MNIST8_PATH, '--data', imgs, '--out', calibJson, '--method', 'minmax');
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stdout).toMatch(/calibrated \d+ tensors of mnist-8\.onnx on 6 sample\(s\) with minmax/);
    const json = JSON.parse(fs.readFileSync(calibJson, 'utf8'));
    expect(json.format).toBe('int8rt-calibration');
    // PNGs hold the digits exactly (8-bit pixels), so the input's range is the largest pixel.
    expect(json.ranges.Input3).toBeCloseTo(Math.max(...digits.map((d) => Math.max(...d))), 5);

    expectError(cli('calibrate', MNIST8_PATH, '--data', path.join(tmp, 'none'), '--out', calib), 1, /data folder '.*none' does not exist/);
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    await expectErrors([
      [['calibrate', MNIST8_PATH, '--data', empty, '--out', calib], 1, /holds no samples/],
      [['calibrate', MNIST8_PATH, '--data', data], 2, /required option '-o, --out <file>' not specified/],
      [['calibrate', MNIST8_PATH, '--data', data, '--out', calib, '--method', 'magic'], 2, /must be one of entropy/],
    ]);
    expectError(
      cli('calibrate', MNIST8_PATH, '--data', imgs, '--out', calib, '--size', '32x32'),
      2,
      /--size 32x32: input 'Input3' is fixed at 28x28/,
    );

    const rep = cli('report', MNIST8_PATH, '--calib', calib);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/Convolution28\s+Conv\s+int8/);
    expect(rep.stdout).toMatch(/Input3::quantize\s+QuantizeLinear\s+fp32/);
    expect(rep.stdout).toMatch(/12 ONNX node\(s\): 1 folded at build, 11 int8; 2 quantize\/dequantize boundary row\(s\)/);
    const repJson = JSON.parse(cli('report', MNIST8_PATH, '--calib', calibJson, '--json').stdout);
    expect(repJson.rows.find((r: { node: string }) => r.node === 'Times212').precision).toBe('int8');
    await expectErrors([
      [['report', MNIST8_PATH], 2, /report with precision int8 needs --calib/],
      [['report', MNIST8_PATH, '--calib', path.join(tmp, 'absent.calib')], 1, /calibration file .* does not exist/],
    ]);
    const otherCalib = path.join(tmp, 'other.calib');
    fs.writeFileSync(otherCalib, 'TRT-8601-EntropyCalibration2\nsome_tensor: 3c010a14\n');
    expectError(cli('report', MNIST8_PATH, '--calib', otherCalib), 1, /names 1 tensor\(s\) this model does not have/);

    const html = path.join(tmp, 'report.html');
    const trace = path.join(tmp, 'trace.json');
    const p = cli('profile', MNIST8_PATH, '--calib', calib, '-n', '3', '--warmup', '1', '--html', html, '--trace', trace);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/fp32 against int8/);
    expect(p.stdout).toMatch(/node\s+op\s+fp32 ms\s+int8 ms\s+speedup/);
    expect(p.stdout).toMatch(/Input3::quantize\s+QuantizeLinear \(boundary\)/);
    expect(p.stdout).toMatch(/operators: fp32 [\d.]+ ms, int8 [\d.]+ ms per run/);
    const page = fs.readFileSync(html, 'utf8');
    expect(page).toContain('<svg id="chart"');
    expect(page).not.toMatch(/\b(src|href)\s*=|@import|url\(/);
    const events = JSON.parse(fs.readFileSync(trace, 'utf8')).traceEvents as { ph: string; cat?: string; pid: number }[];
    const ops = events.filter((e) => e.ph === 'X' && e.cat === 'op');
    const pj = JSON.parse(cli('profile', MNIST8_PATH, '-p', 'int8', '--calib', calib, '-n', '2', '--warmup', '0', '--json').stdout);
    expect(pj.kind).toBe('profile');
    expect(pj.rows.length).toBeGreaterThan(5);
    expect(ops.filter((e) => e.pid === 2)).toHaveLength(pj.rows.length * 3);
    await expectErrors([
      [['profile', MNIST8_PATH, '-p', 'fp32,int8'], 2, /profile with precision int8 needs --calib/],
      [['profile', MNIST8_PATH, '-p', 'fp32,fp32'], 2, /one precision or two different ones/],
      [['profile', MNIST8_PATH, '--html', path.join(tmp, 'no', 'dir.html')], 1, /--html .*: folder .* does not exist/],
    ]);
  });

  test('export-qdq: writes a QDQ model int8rt and onnxruntime load, in each layout', async () => {
    const calib = path.join(tmp, 'mnist-qdq.calib');
    const data = path.join(tmp, 'calib-qdq');
    fs.mkdirSync(data);
    writeNpy(path.join(data, 'a.npy'), uniform([1, 1, 28, 28], 1), [1, 1, 28, 28]);
    expect(cli('calibrate', MNIST8_PATH, '--data', data, '--out', calib).code).toBe(0);
    const out = path.join(tmp, 'mnist.qdq.onnx');
    for (const layout of ['int8rt', 'exact']) {
      const r = cli('export-qdq', MNIST8_PATH, '--calib', calib, '--out', out, '--layout', layout);
      expect(r.code, r.stderr).toBe(0);
      const engine = await Engine.create(out);
      expect(engine.inputs[0].name).toBe('Input3');
      expect(engine.report().some((row) => row.op === 'QuantizeLinear' || row.precision === 'int8')).toBe(true);
      engine.release();
    }
    expectError(cli('export-qdq', MNIST8_PATH, '--calib', calib, '--out', out, '--layout', 'tensorrt'), 2, /must be one of int8rt, exact, onnxruntime/);
    expectError(cli('export-qdq', MNIST8_PATH, '--out', out), 2, /required option '-c, --calib <file>'/);
  });
});
