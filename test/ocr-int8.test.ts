// PaddleOCR in static int8: PP-OCRv4 recognition and the mobile v2.0 direction classifier, calibrated on rendered text
// lines, against int8rt's own fp32 engine on other lines.
//
// Data: deterministic English-like lines (words, capitalised names, numbers, prices, dates, punctuation) rendered by
// examples/ocr-lib.js in the five DejaVu faces of fonts-dejavu-core at five sizes, cropped as a detector would box
// them. 120 lines (seed 1) are evaluated by rec; the first 100 of them, each upright and turned by 180 degrees, by
// cls. 60 other lines (seed 2) calibrate (cls: every other one turned). For rec, the text decoded by greedy CTC over
// ppocr_keys_v1.txt must be the same, inner spaces included (a space read in the margin before or after the ink is
// not counted: PaddleOCR's own RecMetric ignores every space); for cls, the predicted direction. How often each engine
// reads the rendered truth is logged and asserted too: int8 must be about as accurate as fp32.
//
// Calibration method: 'percentile' (99.99). The default 'entropy' gives unusable ranges on these two models today: its
// KL threshold settles on a spike of the histogram (the constant response to the flat background, hard-swish's
// minimum at -0.375) and clips everything past it, e.g. the first Conv's output at 3.2 of 25.7 (10% of its values),
// and rec then reads nothing (see README, Known limits). 'mse' is within a point of 'percentile'.
//
// What is asserted is what int8rt reaches today, with a margin for other CPUs (the fp32 reference and the calibration
// run float kernels whose rounding differs per ISA): rec agrees on >= 95% of lines, cls on >= 95% of directions. The
// targets of issue 3 (98% and 99%) are printed beside the measured figures; they are not met robustly yet (rec: 96-98%
// depending on the line set, cls: 96-97%).

import { createRequire } from 'node:module';
import { beforeAll, describe, expect, test } from 'vitest';
import { calibrate, Engine, Tensor, type ReportRow } from '../dist/cjs/index.js';
import { OCR_MODELS } from './helpers/shared';

// The shared OCR pre- and post-processing (CommonJS, also used by examples/demo.js).
interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}
interface Input {
  data: Float32Array;
  dims: number[];
}
interface Output {
  data: Float32Array;
  dims: readonly number[];
}
interface LineSpec {
  text: string;
  size: number;
  weight: string;
  family: string;
}
interface OcrLib {
  checkFonts(): Promise<void>;
  loadKeys(): string[];
  textLines(count: number, seed: number): LineSpec[];
  renderLine(text: string, options: Partial<LineSpec>): Promise<Rgb>;
  rotate180(img: Rgb): Rgb;
  recInput(img: Rgb): Promise<Input>;
  clsInput(img: Rgb): Promise<Input>;
  ctcDecode(out: Output, keys: string[]): { text: string; confidence: number };
  clsDecode(out: Output): { label: '0' | '180'; score: number };
}
const ocr = createRequire(import.meta.url)('../examples/ocr-lib.js') as OcrLib;

const THREADS = 2;
const REC_LINES = 120;
const CLS_LINES = 100;
const CALIB_LINES = 60;
const METHOD = 'percentile';
const REC_MIN_AGREEMENT = 0.95;
const CLS_MIN_AGREEMENT = 0.95;
const REC_TARGET = 0.98;
const CLS_TARGET = 0.99;
// int8 may read the rendered truth on at most this share of the inputs fewer than fp32 does.
const MAX_ACCURACY_LOSS = 0.02;
const MIN_INT8_MACS = 0.99;

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const target = (x: number, t: number) => `target ${pct(t)}: ${x >= t ? 'met' : 'not met'}`;

/** Runs an engine on each input in turn (one run at a time, as a pipeline would per line). */
async function runAll(engine: Engine, inputs: Input[]): Promise<Output[]> {
  const inName = engine.inputs[0].name;
  const outName = engine.outputs[0].name;
  const outs: Output[] = [];
  for (const x of inputs) {
    const r = await engine.run({ [inName]: new Tensor('float32', x.data, x.dims) });
    outs.push({ data: r[outName].data as Float32Array, dims: r[outName].dims });
  }
  return outs;
}

/**
 * The report rows that do not run in int8, grouped by op with their reasons (tensor names elided so that rows with
 * the same cause group): "ReduceMean x10 (no int8 kernel for ReduceMean)". Constants, nodes fused into others and
 * the inserted quantize/dequantize rows are counted apart.
 */
