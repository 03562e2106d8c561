#!/usr/bin/env node
// `npm test`: the C++ kernel tests (scripts/test-native.js), then the vitest suites, then one closing line with the
// totals: `int8rt: N passed, N failed, N skipped` (C++ and vitest together). Suites that need ../shared say when
// they skip; skipped C++ tests are listed with GoogleTest's reason.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;

const nat = spawnSync(process.execPath, [path.join(__dirname, 'test-native.js')], { cwd: root, encoding: 'utf8' });
process.stdout.write(nat.stdout || '');
process.stderr.write(nat.stderr || '');
const nm = /native: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?/.exec(nat.stdout || '');
if (nm) {
  passed += Number(nm[1]);
  failed += Number(nm[2]);
  skipped += Number(nm[3] ?? 0);
} else if (nat.status !== 0) {
  failed += 1;
}

const report = path.join(os.tmpdir(), `int8rt-vitest-${process.pid}.json`);
const vitest = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const args = [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const v = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
try {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  // A file that fails to load counts as a failed suite with no failed test in it.
  failed += r.numFailedTests || r.numFailedTestSuites || 0;
  skipped += r.numPendingTests + (r.numTodoTests || 0);
  fs.unlinkSync(report);
} catch {
  failed += 1;
}
if (v.status !== 0 && failed === 0) failed = 1;
console.log(`int8rt: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
