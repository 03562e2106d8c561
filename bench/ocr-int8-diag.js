#!/usr/bin/env node
// Where int8 PP-OCR loses accuracy against fp32: a diagnostic for maintainers, not a test and not a benchmark.
//
//   node bench/ocr-int8-diag.js agree    [options]   agreement of int8 with fp32 (text for rec, direction for cls),
//                                                    reads of the rendered truth, output error, int8 MAC share, and
//                                                    the nodes left in fp32 with their reasons
//   node bench/ocr-int8-diag.js tensors  [options]   int8 against fp32 tensor by tensor: every tensor that feeds a
//                                                    Conv/Gemm/MatMul (plus --watch ones) becomes an extra graph
//                                                    output of both engines; prints each one's relative RMS error, the
//                                                    share of that error the per-channel means make (a rounding bias
//                                                    that the next layer adds up coherently), the range and how
//                                                    much of the tensor it clips. Extra outputs stop the fusions
//                                                    around them, so the int8 graph is not quite the one measured.
//   node bench/ocr-int8-diag.js pin      [options]   sensitivity: each Conv/Gemm/MatMul pinned to fp32 in turn (the
//                                                    elementwise nodes after it follow it into fp32); prints the
//                                                    pins that remove the most output error
// Options: --model rec|cls|det (default rec); --method entropy|percentile|mse|minmax (default entropy) and
// --percentile P; --precision int8|int8-dynamic|fp16 (agree, pin); --lines N evaluated lines (default 60; cls runs
// each both ways up, det stacks them three to a page), --calib N calibration lines (default 40), --seed S (evaluated
// lines; calibration lines use S + 1); --top K rows to print (default 25); --pin a,b nodes pinned to fp32 in every
// int8 engine; --alt METHOD:a,b take those tensors' ranges (or 'all') from another method; --watch a,b more tensors
// for 'tensors'; --save-cal FILE / --load-cal FILE keep one calibration (JSON) across runs and builds.
//
// The data is the OCR test's (test/ocr-int8.test.ts): lines rendered by examples/ocr-lib.js. Output error is measured
// on the model's first output: rec's per-step class probabilities (mean |p_int8 - p_fp32| and the share of steps
// whose best class differs), cls's probabilities, det's probability map. Calibration runs int8rt's calibrate() with
// its defaults (ranges for the tensors an int8 engine reads), two threads.
'use strict';

const fs = require('fs');
const { calibrate, Calibration, Engine, Tensor } = require('../dist/cjs/index.js');
const { loadModel } = require('../dist/cjs/onnx/load.js');
const { encodeModel } = require('../dist/cjs/onnx/write.js');
const ocr = require('../examples/ocr-lib.js');

function parseArgs(argv) {
  const o = { mode: 'agree', model: 'rec', method: 'entropy', lines: 60, calib: 40, seed: 1, top: 25, pin: [] };
  const rest = argv.slice(2);
  if (rest[0] && !rest[0].startsWith('--')) o.mode = rest.shift();
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i].replace(/^--/, '');
    const v = rest[i + 1];
    if (k === 'pin') o.pin = v.split(',').filter(Boolean);
    else if (['lines', 'calib', 'seed', 'top'].includes(k)) o[k] = Number(v);
    else o[k] = v;
  }
  return o;
}

async function inputsFor(model, specs) {
  if (model === 'det') {
    // Three lines to a 640x192 page.
    const pages = [];
    for (let i = 0; i + 2 < specs.length; i += 3) {
      const lines = specs.slice(i, i + 3).map((l, k) => ({ ...l, x: 16, y: 48 + k * 56 }));
      pages.push(await ocr.detInput(await ocr.decode(ocr.svgText(640, 192, lines))));
    }
    return pages;
  }
  const imgs = await Promise.all(specs.map((l) => ocr.renderLine(l.text, l)));
  if (model === 'rec') return Promise.all(imgs.map((img) => ocr.recInput(img)));
  const out = [];
  for (const img of imgs) out.push(await ocr.clsInput(img), await ocr.clsInput(ocr.rotate180(img)));
  return out;
}

const feedsOf = (engine, x) => ({ [engine.inputs[0].name]: new Tensor('float32', x.data, x.dims) });

async function runAll(engine, inputs, names) {
  const outs = [];
  for (const x of inputs) {
    const r = await engine.run(feedsOf(engine, x));
    const o = {};
    for (const n of names ?? [engine.outputs[0].name]) o[n] = { data: r[n].data, dims: r[n].dims };
    outs.push(o);
  }
  return outs;
}

