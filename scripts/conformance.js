#!/usr/bin/env node
// ONNX backend conformance: runs the ONNX project's operator tests (../shared/onnx-backend/node, one folder per test
// with model.onnx and test_data_set_N/{input,output}_N.pb) through int8rt's public API and compares the outputs.
//
//   node scripts/conformance.js [--filter <regex>] [--verbose] [--json <file>] [--threads <n>]
//                               [--timeout <seconds>] [--no-isolate] [--dir <node tests folder>]
//
// Each test ends as:
//   passed       every output matches (floats: |got - expected| <= 1e-7 + 1e-3 * |expected|, NaN equals NaN;
//                integers and bools exactly; dtype and shape equal)
//   unsupported  Engine.create refused the model with ERR_INT8RT_UNSUPPORTED_OP, ERR_INT8RT_UNSUPPORTED,
//                ERR_INT8RT_DTYPE or ERR_INT8RT_OPSET, or run() refused an input with ERR_INT8RT_UNSUPPORTED (a feature
//                that depends on an input's value, e.g. Dropout in training mode with a ratio above 0)
//   failed       anything else: a wrong result, an error at run time, any other error at create, a crash or a hang
// Tests run in a child process so that a crash in native code fails that one test and the run goes on
// (--no-isolate runs them in this process). Exit code 1 when any test failed.
//
// The data folder comes from INT8RT_ONNX_BACKEND_DIR (or --dir), default onnx-backend/node in INT8RT_SHARED_DIR, which
// defaults to ../shared beside the repository.
// Needs the built package: npm run build:native && npm run build:ts.
'use strict';

const fs = require('fs');
const path = require('path');
const { fork } = require('child_process');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist', 'cjs');
const UNSUPPORTED_CODES = new Set([
  'ERR_INT8RT_UNSUPPORTED_OP',
  'ERR_INT8RT_UNSUPPORTED',
  'ERR_INT8RT_DTYPE',
  'ERR_INT8RT_OPSET',
]);
const RTOL = 1e-3;
const ATOL = 1e-7;
const DEFAULT_TIMEOUT_S = 120;
const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16']);

/** $INT8RT_ONNX_BACKEND_DIR, else onnx-backend/node in $INT8RT_SHARED_DIR, else in ../shared beside the repository. */
function defaultDir() {
  if (process.env.INT8RT_ONNX_BACKEND_DIR) return path.resolve(process.env.INT8RT_ONNX_BACKEND_DIR);
  const shared = process.env.INT8RT_SHARED_DIR ? path.resolve(process.env.INT8RT_SHARED_DIR) : path.join(ROOT, '..', 'shared');
  return path.join(shared, 'onnx-backend', 'node');
}

/** Test folder names under `dir` (those with a model.onnx), sorted, optionally filtered by a regex. */
function listTests(dir, filter) {
  const re = filter === undefined || filter === null || filter === '' ? null : new RegExp(filter);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'model.onnx')))
    .map((e) => e.name)
    .filter((n) => !re || re.test(n))
    .sort();
}