function summariseFloatRows(rows: ReportRow[]): string {
  const byOp = new Map<string, Map<string, number>>();
  let constants = 0;
  let boundaries = 0;
  let tables = 0;
  for (const r of rows) {
    if (r.precision === 'int8' && r.kernel === 'table_s8' && !r.fusedInto) tables++;
    if (r.precision === 'int8' || r.fusedInto) continue;
    if (r.boundary) {
      boundaries++;
      continue;
    }
    if (r.op === 'Constant') {
      constants++;
      continue;
    }
    const why = (r.reason ?? r.note ?? 'no reason given').replace(/'[^']*'/g, "'…'");
    const reasons = byOp.get(r.op) ?? new Map<string, number>();
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
    byOp.set(r.op, reasons);
  }
  const lines = [...byOp.entries()]
    .map(([op, reasons]) => {
      const n = [...reasons.values()].reduce((a, b) => a + b, 0);
      const detail = [...reasons.entries()].map(([why, k]) => (reasons.size > 1 ? `${k}: ${why}` : why)).join('; ');
      return { n, text: `    ${op} x${n} (${detail})` };
    })
    .sort((a, b) => b.n - a.n)
    .map((l) => l.text);
  return [
    `  int8 lookup tables (single ops and fused elementwise chains): ${tables}`,
    `  not int8: ${lines.length ? '' : 'none'}`,
    ...lines,
    `  plus ${constants} Constant node(s) and ${boundaries} inserted QuantizeLinear/DequantizeLinear row(s)`,
  ].join('\n');
}

async function int8Engine(model: string, calib: Input[]) {
  const probe = await Engine.create(model, { intraOpThreads: THREADS });
  const inName = probe.inputs[0].name;
  probe.release();
  const t0 = performance.now();
  const calibration = await calibrate(
    model,
    calib.map((x) => ({ [inName]: new Tensor('float32', x.data, x.dims) })),
    { method: METHOD, intraOpThreads: THREADS },
  );
  const calibMs = performance.now() - t0;
  const engine = await Engine.create(model, { intraOpThreads: THREADS, precision: 'int8', calibration });
  return { engine, calibMs };
}

