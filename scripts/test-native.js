#!/usr/bin/env node
// Builds the native core with CMake and runs its C++ kernel and operator tests (GoogleTest, through ctest).
// Prints `native: N passed, N failed, N skipped` (each skipped group with GoogleTest's reason: the CUDA suites without a
// GPU, the aarch64 suites on x86) and exits non-zero on a failure. Without GoogleTest installed
// (Debian: libgtest-dev) it says so and skips, unless INT8RT_REQUIRE_NATIVE_TESTS=1 or CI=true.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const build = path.join(root, 'build-cmake');
const strict = process.env.CI === 'true' || process.env.INT8RT_REQUIRE_NATIVE_TESTS === '1';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });
  return { status: r.status ?? 1, out: `${r.stdout || ''}${r.stderr || ''}` };
}

const generator = run('ninja', ['--version']).status === 0 ? ['-G', 'Ninja'] : [];
const conf = run('cmake', ['-S', '.', '-B', build, ...generator, '-DCMAKE_BUILD_TYPE=Release']);
if (conf.status !== 0) {
  if (!strict && /GTest|GoogleTest/.test(conf.out)) {
    console.log('native: skipped the C++ kernel tests: GoogleTest is not installed (apt-get install libgtest-dev)');
    process.exit(0);
  }
  process.stdout.write(conf.out);
  console.log('native: 0 passed, 1 failed (cmake configure)');
  process.exit(1);
}
const jobs = String(Math.max(1, require('os').availableParallelism?.() ?? 2));
const b = run('cmake', ['--build', build, '-j', jobs], { stdio: ['ignore', 'pipe', 'pipe'] });
if (b.status !== 0) {
  process.stdout.write(b.out);
  console.log('native: 0 passed, 1 failed (build)');
  process.exit(1);
}
const junit = path.join(build, 'ctest-junit.xml');
const t = run('ctest', ['--test-dir', build, '--output-on-failure', '-j', jobs, '--output-junit', junit]);
const m = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(t.out);
const failedLines = t.out.split('\n').filter((l) => /\*\*\*Failed|Exception|\(Failed\)/.test(l));
if (failedLines.length) console.log(failedLines.join('\n'));
if (!m) {
  process.stdout.write(t.out);
  console.log('native: 0 passed, 1 failed (ctest)');
  process.exit(1);
}
const total = Number(m[3]);
const failed = Number(m[2]);
if (failed) process.stdout.write(t.out.slice(-4000));
// ctest counts a GTEST_SKIP()ped test as not failed; the JUnit report marks it status="notrun", and its output holds
// GoogleTest's "<file>:<line>: Skipped" line followed by the reason.
const reasons = new Map();  // reason -> suite -> count
let skipped = 0;
try {
  const xml = fs.readFileSync(junit, 'utf8');
  for (const tc of xml.split('<testcase ').slice(1)) {
    if (!/status="notrun"/.test(tc.slice(0, tc.indexOf('>')))) continue;
    skipped++;
    const name = /name="([^"]*)"/.exec(tc)?.[1] ?? '?';
    const why = /: Skipped\r?\n([^\n]*)/.exec(tc)?.[1]?.trim() || 'no reason given';
    const suites = reasons.get(why) ?? new Map();
    const suite = name.split('.')[0];
    suites.set(suite, (suites.get(suite) ?? 0) + 1);
    reasons.set(why, suites);
  }
} catch {
  // no JUnit report: nothing known to be skipped
}
console.log(`native: ${total - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
for (const [why, suites] of reasons) {
  const list = [...suites].map(([s, n]) => `${s} x${n}`).join(', ');
  console.log(`  skipped: ${list}: ${why.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&')}`);
}
fs.writeFileSync(path.join(build, 'summary.json'), JSON.stringify({ passed: total - failed - skipped, failed, skipped }));
process.exit(failed ? 1 : 0);