function requireDist() {
  const index = path.join(DIST, 'index.js');
  if (!fs.existsSync(index)) {
    throw new Error(`conformance: ${path.relative(ROOT, index)} is missing; build the package first (npm run build:ts)`);
  }
  return {
    api: require(index),
    load: require(path.join(DIST, 'onnx', 'load.js')),
    tensorProto: require(path.join(DIST, 'onnx', 'tensor-proto.js')),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One test

/** Data files of a data set, `prefix_N.pb`, in N order. */
function dataFiles(setDir, prefix) {
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return fs
    .readdirSync(setDir)
    .map((f) => [f, re.exec(f)])
    .filter(([, m]) => m)
    .sort((a, b) => Number(a[1][1]) - Number(b[1][1]))
    .map(([f]) => path.join(setDir, f));
}

function decodeQuietly(load, modelPath) {
  try {
    return load.decodeModel(fs.readFileSync(modelPath), { baseDir: path.dirname(modelPath) });
  } catch {
    return null;
  }
}

/** The operators a model uses, in order of first use: "Conv", "Constant+ReduceMax+Sub". */
function opGroup(desc) {
  const ops = [];
  for (const n of desc.nodes) {
    const op = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    if (!ops.includes(op)) ops.push(op);
  }
  return ops.join('+') || '(no nodes)';
}

/**
 * What the model says about itself: its operator group and any graph input/output that is not a tensor. An
 * expanded test (the operator replaced by its function body) is grouped under the operator of its sibling test.
 */
function describeModel(load, dir, name) {
  const desc = decodeQuietly(load, path.join(dir, name, 'model.onnx'));
  if (!desc) return { group: '?', nonTensor: [] };
  let group = opGroup(desc);
  const m = /^(.*)_expanded(_ver\d+)?$/.exec(name);
  if (m) {
    const sibling = decodeQuietly(load, path.join(dir, m[1], 'model.onnx'));
    group = `${sibling ? opGroup(sibling) : m[1].replace(/^test_/, '')} (expanded)`;
  }
  const nonTensor = [...desc.inputs, ...desc.outputs].filter((v) => v.dtype === 0).map((v) => v.name);
  return { group, nonTensor };
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function indexToCoords(i, dims) {
  const c = new Array(dims.length).fill(0);
  for (let d = dims.length - 1; d >= 0; d--) {
    if (dims[d] > 0) {
      c[d] = i % dims[d];
      i = Math.floor(i / dims[d]);
    }
  }
  return `[${c.join(',')}]`;
}

function fmt(v) {
  return typeof v === 'bigint' ? `${v}n` : String(v);
}

/** Compares one output; returns null when it matches, else the reason. */
function compareTensor(name, got, expected) {
  if (got.dtype !== expected.dtype) return `output '${name}': dtype ${got.dtype}, expected ${expected.dtype}`;
  const gd = Array.from(got.dims);
  if (gd.length !== expected.dims.length || gd.some((d, i) => d !== expected.dims[i])) {
    return `output '${name}': shape [${gd.join(',')}], expected [${expected.dims.join(',')}]`;
  }
  const a = got.data;
  const b = expected.data;
  if (a.length !== b.length) return `output '${name}': ${a.length} elements, expected ${b.length}`;
  const isFloat = FLOAT_DTYPES.has(expected.dtype);
  const toNum = expected.dtype === 'float16' ? halfToFloat : (x) => x;
  let bad = 0;
  let first = -1;
  let maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    let ok;
    if (isFloat) {
      const x = toNum(a[i]);
      const y = toNum(b[i]);
      if (x === y || (Number.isNaN(x) && Number.isNaN(y))) ok = true;
      else if (!Number.isFinite(x) || !Number.isFinite(y)) {
        ok = false; // an infinity or NaN only matches itself (the tolerance would swallow it)
        maxDiff = Infinity;
      } else {
        const diff = Math.abs(x - y);
        ok = diff <= ATOL + RTOL * Math.abs(y);
        if (!(diff <= maxDiff)) maxDiff = diff; // NaN diffs count as the largest
      }
    } else {
      ok = a[i] === b[i];
    }
    if (!ok) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad === 0) return null;
  const at = indexToCoords(first, expected.dims);
  const x = isFloat ? toNum(a[first]) : a[first];
  const y = isFloat ? toNum(b[first]) : b[first];
  return (
    `output '${name}': ${bad} of ${b.length} values differ, first at ${at}: got ${fmt(x)}, expected ${fmt(y)}` +
    (isFloat ? `; max abs diff ${maxDiff}` : '')
  );
}

/** Maps the input files of a data set to the engine's inputs: by TensorProto name when all match, else by position. */
function matchInputs(engineInputs, descs) {
  const names = engineInputs.map((i) => i.name);
  if (descs.length > 0 && descs.every((d) => d.name && names.includes(d.name))) return descs.map((d) => d.name);
  if (descs.length > names.length) {
    throw new Error(`the test has ${descs.length} inputs but the engine takes ${names.length} (${names.join(', ')})`);
  }
  // Inputs past the last file are optional inputs the test leaves out.
  return descs.map((_, i) => names[i]);
}

function errorText(e) {
  if (e && typeof e === 'object' && 'message' in e) return e.code ? `${e.code}: ${e.message}` : String(e.message);
  return String(e);
}

async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one test folder; never throws. */
async function runTest(dist, dir, name, opts = {}) {
  const { Engine, Tensor } = dist.api;
  const { decodeTensorProto, tensorDescToTyped } = dist.tensorProto;
  const testDir = path.join(dir, name);
  const modelPath = path.join(testDir, 'model.onnx');
  const timeoutMs = (opts.timeoutS ?? DEFAULT_TIMEOUT_S) * 1000;
  const t0 = performance.now();
  const { group, nonTensor } = describeModel(dist.load, dir, name);
  const done = (status, reason) => ({ name, group, status, reason, ms: Math.round(performance.now() - t0) });

  let engine;
  try {
    const options = opts.threads ? { intraOpThreads: opts.threads } : {};
    engine = await withTimeout(Engine.create(modelPath, options), timeoutMs, 'Engine.create');
  } catch (e) {
    if (e && UNSUPPORTED_CODES.has(e.code)) return done('unsupported', errorText(e));
    return done('failed', `Engine.create: ${errorText(e)}`);
  }
  try {
    if (nonTensor.length > 0) {
      return done(
        'failed',
        `the engine accepted a model whose graph inputs/outputs include non-tensor values (${nonTensor.join(', ')}); ` +
          'it must refuse it as unsupported',
      );
    }
    const sets = fs
      .readdirSync(testDir)
      .filter((f) => /^test_data_set_\d+$/.test(f))
      .sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
    if (sets.length === 0) return done('failed', 'the test has no test_data_set_N folder');
    for (const set of sets) {
      const setDir = path.join(testDir, set);
      const where = sets.length > 1 ? `${set}: ` : '';
      const inputDescs = dataFiles(setDir, 'input').map((f) => decodeTensorProto(fs.readFileSync(f)));
      const outputDescs = dataFiles(setDir, 'output').map((f) => decodeTensorProto(fs.readFileSync(f)));
      const feeds = {};
      let inputNames;
      try {
        inputNames = matchInputs(engine.inputs, inputDescs);
      } catch (e) {
        return done('failed', where + errorText(e));
      }
      for (let i = 0; i < inputDescs.length; i++) {
        let typed;
        try {
          typed = tensorDescToTyped(inputDescs[i]);
        } catch (e) {
          return done('failed', `${where}the engine accepted a model whose input '${inputNames[i]}' it cannot hold (${errorText(e)}); it must refuse it as unsupported`);
        }
        feeds[inputNames[i]] = new Tensor(typed.dtype, typed.data, typed.dims);
      }
      let results;
      try {
        results = await withTimeout(engine.run(feeds), timeoutMs, 'run');
      } catch (e) {
        if (e && e.code === 'ERR_INT8RT_UNSUPPORTED') return done('unsupported', `${where}run: ${errorText(e)}`);
        return done('failed', `${where}run: ${errorText(e)}`);
      }
      const outNames = engine.outputs.map((o) => o.name);
      if (outputDescs.length !== outNames.length) {
        return done('failed', `${where}the engine has ${outNames.length} outputs, the test expects ${outputDescs.length}`);
      }
      const byName = outputDescs.every((d) => d.name && outNames.includes(d.name));
      for (let i = 0; i < outputDescs.length; i++) {
        const outName = byName ? outputDescs[i].name : outNames[i];
        const got = results[outName];
        if (!got) return done('failed', `${where}run() returned no output '${outName}'`);
        let expected;
        try {
          expected = tensorDescToTyped(outputDescs[i]);
        } catch (e) {
          return done('failed', `${where}output '${outName}' has a type int8rt cannot hold (${errorText(e)}); the engine must refuse the model`);
        }
        const reason = compareTensor(outName, got, expected);
        if (reason) return done('failed', where + reason);
      }
    }
    return done('passed');
  } catch (e) {
    return done('failed', `runner: ${errorText(e)}`);
  } finally {
    try {
      engine.release();
    } catch {
      // a release failure must not hide the test's own result
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Isolation: tests run in a child process; a crash or a hang fails the test at hand and a new child takes over.

const CHILD_FLAG = '--conformance-child';

function childMain() {
  const send = (msg) => new Promise((resolve) => process.send(msg, resolve));
  let dist;
  try {
    dist = requireDist();
    dist.api.buildInfo(); // loads the addon now, so that a missing build is one clear error, not one per test
  } catch (e) {
    send({ type: 'fatal', message: errorText(e) }).then(() => process.exit(1));
    return;
  }
  process.on('message', async (msg) => {
    if (msg.type !== 'run') return;
    for (const name of msg.names) {
      await send({ type: 'start', name });
      const result = await runTest(dist, msg.dir, name, msg.opts);
      await send({ type: 'result', result });
    }
    await send({ type: 'done' });
    process.exit(0);
  });
  send({ type: 'ready' });
}

/** The group of a test whose child died, from the pure-JS model loader (the addon is never loaded here). */
function parentGroup(dir, name) {
  try {
    return describeModel(require(path.join(DIST, 'onnx', 'load.js')), dir, name).group;
  } catch {
    return '?';
  }
}

function runIsolated(dir, names, opts, onResult) {
  const timeoutMs = (opts.timeoutS ?? DEFAULT_TIMEOUT_S) * 1000;
  return new Promise((resolve, reject) => {
    const results = [];
    let next = 0; // index of the first test without a result
    let stopped = false; // set on a fatal error: no more children

    const spawn = () => {
      if (next >= names.length) {
        resolve(results);
        return;
      }
      const child = fork(__filename, [CHILD_FLAG], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      let tail = ''; // recent output of the child, quoted when it dies
      const keep = (chunk) => {
        tail = (tail + chunk.toString()).slice(-2000);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let current = null;
      let timer = null;
      let finished = false;
      let ready = false;
      let hung = 0; // seconds without progress after which the child was killed
      const arm = () => {
        clearTimeout(timer);
        // The child enforces the per-test limit itself; this catches a child stuck where no promise can settle.
        const limitMs = 2 * timeoutMs + 10_000;
        timer = setTimeout(() => {
          hung = limitMs / 1000;
          child.kill('SIGKILL');
        }, limitMs);
      };
      const record = (result) => {
        results.push(result);
        next++;
        if (onResult) onResult(result);
      };
      child.on('message', (msg) => {
        if (msg.type === 'fatal') {
          stopped = true;
          clearTimeout(timer);
          reject(new Error(`conformance: cannot load int8rt: ${msg.message}`));
        } else if (msg.type === 'ready') {
          ready = true;
          arm();
          child.send({ type: 'run', dir, names: names.slice(next), opts });
        } else if (msg.type === 'start') {
          current = msg.name;
          tail = '';
          arm();
        } else if (msg.type === 'result') {
          current = null;
          record(msg.result);
        } else if (msg.type === 'done') {
          finished = true;
        }
      });
      // Settle once the child has exited and its IPC channel is drained ('disconnect' comes after the last message),
      // so that results sent just before an exit are never mistaken for a crash.
      let exit = null;
      let drained = false;
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        if (drained) settle();
      });
      child.on('disconnect', () => {
        drained = true;
        if (exit) settle();
      });
      const settle = () => {
        const { code, signal } = exit;
        clearTimeout(timer);
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        const last = tail.trim().split('\n').slice(-3).join(' | ');
        if (stopped) return;
        if (finished) {
          if (next < names.length) spawn();
          else resolve(results);
          return;
        }
        if (!ready) {
          reject(new Error(`conformance: the test process died while loading int8rt (${how})${last ? `: ${last}` : ''}`));
          return;
        }
        const name = current ?? names[next];
        const group = parentGroup(dir, name);
        const what = hung ? `hung (no progress for ${hung} s, killed)` : `crashed (${how})`;
        record({ name, group, status: 'failed', reason: `${what}${last ? `: ${last}` : ''}`, ms: 0 });
        spawn();
      };
    };
    spawn();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Whole suite

/**
 * Runs the conformance tests. Options: filter (regex on test folder names), dir (the node/ folder), threads
 * (intraOpThreads), timeoutS (per create/run), isolate (default true: run in a child process), onResult (called
 * after each test). Resolves to { dir, results: [{ name, group, status, reason, ms }], counts }.
 */
async function runConformance(options = {}) {
  const dir = options.dir || defaultDir();
  if (!fs.existsSync(dir)) throw new Error(`conformance: test data folder ${dir} not found (set INT8RT_ONNX_BACKEND_DIR)`);
  const names = listTests(dir, options.filter);
  const opts = { threads: options.threads, timeoutS: options.timeoutS };
  let results;
  if (options.isolate === false) {
    const dist = requireDist();
    results = [];
    for (const name of names) {
      const r = await runTest(dist, dir, name, opts);
      results.push(r);
      if (options.onResult) options.onResult(r);
    }
  } else {
    if (!fs.existsSync(path.join(DIST, 'index.js'))) requireDist(); // the clear error, before any child starts
    results = await runIsolated(dir, names, opts, options.onResult);
  }
  const counts = { passed: 0, failed: 0, unsupported: 0 };
  for (const r of results) counts[r.status]++;
  return { dir, results, counts };
}

/** Per-group counts, for the --verbose summary. */
function groupSummary(results) {
  const groups = new Map();
  for (const r of results) {
    let g = groups.get(r.group);
    if (!g) groups.set(r.group, (g = { passed: 0, failed: 0, unsupported: 0 }));
    g[r.status]++;
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

function parseArgs(argv) {
  const opts = { verbose: false, isolate: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--filter') opts.filter = value();
    else if (a === '--json') opts.json = value();
    else if (a === '--threads') opts.threads = Number(value());
    else if (a === '--timeout') opts.timeoutS = Number(value());
    else if (a === '--dir') opts.dir = value();
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--no-isolate') opts.isolate = false;
    else if (a === '--help' || a === '-h') opts.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`conformance: ${e.message} (see --help)`);
    process.exit(2);
  }
  if (opts.help) {
    const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(1);
    const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
    console.log(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const onResult = (r) => {
    if (r.status === 'failed') console.log(`FAIL ${r.name}: ${r.reason}`);
  };
  const { results, counts } = await runConformance({ ...opts, onResult });
  if (opts.verbose) {
    const rows = groupSummary(results);
    const width = Math.max(5, ...rows.map(([g]) => g.length));
    console.log(`\n${'group'.padEnd(width)}  passed  failed  unsupported`);
    for (const [g, c] of rows) {
      console.log(`${g.padEnd(width)}  ${String(c.passed).padStart(6)}  ${String(c.failed).padStart(6)}  ${String(c.unsupported).padStart(11)}`);
    }
    console.log('');
  }
  if (opts.json) {
    fs.writeFileSync(opts.json, JSON.stringify({ dir: opts.dir || defaultDir(), counts, results }, null, 2));
  }
  console.log(`conformance: ${counts.passed} passed, ${counts.failed} failed, ${counts.unsupported} unsupported`);
  process.exitCode = counts.failed > 0 ? 1 : 0;
}

module.exports = { runConformance, listTests, compareTensor, groupSummary, defaultDir };

if (require.main === module) {
  if (process.argv[2] === CHILD_FLAG) childMain();
  else
    main().catch((e) => {
      console.error(e.message);
      process.exit(2);
    });
}