describe('PP-OCR int8 against fp32 on rendered text lines', () => {
  let keys: string[];
  let recSpecs: LineSpec[];
  let evalImages: Rgb[];
  let calibImages: Rgb[];

  beforeAll(async () => {
    await ocr.checkFonts();
    keys = ocr.loadKeys();
    recSpecs = ocr.textLines(REC_LINES, 1);
    evalImages = await Promise.all(recSpecs.map((l) => ocr.renderLine(l.text, l)));
    calibImages = await Promise.all(ocr.textLines(CALIB_LINES, 2).map((l) => ocr.renderLine(l.text, l)));
  });

  test(`rec (PP-OCRv4): int8 reads the same text as fp32 on >= ${pct(REC_MIN_AGREEMENT)} of lines`, async () => {
    const evalInputs = await Promise.all(evalImages.map((img) => ocr.recInput(img)));
    const calibInputs = await Promise.all(calibImages.map((img) => ocr.recInput(img)));
    const fp32 = await Engine.create(OCR_MODELS.rec, { intraOpThreads: THREADS });
    const { engine: int8, calibMs } = await int8Engine(OCR_MODELS.rec, calibInputs);
    try {
      const t0 = performance.now();
      const textF = (await runAll(fp32, evalInputs)).map((o) => ocr.ctcDecode(o, keys).text);
      const t1 = performance.now();
      const textQ = (await runAll(int8, evalInputs)).map((o) => ocr.ctcDecode(o, keys).text);
      const t2 = performance.now();
      const macs = int8.macs();

      const n = recSpecs.length;
      const lines = recSpecs.map((l, i) => ({ fp32: textF[i], int8: textQ[i], font: `${l.family} ${l.weight} ${l.size}px` }));
      const exactDiffer = lines.filter((d) => d.fp32 !== d.int8);
      const differ = exactDiffer.filter((d) => d.fp32.trim() !== d.int8.trim());
      const agreement = (n - differ.length) / n;
      const rightF = recSpecs.filter((l, i) => textF[i].trim() === l.text).length;
      const rightQ = recSpecs.filter((l, i) => textQ[i].trim() === l.text).length;
      const rightBoth = recSpecs.filter((l, i) => textF[i].trim() === l.text && textQ[i].trim() === l.text).length;
      console.log(
        [
          `PP-OCRv4 rec, ${n} rendered lines (${CALIB_LINES} others calibrated, method '${METHOD}', ${calibMs.toFixed(0)} ms):`,
          `  int8 reads the same text as fp32 on ${pct(agreement)} of lines (${n - differ.length}/${n}; ` +
            `${target(agreement, REC_TARGET)}); counting a space read in the margin as a difference: ` +
            `${pct((n - exactDiffer.length) / n)}`,
          `  reads of the rendered text: fp32 ${rightF}/${n}, int8 ${rightQ}/${n}; of fp32's right reads, int8 ` +
            `reads the same on ${rightBoth}/${rightF}`,
          `  MACs in int8: ${pct(macs.int8 / macs.total)} of ${(macs.total / 1e6).toFixed(0)} M (last line); ` +
            `${n} lines in ${(t1 - t0).toFixed(0)} ms fp32, ${(t2 - t1).toFixed(0)} ms int8`,
          summariseFloatRows(int8.report()),
          ...exactDiffer.slice(0, 20).map((d) =>
            `  ${d.fp32.trim() === d.int8.trim() ? 'margin space' : 'differs     '}: fp32 ${JSON.stringify(d.fp32)} ` +
              `int8 ${JSON.stringify(d.int8)} (${d.font})`),
          ...(exactDiffer.length > 20 ? [`  ... and ${exactDiffer.length - 20} more`] : []),
        ].join('\n'),
      );
      expect(macs.int8 / macs.total).toBeGreaterThanOrEqual(MIN_INT8_MACS);
      expect(agreement, `${differ.length} of ${n} lines read differently`).toBeGreaterThanOrEqual(REC_MIN_AGREEMENT);
      expect(rightQ, 'int8 reads the rendered text as often as fp32').toBeGreaterThanOrEqual(
        rightF - MAX_ACCURACY_LOSS * n,
      );
    } finally {
      fp32.release();
      int8.release();
    }
  });

  test(`cls (mobile v2.0): int8 gives fp32's direction on >= ${pct(CLS_MIN_AGREEMENT)} of lines, upright and turned`, async () => {
    // Each line both ways up; calibration lines alternate.
    const evalInputs: Input[] = [];
    const truth: string[] = [];
    for (const img of evalImages.slice(0, CLS_LINES)) {
      evalInputs.push(await ocr.clsInput(img), await ocr.clsInput(ocr.rotate180(img)));
      truth.push('0', '180');
    }
    const calibInputs = await Promise.all(
      calibImages.map((img, i) => ocr.clsInput(i % 2 ? ocr.rotate180(img) : img)),
    );
    const fp32 = await Engine.create(OCR_MODELS.cls, { intraOpThreads: THREADS });
    const { engine: int8, calibMs } = await int8Engine(OCR_MODELS.cls, calibInputs);
    try {
      const dirF = (await runAll(fp32, evalInputs)).map((o) => ocr.clsDecode(o));
      const dirQ = (await runAll(int8, evalInputs)).map((o) => ocr.clsDecode(o));
      const macs = int8.macs();

      const n = evalInputs.length;
      const differ = dirF
        .map((f, i) => ({ i, f, q: dirQ[i] }))
        .filter((d) => d.f.label !== d.q.label);
      const agreement = (n - differ.length) / n;
      const rightF = dirF.filter((d, i) => d.label === truth[i]).length;
      const rightQ = dirQ.filter((d, i) => d.label === truth[i]).length;
      // Near ties in fp32 flip under any perturbation; logged for context, still counted.
      const nearTies = differ.filter((d) => d.f.score < 0.6).length;
      const unsure = dirF.filter((d) => d.score < 0.6).length;
      const line = (i: number) => `${JSON.stringify(recSpecs[i >> 1].text)} turned ${truth[i]}`;
      console.log(
        [
          `PP-OCR cls, ${CLS_LINES} rendered lines x 2 directions (${CALIB_LINES} others calibrated, method ` +
            `'${METHOD}', ${calibMs.toFixed(0)} ms):`,
          `  int8 gives fp32's direction on ${pct(agreement)} (${n - differ.length}/${n}; ` +
            `${target(agreement, CLS_TARGET)}); right direction: fp32 ${rightF}/${n}, int8 ${rightQ}/${n}`,
          `  fp32 is unsure (p < 0.6) on ${unsure} of the ${n}; ${nearTies} of the ${differ.length} differences are there`,
          `  MACs in int8: ${pct(macs.int8 / macs.total)} of ${(macs.total / 1e6).toFixed(1)} M`,
          summariseFloatRows(int8.report()),
          ...differ.map(
            (d) =>
              `  differs: ${line(d.i)}: fp32 ${d.f.label} (p ${d.f.score.toFixed(3)}), int8 ${d.q.label} (p ${d.q.score.toFixed(3)})`,
          ),
        ].join('\n'),
      );
      expect(macs.int8 / macs.total).toBeGreaterThanOrEqual(MIN_INT8_MACS);
      expect(agreement, `${differ.length} of ${n} directions differ`).toBeGreaterThanOrEqual(CLS_MIN_AGREEMENT);
      expect(rightQ, 'int8 finds the right direction as often as fp32').toBeGreaterThanOrEqual(
        rightF - MAX_ACCURACY_LOSS * n,
      );
    } finally {
      fp32.release();
      int8.release();
    }
  });
});