function outputError(model, f, q) {
  let sum = 0;
  let n = 0;
  let steps = 0;
  let argmaxDiffer = 0;
  const C = f.dims[f.dims.length - 1];
  for (let i = 0; i < f.data.length; i++) {
    sum += Math.abs(f.data[i] - q.data[i]);
    n++;
  }
  if (model !== 'det') {
    for (let r = 0; r < f.data.length; r += C) {
      let bf = 0;
      let bq = 0;
      for (let c = 1; c < C; c++) {
        if (f.data[r + c] > f.data[r + bf]) bf = c;
        if (q.data[r + c] > q.data[r + bq]) bq = c;
      }
      steps++;
      if (bf !== bq) argmaxDiffer++;
    }
  }
  return { mad: sum / n, stepDiffer: steps ? argmaxDiffer / steps : 0 };
}

function agreement(model, outF, outQ, keys) {
  let same = 0;
  const diffs = [];
  for (let i = 0; i < outF.length; i++) {
    if (model === 'rec') {
      const a = ocr.ctcDecode(outF[i], keys).text;
      const b = ocr.ctcDecode(outQ[i], keys).text;
      if (a.trim() === b.trim()) same++;
      else diffs.push(`fp32 ${JSON.stringify(a)} int8 ${JSON.stringify(b)}`);
    } else if (model === 'cls') {
      const a = ocr.clsDecode(outF[i]);
      const b = ocr.clsDecode(outQ[i]);
      if (a.label === b.label) same++;
      else diffs.push(`#${i} fp32 ${a.label} (p ${a.score.toFixed(3)}) int8 ${b.label} (p ${b.score.toFixed(3)})`);
    } else {
      same += NaN;
    }
  }
  return { rate: same / outF.length, diffs };
}

function meanError(model, outF, outQ, name) {
  let mad = 0;
  let sd = 0;
  for (let i = 0; i < outF.length; i++) {
    const e = outputError(model, outF[i][name], outQ[i][name]);
    mad += e.mad;
    sd += e.stepDiffer;
  }
  return { mad: mad / outF.length, stepDiffer: sd / outF.length };
}

