#!/usr/bin/env node
// ResNet-50 (architecture of test/models/resnet50.ts, synthetic weights) in int8 on a CUDA GPU: latency at batch 1
// and throughput at batch 32, each the median of timed runs after warm-up, with the placement of the engine (how many
// nodes run on the GPU, the copies) and where the time goes (engine.profile(), device steps timed by CUDA events).
// The reference the project compares with is fp16 PyTorch (cuDNN) on the same architecture with random weights:
// run bench/cuda/torch_resnet50.py on the same machine first and pass its JSON with --torch; the ratios are printed.
//
//   node bench/cuda/resnet50.js [--torch torch.json] [--batches 1,32] [--runs 50] [--device-id 0] [--json out.json]
//
// Without a usable CUDA device it prints the reason and exits 0. Not a test: figures are information.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', '..');

function parseArgs(argv) {
  const o = { batches: [1, 32], runs: 50, deviceId: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--torch') o.torch = value();
    else if (a === '--batches') o.batches = value().split(',').map(Number);
    else if (a === '--runs') o.runs = Number(value());
    else if (a === '--device-id') o.deviceId = Number(value());
    else if (a === '--json') o.json = value();
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.batches.every((b) => Number.isInteger(b) && b > 0)) throw new Error('--batches takes positive integers');
  return o;
}

function registerTypeScript() {
  if (require.extensions['.ts']) return;
  const ts = require('typescript');
  require.extensions['.ts'] = (module, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true },
      fileName: filename,
    });
    module._compile(out.outputText, filename);
  };
}

function noise(n, seed) {
  let s = seed >>> 0;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const m = require(path.join(root, 'dist', 'cjs', 'index.js'));
  const info = m.cudaInfo();
  if (!info.available) {
    console.log(`CUDA unavailable: ${info.reason}`);
    return;
  }
  const dev = info.devices[o.deviceId];
  console.log(`GPU ${o.deviceId}: ${dev.name} (compute capability ${dev.computeCapability}), driver ${info.driverVersion}`);
  registerTypeScript();
  const { makeResNet50 } = require(path.join(root, 'test', 'models', 'resnet50.ts'));
  const torch = o.torch ? JSON.parse(fs.readFileSync(o.torch, 'utf8')) : undefined;
  const results = [];
  // One calibration (batch 1, 8 noise images) serves every batch size: the ranges are per tensor name.
  const model1 = makeResNet50({ seed: 1, batch: 1 });
  const calib = await m.calibrate(
    model1,
    Array.from({ length: 8 }, (_, i) => ({ input: new m.Tensor('float32', noise(3 * 224 * 224, 1000 + i), [1, 3, 224, 224]) })),
    { method: 'percentile' },
  );
  for (const batch of o.batches) {
    const model = makeResNet50({ seed: 1, batch });
    const engine = await m.Engine.create(model, { precision: 'int8', calibration: calib, device: 'cuda', deviceId: o.deviceId });
    const rows = engine.report();
    const onGpu = rows.filter((r) => r.device === 'cuda' && !r.boundary && !r.fusedInto).length;
    const onCpu = rows.filter((r) => r.device === 'cpu' && !r.boundary && !r.fusedInto && !/^folded/.test(r.deviceReason ?? ''));
    const copies = rows.filter((r) => r.boundary && /^Memcpy/.test(r.op)).length;
    const feeds = { input: new m.Tensor('float32', noise(batch * 3 * 224 * 224, 7), [batch, 3, 224, 224]) };
    for (let i = 0; i < 5; i++) await engine.run(feeds);
    const times = [];
    for (let i = 0; i < o.runs; i++) {
      const t0 = process.hrtime.bigint();
      await engine.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const ms = median(times);
    const profile = await engine.profile(feeds, { iterations: 10, warmup: 2 });
    const gpuMs = profile.rows.filter((r) => r.device === 'cuda').reduce((a, r) => a + r.medianMs, 0);
    const r = {
      batch,
      medianMs: ms,
      imagesPerS: (batch * 1000) / ms,
      nodesOnGpu: onGpu,
      nodesOnCpu: onCpu.map((x) => `${x.node} (${x.deviceReason})`),
      copies,
      profiledGpuMs: gpuMs,
      deviceWeights: engine.memory().deviceWeights,
    };
    const ref = torch?.resnet50?.find((t) => t.batch === batch);
    if (ref) r.vsTorchFp16 = ref.medianMs / ms;
    results.push(r);
    console.log(
      `batch ${batch}: ${ms.toFixed(3)} ms median (${r.imagesPerS.toFixed(1)} images/s); ${onGpu} nodes on the GPU, ` +
        `${onCpu.length} on the CPU, ${copies} copies; device steps ${gpuMs.toFixed(3)} ms` +
        (ref ? `; PyTorch fp16 ${ref.medianMs.toFixed(3)} ms -> int8rt is ${r.vsTorchFp16.toFixed(2)}x as fast` : ''),
    );
    for (const c of onCpu) console.log(`  on the CPU: ${c.node} (${c.deviceReason})`);
    engine.release();
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ device: dev, results, torch }, null, 2));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