function floatRows(report) {
  const by = new Map();
  for (const r of report) {
    if (r.precision === 'int8' || r.fusedInto || r.boundary || r.op === 'Constant') continue;
    const k = `${r.op}: ${(r.reason ?? r.note ?? '').replace(/'[^']*'/g, "'…'")}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `    ${n} x ${k}`);
}

async function main() {
  const o = parseArgs(process.argv);
  const modelPath = ocr.MODELS[o.model];
  await ocr.checkFonts();
  const keys = ocr.loadKeys();
  const evalSpecs = ocr.textLines(o.lines, o.seed);
  const calibSpecs = ocr.textLines(o.calib, o.seed + 1);
  const evalInputs = await inputsFor(o.model, evalSpecs);
  const calibInputs = await inputsFor(o.model, calibSpecs);
  const probe = await Engine.create(modelPath, { intraOpThreads: 2 });
  const inName = probe.inputs[0].name;
  const outName = probe.outputs[0].name;
  probe.release();
  const t0 = Date.now();
  const calibFeeds = calibInputs.map((x) => ({ [inName]: new Tensor('float32', x.data, x.dims) }));
  const calibration = o['load-cal']
    ? await Calibration.fromJSON(fs.readFileSync(o['load-cal'], 'utf8'), modelPath)
    : await calibrate(modelPath, calibFeeds, {
        method: o.method,
        intraOpThreads: 2,
        ...(o.percentile ? { percentile: Number(o.percentile) } : {}),
      });
  if (o['save-cal']) fs.writeFileSync(o['save-cal'], JSON.stringify(calibration.toJSON()));
  console.log(`${o.model}: ${evalInputs.length} inputs, calibrated '${o.method}' on ${calibInputs.length} (${Date.now() - t0} ms)`);
  if (o.alt) {
    // --alt METHOD:name,name,...: those tensors' ranges from another method (all tensors with 'all').
    const [altMethod, list] = o.alt.split(':');
    const alt = await calibrate(modelPath, calibFeeds, { method: altMethod, intraOpThreads: 2 });
    const names = list === 'all' ? [...alt.ranges.keys()] : list.split(',');
    for (const n of names) {
      if (!alt.ranges.has(n)) throw new Error(`no tensor '${n}'`);
      console.log(`  ${n}: ${o.method} ${calibration.ranges.get(n)?.toPrecision(4)} -> ${altMethod} ${alt.ranges.get(n).toPrecision(4)}`);
      calibration.ranges.set(n, alt.ranges.get(n));
    }
  }
  const nodePrecision = Object.fromEntries(o.pin.map((n) => [n, 'fp32']));

  if (o.mode === 'agree') {
    const fp32 = await Engine.create(modelPath, { intraOpThreads: 2 });
    const precision = o.precision ?? 'int8';
    const int8 = await Engine.create(modelPath, {
      intraOpThreads: 2,
      precision,
      ...(precision === 'int8' ? { calibration, nodePrecision } : {}),
    });
    const outF = (await runAll(fp32, evalInputs)).map((r) => r[outName]);
    const outQ = (await runAll(int8, evalInputs)).map((r) => r[outName]);
    const macs = int8.macs();
    const e = meanError(o.model, outF.map((x) => ({ [outName]: x })), outQ.map((x) => ({ [outName]: x })), outName);
    if (o.model !== 'det') {
      const a = agreement(o.model, outF, outQ, keys);
      console.log(`  agreement ${(100 * a.rate).toFixed(2)}% (${outF.length - a.diffs.length}/${outF.length})`);
      if (o.model === 'rec') {
        const tf = outF.map((x) => ocr.ctcDecode(x, keys).text.trim());
        const tq = outQ.map((x) => ocr.ctcDecode(x, keys).text.trim());
        const right = (t, i) => t === evalSpecs[i].text;
        const rf = tf.filter(right).length;
        const rq = tq.filter(right).length;
        const both = tf.filter((t, i) => right(t, i) && t === tq[i]).length;
        console.log(`  reads the rendered text: fp32 ${rf}, int8 ${rq} of ${tf.length}; of fp32's right reads, int8 agrees on ${both}/${rf}`);
      }
      for (const d of a.diffs.slice(0, o.top)) console.log(`    ${d}`);
    }
    if (o.model === 'cls') {
      const d = outF.map((f, i) => ({ i, pf: f.data[0], d: Math.abs(f.data[0] - outQ[i].data[0]) })).sort((a, b) => b.d - a.d);
      console.log(`  largest |dp|: ${d.slice(0, 12).map((x) => `#${x.i} ${x.d.toFixed(3)} (p0 ${x.pf.toFixed(2)})`).join(', ')}`);
      // d is sorted by decreasing |dp|: the value past a share f of the inputs is the (1 - f) quantile.
      const q = (f) => d[Math.floor(f * (d.length - 1))].d.toExponential(2);
      console.log(`  |dp| quantiles: 50% ${q(0.5)}, 90% ${q(0.1)}, 99% ${q(0.01)}`);
    }
    console.log(`  output: mean |int8 - fp32| ${e.mad.toExponential(3)}, steps with another best class ${(100 * e.stepDiffer).toFixed(3)}%`);
    console.log(`  MACs in int8: ${((100 * macs.int8) / macs.total).toFixed(2)}% of ${(macs.total / 1e6).toFixed(1)} M (last input)`);
    console.log('  not int8:');
    for (const l of floatRows(int8.report())) console.log(l);
    fp32.release();
    int8.release();
    return;
  }

  if (o.mode === 'tensors') {
    const desc = await loadModel(modelPath);
    const producers = new Map();
    for (const n of desc.nodes) for (const out of n.outputs) producers.set(out, n);
    const inits = new Set(desc.initializers.map((t) => t.name));
    const watched = [];
    for (const n of desc.nodes) {
      if (!['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
      for (const x of n.opType === 'MatMul' ? n.inputs.slice(0, 2) : n.inputs.slice(0, 1))
        if (!inits.has(x) && producers.has(x) && producers.get(x).opType !== 'Constant' && !watched.includes(x))
          watched.push(x);
    }
    if (o.watch) for (const x of o.watch.split(',')) if (!watched.includes(x)) watched.push(x);
    const outputs = [...desc.outputs];
    for (const x of watched) outputs.push({ name: x, dtype: 1, dims: null });
    const bytes = encodeModel({ ...desc, outputs });
    const ranges = { ranges: calibration.ranges };
    const fp32 = await Engine.create(bytes, { intraOpThreads: 2 });
    const int8 = await Engine.create(bytes, { intraOpThreads: 2, precision: 'int8', calibration: ranges, nodePrecision });
    const names = [outName, ...watched];
    const outF = await runAll(fp32, evalInputs, names);
    const outQ = await runAll(int8, evalInputs, names);
    const rows = names.map((name, order) => {
      let num = 0;
      let den = 0;
      let bias = 0;
      const chSum = new Map();  // per channel: sum of (q - f), count
      let chN = 0;
      let clipped = 0;
      let count = 0;
      let maxAbs = 0;
      const amax = calibration.ranges.get(name);
      for (let i = 0; i < outF.length; i++) {
        const f = outF[i][name].data;
        const q = outQ[i][name].data;
        const dims = outF[i][name].dims;
        const C = dims.length === 4 ? dims[1] : dims[dims.length - 1];
        const inner = dims.length === 4 ? dims[2] * dims[3] : 1;
        for (let k = 0; k < f.length; k++) {
          const c = dims.length === 4 ? Math.floor(k / inner) % C : k % C;
          chSum.set(c, (chSum.get(c) ?? 0) + (q[k] - f[k]));
        }
        chN += f.length / C;
        for (let k = 0; k < f.length; k++) {
          num += (f[k] - q[k]) ** 2;
          bias += q[k] - f[k];
          den += f[k] ** 2;
          if (amax !== undefined && Math.abs(f[k]) > amax) clipped++;
          maxAbs = Math.max(maxAbs, Math.abs(f[k]));
        }
        count += f.length;
      }
      const consumer = desc.nodes.find((n) => n.inputs.includes(name));
      let dc = 0;
      for (const v of chSum.values()) dc += (v / chN) ** 2;
      dc *= chN;  // the squared error the per-channel means alone would make
      return { name, order, rel: Math.sqrt(num / den), dcShare: dc / num, bias: bias / count / Math.sqrt(den / count), amax, maxAbs, clipped: clipped / count, consumer };
    });
    console.log(`  relative RMS error of int8 against fp32, in graph order (worst ${o.top} marked *):`);
    const worst = new Set([...rows].sort((a, b) => b.rel - a.rel).slice(0, o.top).map((r) => r.name));
    for (const r of rows)
      console.log(
        `  ${worst.has(r.name) ? '*' : ' '} ${r.rel.toFixed(4)} (dc ${(100 * r.dcShare).toFixed(0).padStart(3)}%)  ${r.name.padEnd(34)} amax ${r.amax?.toPrecision(4) ?? 'n/a'} ` +
          `max ${r.maxAbs.toPrecision(4)} clipped ${(100 * r.clipped).toFixed(3)}%  -> ${r.consumer ? `${r.consumer.opType} ${r.consumer.name}` : 'output'}`,
      );
    fp32.release();
    int8.release();
    return;
  }

  if (o.mode === 'pin') {
    const desc = await loadModel(modelPath);
    const fp32 = await Engine.create(modelPath, { intraOpThreads: 2 });
    const outF = await runAll(fp32, evalInputs);
    fp32.release();
    const measure = async (pins) => {
      const precision = o.precision ?? 'int8';
      const e8 = await Engine.create(modelPath, {
        intraOpThreads: 2,
        precision,
        ...(precision === 'int8' ? { calibration } : {}),
        nodePrecision: Object.fromEntries(pins.map((n) => [n, 'fp32'])),
      });
      const outQ = await runAll(e8, evalInputs);
      const macs = e8.macs();
      e8.release();
      const r = meanError(o.model, outF, outQ, outName);
      if (o.model !== 'det') r.agree = agreement(o.model, outF.map((x) => x[outName]), outQ.map((x) => x[outName]), keys).rate;
      r.int8Share = macs.int8 / macs.total;
      return r;
    };
    const base = await measure(o.pin);
    const fmt = (r) =>
      `mad ${r.mad.toExponential(3)} steps ${(100 * r.stepDiffer).toFixed(3)}%` +
      (r.agree !== undefined ? ` agree ${(100 * r.agree).toFixed(1)}%` : '') + ` int8 MACs ${(100 * r.int8Share).toFixed(1)}%`;
    console.log(`  all int8: ${fmt(base)}`);
    const rows = [];
    for (const n of desc.nodes) {
      if (!['Conv', 'Gemm', 'MatMul'].includes(n.opType) || o.pin.includes(n.name)) continue;
      const r = await measure([...o.pin, n.name]);
      rows.push({ n, r });
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    rows.sort((a, b) => a.r.mad - b.r.mad);
    for (const { n, r } of rows.slice(0, o.top)) console.log(`  ${n.name.padEnd(22)} ${fmt(r)}`);
    return;
  }
  throw new Error(`unknown mode '${o.mode}'`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
